"""make_variants.py - the FITS variants of tests/cli/test_fits_variants.sh, as
archives and astropy write them (run with /usr/bin/python3 from this folder).

variant_rice.fits.fz  RICE_1 tile-compressed float image written by astropy
                      (ZNAME3 = 'NOISEBIT', ZVAL3 = 16.0); a ramp 1..192
variant_mef.fits      empty primary, HDU 1 'SCI' = 1..48, HDU 2 'ERR' = 1001..1048 (int16)
variant_plain.fits.gz gzip-ed single-HDU float32 image, values 1..48
"""
import gzip
import io

import numpy as np
from astropy.io import fits

ramp = np.arange(1, 193, dtype=np.float32).reshape(12, 16)
fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(ramp, compression_type="RICE_1")]).writeto(
    "variant_rice.fits.fz", overwrite=True)

a = np.arange(1, 49, dtype=np.int16).reshape(6, 8)
fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(a, name="SCI"),
              fits.ImageHDU(a + 1000, name="ERR")]).writeto("variant_mef.fits", overwrite=True)

raw = io.BytesIO()
fits.PrimaryHDU(a.astype(np.float32)).writeto(raw)
with gzip.GzipFile("variant_plain.fits.gz", "wb", mtime=0) as g:
    g.write(raw.getvalue())
