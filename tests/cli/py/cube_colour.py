"""cube_colour.py - cubes for tests/cli/test_cube_colour.sh and the checks on
their PNG renders.

  cube_colour.py make DIR SAMPLE     writes DIR/<variant>.fits
  cube_colour.py order PNG           prints the colour channels at the blob,
      brightest first ("RGB" when red is the brightest)
  cube_colour.py redblue PNG         mean R / mean B over the brightest 10 %
  cube_colour.py diff PNG_A PNG_B X0 prints mean and max |A - B| of A's
      columns X0.. against all of B (B rendered from that part alone)
"""
import sys

import numpy as np

W = H = 16


def make(d, sample):
    from astropy.io import fits
    yy, xx = np.mgrid[0:H, 0:W]
    blob = np.exp(-((xx - 8) ** 2 + (yy - 8) ** 2) / 8.0)
    # planes in wavelength order g, r, z; the reddest band is the brightest
    cube = np.stack([1 * blob, 2 * blob, 4 * blob]).astype(np.float32) + 0.01
    def write(name, cards, data=cube):
        h = fits.Header()
        for k, v in cards:
            h[k] = v
        fits.PrimaryHDU(data, h).writeto(f"{d}/{name}.fits", overwrite=True)
    write("band0", [("BAND0", "g"), ("BAND1", "r"), ("BAND2", "z")])
    write("band1", [("BAND1", "g"), ("BAND2", "r"), ("BAND3", "z")])
    write("filter", [("FILTER1", "DECam g"), ("FILTER2", "DECam r"), ("FILTER3", "DECam z")])
    write("bands", [("BANDS", "grz")])
    write("hst", [("FILTER1", "F475W"), ("FILTER2", "F606W"), ("FILTER3", "F814W")])
    write("wave", [("CTYPE3", "WAVE"), ("CRVAL3", 4.75e-7), ("CDELT3", 2.0e-7), ("CRPIX3", 1.0)])
    write("freq", [("CTYPE3", "FREQ"), ("CRVAL3", 3.3e14), ("CDELT3", 5.0e13), ("CRPIX3", 1.0)],
          cube[::-1].copy())  # stored z, r, g: frequency rises along the axis
    write("zrg", [("BAND0", "z"), ("BAND1", "r"), ("BAND2", "g")], cube[::-1].copy())
    write("none", [], cube[::-1].copy())  # no keywords: file order is R, G, B
    h = fits.open(sample)[0]
    for name, planes in (("cov_all", (0, 1, 2)), ("cov_gz", (0, 2))):
        e = h.data.copy()
        for p in planes:
            e[p, :, :90] = 0  # 70 % of the columns: no coverage
        fits.PrimaryHDU(e, h.header).writeto(f"{d}/{name}.fits", overwrite=True)
    fits.PrimaryHDU(h.data[:, :, 90:].copy(), h.header).writeto(f"{d}/cov_part.fits", overwrite=True)


def rgb(path):
    from PIL import Image
    return np.asarray(Image.open(path).convert("RGB")).astype(float)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "make":
        make(sys.argv[2], sys.argv[3])
    elif cmd == "order":
        px = rgb(sys.argv[2])[8, 8]
        print("".join("RGB"[i] for i in np.argsort(-px, kind="stable")), px)
    elif cmd == "redblue":
        a = rgb(sys.argv[2])
        m = a.sum(-1) >= np.percentile(a.sum(-1), 90)
        print(f"{a[m][:, 0].mean() / a[m][:, 2].mean():.3f}")
    elif cmd == "diff":
        a, b = rgb(sys.argv[2])[:, int(sys.argv[4]):], rgb(sys.argv[3])
        print(f"{np.abs(a - b).mean():.2f} {np.abs(a - b).max():.0f}")
