"""wcs_forms.py - FITS files with each WCS header form, and the check that an
upscaled copy keeps the sky position of every pixel (tests/cli/test_wcs_upscale.sh).

  wcs_forms.py make DIR DSS_SAMPLE   writes DIR/<form>.fits (and DIR/../tpd_prior.fits,
      a form the rewrite does not cover)
  wcs_forms.py check IN OUT SCALE    prints the largest sky offset between the
      output pixel centres and the same points of the input, in input pixels;
      exit 1 when it is >= 0.01 pixel or the output has no celestial WCS

Output pixel i (0-based) covers input pixels [i/s, (i+1)/s), so its centre is
the input position (i + 0.5) / s - 0.5 (0-based; FITS adds 1 to both).
"""
import sys
import warnings

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning
from astropy.wcs.utils import proj_plane_pixel_scales

warnings.simplefilter("ignore", FITSFixedWarning)

W, H = 24, 20


def base_header():
    h = fits.Header()
    h["CTYPE1"], h["CTYPE2"] = "RA---TAN", "DEC--TAN"
    h["CRVAL1"], h["CRVAL2"] = 150.1, 2.2
    h["CRPIX1"], h["CRPIX2"] = 10.3, 8.7
    return h


def rot(deg, sx, sy):
    t = np.radians(deg)
    return np.array([[-sx * np.cos(t), sy * np.sin(t)], [sx * np.sin(t), sy * np.cos(t)]])


def forms(dss_sample):
    m = rot(23.0, 2.0e-4, 2.1e-4)
    out = {}
    h = base_header()
    for i in range(2):
        for j in range(2):
            h[f"CD{i + 1}_{j + 1}"] = m[i, j]
    out["cd"] = h
    h = base_header()
    h["CDELT1"], h["CDELT2"] = -2.0e-4, 2.1e-4
    for i in range(2):
        for j in range(2):
            h[f"PC{i + 1}_{j + 1}"] = m[i, j] / [-2.0e-4, 2.1e-4][i]
    out["pc_cdelt"] = h
    h = base_header()  # PC carries the scale, CDELT defaults to 1
    for i in range(2):
        for j in range(2):
            h[f"PC{i + 1}_{j + 1}"] = m[i, j]
    out["pc_only"] = h
    h = base_header()
    h["CDELT1"], h["CDELT2"], h["CROTA2"] = -2.0e-4, 2.1e-4, 23.0
    out["crota"] = h
    h = out["cd"].copy()
    h["CTYPE1"], h["CTYPE2"] = "RA---TAN-SIP", "DEC--TAN-SIP"
    h["A_ORDER"] = h["B_ORDER"] = 2
    h["A_2_0"], h["A_1_1"], h["A_0_2"] = 2.0e-4, -1.5e-4, 3.0e-4
    h["B_2_0"], h["B_1_1"], h["B_0_2"] = -1.0e-4, 2.5e-4, 1.2e-4
    out["sip"] = h
    h = out["cd"].copy()  # an alternate description must follow too
    h["WCSNAMEA"] = "alt"
    h["CTYPE1A"], h["CTYPE2A"] = "RA---SIN", "DEC--SIN"
    h["CRVAL1A"], h["CRVAL2A"] = 150.0, 2.3
    h["CRPIX1A"], h["CRPIX2A"] = 3.0, 4.0
    h["CDELT1A"], h["CDELT2A"] = -1.9e-4, 1.9e-4
    out["alt_a"] = h
    h = out["cd"].copy()  # a g/r/z cube with a wavelength third axis
    h["CTYPE3"], h["CRVAL3"], h["CDELT3"], h["CRPIX3"], h["CUNIT3"] = "WAVE", 4.75e-7, 2.0e-7, 1.0, "m"
    out["cube_wave"] = h
    full = fits.getheader(dss_sample)
    h = fits.Header()
    for card in full.cards:  # the plate solution only (PLTRAH, AMDX..., CNPIX)
        k = card.keyword
        if k.startswith(("CTYPE", "CRPIX", "CRVAL", "CD1_", "CD2_", "CDELT", "PC", "CROTA", "CUNIT",
                         "RADESYS", "WCS", "LONPOLE", "LATPOLE")) or k in ("SIMPLE", "BITPIX", "NAXIS",
                                                                          "NAXIS1", "NAXIS2", "EXTEND"):
            continue
        if k in ("COMMENT", "HISTORY", ""):
            continue
        h.append(card)
    out["dss_plate"] = h
    return out


def make(d, dss_sample):
    rng = np.random.default_rng(5)
    for name, h in forms(dss_sample).items():
        data = (100 + rng.normal(0, 3, (3, H, W) if name.startswith("cube") else (H, W))).astype(np.float32)
        fits.PrimaryHDU(data, h).writeto(f"{d}/{name}.fits", overwrite=True)
    fits.PrimaryHDU(fits.getdata(dss_sample), fits.getheader(dss_sample)).writeto(f"{d}/dss_sample.fits",
                                                                                overwrite=True)
    # a Paper IV prior distortion in pixel units: not rewritten, must be refused
    h = forms(dss_sample)["cd"]
    for i in (1, 2):
        h.append(fits.Card.fromstring(f"CPDIS{i}  = 'TPD'"))
        for v in ("NAXES: 2", "AXIS.1: 1", "AXIS.2: 2", "TPD.FWD.1: 1.0", "TPD.FWD.4: 0.002"):
            h.append((f"DP{i}", v))
    h["DP2"] = "TPD.FWD.2: 1.0"
    rng = np.random.default_rng(6)
    fits.PrimaryHDU((100 + rng.normal(0, 3, (H, W))).astype(np.float32), h).writeto(f"{d}/../tpd_prior.fits",
                                                                                   overwrite=True)


def check(inp, outp, s):
    hi, ho = fits.getheader(inp), fits.getheader(outp)
    worst = 0.0
    for key in [" "] + sorted({k[-1] for k in hi if k.startswith("CTYPE1") and len(k) == 7}):
        wi, wo = WCS(hi, key=key).celestial, WCS(ho, key=key).celestial
        if not wo.has_celestial:
            print(f"{outp}: no celestial WCS '{key}' in the output")
            return 1
        nx, ny = ho["NAXIS1"], ho["NAXIS2"]
        xs = np.r_[0, nx - 1, 0, nx - 1, np.linspace(0, nx - 1, 7)]
        ys = np.r_[0, 0, ny - 1, ny - 1, np.linspace(ny - 1, 0, 7)]
        so = wo.pixel_to_world(xs, ys)
        si = wi.pixel_to_world((xs + 0.5) / s - 0.5, (ys + 0.5) / s - 0.5)
        pix = float(np.mean(proj_plane_pixel_scales(wi.celestial))) * 3600.0
        err = float(np.max(si.separation(so).to_value("arcsec")) / pix)
        worst = max(worst, err)
        print(f"{outp}: WCS '{key}': {err:.2e} input pixels ({err * pix:.2e} arcsec)")
    return 0 if worst < 0.01 else 1


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2], sys.argv[3])
    else:
        sys.exit(check(sys.argv[2], sys.argv[3], float(sys.argv[4])))
