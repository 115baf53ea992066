#!/usr/bin/env python3
"""Creates the FITS fixtures of tests/test_fits.c from the real frames in
../shared/data/fits (run once by hand; tests never need astropy).

Crops keep every header card (astropy rewrites NAXISn, the shifted CRPIXn
and BZERO/BSCALE) and the pixel type: uint16 frames are written back as
uint16 via BZERO = 32768.
Usage: /usr/bin/python3 tests/data/fits/make_fixtures.py [SHARED_FITS_DIR]
"""
import os
import sys

import numpy as np
from astropy.io import fits

SRC = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(__file__), '..', '..', '..', '..', 'shared', 'data', 'fits')
DST = os.path.dirname(os.path.abspath(__file__))


def crop(name, out, x0, y0, w, h, keep_ext=False):
    with fits.open(os.path.join(SRC, name)) as hl:
        prim = hl[0]
        data = prim.data[..., y0:y0 + h, x0:x0 + w].copy()  # numpy row 0 = FITS row 1 (bottom)
        hdr = prim.header.copy()
        for ax, off in ((1, x0), (2, y0)):
            key = 'CRPIX%d' % ax
            if key in hdr:
                hdr[key] = hdr[key] - off
            if 'CNPIX%d' % ax in hdr:  # DSS: plate position of the cutout's corner
                hdr['CNPIX%d' % ax] = hdr['CNPIX%d' % ax] + off
        hdus = [fits.PrimaryHDU(data=data, header=hdr)]
        if keep_ext:
            hdus += [h.copy() for h in hl[1:]]
        fits.HDUList(hdus).writeto(os.path.join(DST, out), overwrite=True, output_verify='silentfix')


crop('horsehead_dss.fits', 'horsehead_crop.fits', 300, 320, 240, 220, keep_ext=True)
crop('m51_B_kpno.fits', 'm51_crop.fits', 180, 180, 160, 150)
crop('saao_a8280271.fits', 'saao_crop.fits', 150, 160, 200, 180)
crop('m13_blue_raw.fits', 'm13_crop.fits', 600, 400, 200, 150)
crop('decals_grz_a.fits', 'decals_crop.fits', 148, 148, 128, 128)

# the truncated DECaLS file, cut further so the fixture stays small (still a real prefix of it)
with open(os.path.join(SRC, 'decals_grz_incomplete.fits'), 'rb') as f:
    head = f.read(40320)
with open(os.path.join(DST, 'decals_truncated.fits'), 'wb') as f:
    f.write(head)

# tile-compressed (RICE) copy of the horsehead crop written by astropy, image in HDU 1 (0-based)
with fits.open(os.path.join(DST, 'horsehead_crop.fits')) as hl:
    comp = fits.CompImageHDU(data=hl[0].data, header=hl[0].header, compression_type='RICE_1')
    fits.HDUList([fits.PrimaryHDU(), comp]).writeto(os.path.join(DST, 'horsehead_crop_rice.fits.fz'),
                                                   overwrite=True)

# empty primary + two image extensions (SCI int16 from M51, ERR float32), for HDU selection
with fits.open(os.path.join(DST, 'm51_crop.fits')) as hl:
    sci = fits.ImageHDU(data=hl[0].data[:40, :48].copy(), name='SCI')
    err = fits.ImageHDU(data=np.sqrt(np.abs(hl[0].data[:24, :32].astype(np.float32))), name='ERR')
    fits.HDUList([fits.PrimaryHDU(), sci, err]).writeto(os.path.join(DST, 'm51_sci_err.fits'),
                                                        overwrite=True)
