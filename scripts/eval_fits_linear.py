#!/usr/bin/env python3
"""eval_fits_linear.py - what `upscale` and `denoise` do to linear FITS data (issue 18).

Upscale (2x, the fast model):
  - a Spitzer-like float32 frame (sky ~2, compact undersampled stars up to ~2500): output range,
    pixels outside [min, max] of the 3x3 input pixels around their source, new negatives,
    largest block-mean error, sum ratio (s^2 when surface brightness is kept);
  - a synthetic star field with known truth (2x box-downsampled plus noise): RMSE to the truth;
  - real frames of ../shared/data/fits box-downsampled 2x and upscaled back: PSNR over the
    frame's 0.1-99.9 percentile range (bicubic for comparison).
Denoise:
  - the Spitzer-like frame, --method artifacts: new negatives;
  - synthetic mono star fields (150 stars of PSF sigma 0.55..1.3 px, 60 injected single-pixel
    hits, hot pixels and 2-5 px tracks), --keep-stars: stars removed, hits removed;
  - real frames, --keep-stars --method artifacts: detections by kind.

Usage: /usr/bin/python3 scripts/eval_fits_linear.py [--bin ./astroenh] [--ref OLD_BINARY]
       [--models models] [--fits ../shared/data/fits]
--ref runs every measurement with a second binary too (e.g. the previous commit's).
Needs numpy, scipy, astropy, torch (bicubic reference).
"""
import argparse
import csv
import os
import subprocess
import sys
import tempfile

import numpy as np
from astropy.io import fits
from scipy.ndimage import maximum_filter, minimum_filter


def spitzer_like(path):
    rng = np.random.default_rng(3)
    H = W = 200
    y, x = np.mgrid[0:H, 0:W]
    img = 2.0 + 0.3 * rng.standard_normal((H, W)) + 0.5 * np.exp(-((x - 100) ** 2 + (y - 100) ** 2) / 2000.0)
    for _ in range(60):
        cx, cy = rng.uniform(5, W - 5, 2)
        img += 10 ** rng.uniform(0.5, 3.6) * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * 0.7 ** 2))
    fits.writeto(path, np.clip(img, 0.59, None).astype(np.float32), overwrite=True)


def truth_pair(hr_path, lr_path):
    rng = np.random.default_rng(5)
    H = W = 400
    y, x = np.mgrid[0:H, 0:W]
    img = 2.0 + 0.5 * np.exp(-((x - 200) ** 2 + (y - 200) ** 2) / 8000.0)
    for _ in range(80):
        cx, cy = rng.uniform(10, W - 10, 2)
        img += 10 ** rng.uniform(0.5, 3.8) * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * 1.4 ** 2))
    lr = img.reshape(200, 2, 200, 2).mean(axis=(1, 3)) + 0.15 * rng.standard_normal((200, 200))
    fits.writeto(hr_path, img.astype(np.float32), overwrite=True)
    fits.writeto(lr_path, lr.astype(np.float32), overwrite=True)


def star_field(path, psf, seed=1):
    """150 stars, 60 hits; returns (stars, hits) as arrays of (x, y, ...) in FITS array indices."""
    rng = np.random.default_rng(seed)
    H = W = 256
    sig = 5.0
    y, x = np.mgrid[0:H, 0:W]
    img = 100 + sig * rng.standard_normal((H, W))
    stars, hits = [], []
    for _ in range(150):
        cx, cy = rng.uniform(6, W - 6, 2)
        amp = sig * 10 ** rng.uniform(1.3, 3.3)
        img += amp * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * psf * psf))
        stars.append((cx, cy))
    for _ in range(60):
        cx, cy = rng.integers(4, W - 4, 2)
        amp = sig * 10 ** rng.uniform(1.5, 2.7)
        n = rng.choice([1, 1, 1, 2, 3, 5])
        ang = rng.uniform(0, np.pi)
        pts = {(int(round(cy + t * np.sin(ang))), int(round(cx + t * np.cos(ang)))) for t in range(n)}
        for py, px in pts:
            img[py, px] += amp * rng.uniform(0.6, 1.0)
        hits.append((cx, cy))
    fits.writeto(path, img.astype(np.float32), overwrite=True)
    return np.array(stars, float), np.array(hits, float)


def run(binary, args, env=None):
    r = subprocess.run([binary] + args, capture_output=True, text=True, env=env)
    if r.returncode:
        sys.exit(f"{binary} {' '.join(args)} failed: {r.stderr.strip()}")


def upscale_stats(inp, out):
    a = fits.getdata(inp).astype(np.float64)
    b = fits.getdata(out).astype(np.float64)
    s = b.shape[0] // a.shape[0]
    lo = np.kron(minimum_filter(a, 3, mode="nearest"), np.ones((s, s)))
    hi = np.kron(maximum_filter(a, 3, mode="nearest"), np.ones((s, s)))
    tol = 1e-5 * np.maximum(np.abs(lo), np.abs(hi)) + 1e-6
    outside = int(((b < lo - tol) | (b > hi + tol)).sum())
    newneg = int(((b < 0) & (np.kron(a, np.ones((s, s))) >= 0)).sum())
    blk = np.abs(b.reshape(a.shape[0], s, a.shape[1], s).mean(axis=(1, 3)) - a).max()
    return (f"{a.min():.4g}..{a.max():.4g} -> {b.min():.4g}..{b.max():.4g}; outside local range {outside}; "
            f"new negatives {newneg}; block error {blk:.3g}; sum ratio {b.sum() / a.sum():.4f}")


def bicubic(lr_path, out_path):
    import torch
    import torch.nn.functional as F
    a = fits.getdata(lr_path).astype(np.float32)
    b = F.interpolate(torch.from_numpy(a)[None, None], scale_factor=2, mode="bicubic", align_corners=False)
    fits.writeto(out_path, b[0, 0].numpy(), overwrite=True)


