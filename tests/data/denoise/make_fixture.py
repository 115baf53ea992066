#!/usr/bin/env python3
"""make_fixture.py - writes tests/data/denoise/decals_nan.fits for tests/cli/test_denoise.sh.

A copy of tests/data/fits/decals_crop.fits (a 128x128 crop of a real DECaLS g/r/z float32 cube with
WCS, see data/CREDITS.md) with 13 NaN pixels (a 3x3 block at x=20..22, y=30..32 counted from the
top row, and 4 single pixels) in all three planes, and one hot pixel (+5 in plane 1, about 300 noise
sigmas, at x=100, y=15 from the top) so the CLI test has a known detection. Needs numpy + astropy.
"""
import os
import numpy as np
from astropy.io import fits

HERE = os.path.dirname(os.path.abspath(__file__))
src = os.path.join(HERE, "..", "fits", "decals_crop.fits")
with fits.open(src) as hdul:
    hdr = hdul[0].header.copy()
    data = hdul[0].data.astype(np.float32).copy()   # (3, 128, 128), FITS row 0 = bottom
h = data.shape[1]


def top(y):  # FITS row index of the row y counted from the top (astroenh's convention)
    return h - 1 - y


for y in range(30, 33):
    data[:, top(y), 20:23] = np.nan
for (x, y) in ((5, 5), (64, 100), (127, 64), (90, 127)):
    data[:, top(y), x] = np.nan
data[1, top(15), 100] += 5.0
hdr["HISTORY"] = "astroenh test fixture: 13 NaN pixels and one hot pixel added"
fits.PrimaryHDU(data, hdr).writeto(os.path.join(HERE, "decals_nan.fits"), overwrite=True)