def psnr(truth, out):
    t = fits.getdata(truth).astype(float)
    b = fits.getdata(out).astype(float)
    rng = np.percentile(t, 99.9) - np.percentile(t, 0.1)
    return 20 * np.log10(rng / np.sqrt(np.mean((b - t) ** 2)))


def catalog_points(path, height):
    rows = list(csv.DictReader(open(path)))
    return [(float(r["x"]), height - 1 - float(r["y"]), r["kind"]) for r in rows]  # top-first -> FITS rows


def keep_stars_score(cat, stars, hits, height):
    star_hit, cr_hit = set(), set()
    for x, y, _ in catalog_points(cat, height):
        ds = np.hypot(stars[:, 0] - x, stars[:, 1] - y)
        dc = np.hypot(hits[:, 0] - x, hits[:, 1] - y)
        if ds.min() <= 2.5 and ds.min() < dc.min():
            star_hit.add(int(ds.argmin()))
        elif dc.min() <= 5:
            cr_hit.add(int(dc.argmin()))
    return len(star_hit), len(cr_hit)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="./astroenh")
    ap.add_argument("--ref", help="a second binary to compare with (e.g. the previous commit's)")
    ap.add_argument("--models", default="models")
    ap.add_argument("--fits", default="../shared/data/fits")
    o = ap.parse_args()
    env = dict(os.environ, ASTROENH_MODELS=os.path.abspath(o.models))
    bins = [("new", o.bin)] + ([("ref", o.ref)] if o.ref else [])
    d = tempfile.mkdtemp(prefix="eval_fits_linear_")
    j = lambda n: os.path.join(d, n)  # noqa: E731

    print("## upscale 2x (fast)\n")
    spitzer_like(j("sp.fits"))
    truth_pair(j("hr.fits"), j("lr.fits"))
    bicubic(j("lr.fits"), j("lr_bic.fits"))
    t = fits.getdata(j("hr.fits")).astype(float)
    rmse = lambda f: np.sqrt(np.mean((fits.getdata(f).astype(float) - t) ** 2))  # noqa: E731
    print(f"- truth field, bicubic: RMSE {rmse(j('lr_bic.fits')):.3g}")
    for tag, b in bins:
        for extra in ([], ["--no-flux-consistency"]):
            run(b, ["upscale", "--quiet", "--scale", "2"] + extra + [j("sp.fits"), "-o", j("sp_up.fits")], env)
            print(f"- {tag} {' '.join(extra) or '(default)'}: Spitzer-like {upscale_stats(j('sp.fits'), j('sp_up.fits'))}")
        run(b, ["upscale", "--quiet", "--scale", "2", j("lr.fits"), "-o", j("lr_up.fits")], env)
        print(f"- {tag}: truth field RMSE {rmse(j('lr_up.fits')):.3g}")
    for name in ("m51_B_kpno", "saao_a8280271", "horsehead_dss"):
        a = fits.getdata(os.path.join(o.fits, name + ".fits")).astype(np.float64)
        H, W = a.shape[0] // 2 * 2, a.shape[1] // 2 * 2
        a = a[:H, :W]
        fits.writeto(j("hr_r.fits"), a.astype(np.float32), overwrite=True)
        fits.writeto(j("lr_r.fits"), a.reshape(H // 2, 2, W // 2, 2).mean(axis=(1, 3)).astype(np.float32),
                     overwrite=True)
        bicubic(j("lr_r.fits"), j("bic_r.fits"))
        line = f"- {name} down 2x and back: bicubic {psnr(j('hr_r.fits'), j('bic_r.fits')):.2f} dB"
        for tag, b in bins:
            run(b, ["upscale", "--quiet", "--scale", "2", j("lr_r.fits"), "-o", j("up_r.fits")], env)
            line += f", {tag} {psnr(j('hr_r.fits'), j('up_r.fits')):.2f} dB"
        print(line)

    print("\n## denoise\n")
    a = fits.getdata(j("sp.fits")).astype(float)
    for tag, b in bins:
        run(b, ["denoise", "--quiet", "--method", "artifacts", j("sp.fits"), "-o", j("sp_dn.fits")])
        out = fits.getdata(j("sp_dn.fits")).astype(float)
        print(f"- {tag}: Spitzer-like --method artifacts: output min {out.min():.3g}, new negatives "
              f"{int(((out < 0) & (a >= 0)).sum())}")
    for psf in (0.55, 0.65, 0.9, 1.3):
        stars, hits = star_field(j("sf.fits"), psf)
        line = f"- mono field, PSF sigma {psf}, --keep-stars:"
        for tag, b in bins:
            run(b, ["denoise", "--quiet", "--keep-stars", j("sf.fits"), "-o", j("sf_dn.fits"), "--catalog",
                    j("sf.csv")])
            s, c = keep_stars_score(j("sf.csv"), stars, hits, 256)
            line += f" {tag}: stars removed {s}/{len(stars)}, hits removed {c}/{len(hits)};"
        print(line)
    for name in ("m51_B_kpno", "saao_a8280271", "m13_blue_raw"):
        src = os.path.join(o.fits, name + ".fits")
        h = fits.getdata(src).shape[0]
        line = f"- {name} --keep-stars --method artifacts:"
        for tag, b in bins:
            run(b, ["denoise", "--quiet", "--keep-stars", "--method", "artifacts", src, "-o", j("r_dn.fits"),
                    "--catalog", j("r.csv")])
            kinds = {}
            for _, _, k in catalog_points(j("r.csv"), h):
                kinds[k] = kinds.get(k, 0) + 1
            line += f" {tag} {kinds};"
        print(line)


if __name__ == "__main__":
    main()
