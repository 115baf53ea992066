#!/usr/bin/env python3
"""gen_metrics_ref.py - reference values for tests/test_metrics.c (run once; the test needs no Python).

Image pairs: crops of the committed real samples (data/samples: a DECaLS colour cutout and the
KPNO M51 grey frame) and seeded degradations of them (Gaussian noise, Gaussian blur, a colour
shift), written as 8-bit PNGs to tests/data/metrics/. For each pair the script stores what
scikit-image computes on the decoded 8-bit values / 255:
  SSIM   structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
         data_range=1, channel_axis=2 for colour)
  PSNR   peak_signal_noise_ratio(data_range=1)
  L1/L2  per channel, and in Lab (scripts/astrodata.py rgb_to_lab in float64: the colour space
         of src/color/lab.c) for colour pairs.
Feature sets: seeded Gaussian features (float32 values written in full) and their Frechet
distance with scipy.linalg.sqrtm (pytorch-fid's formula), and the unbiased polynomial-kernel
MMD^2 over the full sets (numpy). Output: tests/data/metrics_ref.txt.

  /usr/bin/python3 scripts/gen_metrics_ref.py
"""
import os
import sys

import numpy as np
from PIL import Image
from scipy import linalg
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import astrodata as ad  # noqa: E402

REPO = ad.REPO
OUT_DIR = os.path.join(REPO, "tests", "data", "metrics")
OUT = os.path.join(REPO, "tests", "data", "metrics_ref.txt")


def blur(img, sigma):
    from scipy.ndimage import gaussian_filter
    s = (sigma, sigma, 0) if img.ndim == 3 else sigma
    return gaussian_filter(img.astype(np.float64), s, mode="reflect")


def to_u8(x):
    return np.clip(np.round(x), 0, 255).astype(np.uint8)


def make_images(rng):
    col = np.asarray(Image.open(os.path.join(REPO, "data", "samples", "decals_J000411.19+020924.0.png"))
                     .convert("RGB"))
    h, w = col.shape[:2]
    col = col[h // 2 - 48:h // 2 + 48, w // 2 - 40:w // 2 + 40]          # 96 x 80, the galaxy
    grey = np.asarray(Image.open(os.path.join(REPO, "data", "samples", "m51_B_gray.png")).convert("L"))
    h, w = grey.shape
    grey = grey[h // 2 - 36:h // 2 + 36, w // 2 - 45:w // 2 + 45]         # 72 x 90
    shift = col.astype(np.float64) * np.array([1.08, 0.97, 0.85]) + np.array([6, -3, 10])
    imgs = {
        "col_ref": col, "col_noise": to_u8(col + rng.normal(0, 12, col.shape)),
        "col_blur": to_u8(blur(col, 1.2)), "col_shift": to_u8(shift),
        "grey_ref": grey, "grey_noise": to_u8(grey + rng.normal(0, 8, grey.shape)),
        "grey_blur": to_u8(blur(grey, 2.0)),
    }
    os.makedirs(OUT_DIR, exist_ok=True)
    for k, v in imgs.items():
        Image.fromarray(v).save(os.path.join(OUT_DIR, k + ".png"))
    return imgs


def lab(x):
    import torch
    t = torch.from_numpy(x.transpose(2, 0, 1)[None].copy())
    return ad.rgb_to_lab(t)[0].numpy()


def pair_line(name_p, name_t, imgs):
    p = imgs[name_p].astype(np.float64) / 255.0
    t = imgs[name_t].astype(np.float64) / 255.0
    colour = p.ndim == 3
    ssim = structural_similarity(p, t, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                 data_range=1.0, channel_axis=2 if colour else None)
    psnr = peak_signal_noise_ratio(t, p, data_range=1.0)
    ch = [p[..., c] - t[..., c] for c in range(3)] if colour else [p - t]
    vals = [ssim, psnr] + [np.abs(d).mean() for d in ch] + [(d ** 2).mean() for d in ch]
    if colour:
        dl = lab(p) - lab(t)
        vals += [np.abs(dl[c]).mean() for c in range(3)] + [(dl[c] ** 2).mean() for c in range(3)]
    return "pair %s %s %d " % (name_p, name_t, 3 if colour else 1) + " ".join("%.10g" % v for v in vals)


def fid_np(a, b):
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(s1.dot(s2), disp=False)[0].real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def kid_full(a, b):
    d = a.shape[1]
    kxx, kyy, kxy = (a @ a.T / d + 1) ** 3, (b @ b.T / d + 1) ** 3, (a @ b.T / d + 1) ** 3
    m = len(a)
    return float((kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2 * kxy.mean())


def feature_lines(rng):
    lines = []
    for n, d, shift in ((60, 6, 0.4), (12, 10, 0.0)):
        mix = rng.normal(0, 1, (d, d))
        a = (rng.normal(0, 1, (n, d)) @ mix).astype(np.float32)
        b = (rng.normal(0, 1, (n, d)) @ (mix * 0.8) + shift).astype(np.float32)
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        lines.append("features %d %d %.10g %.10g" % (n, d, fid_np(a64, b64), kid_full(a64, b64)))
        lines.append(" ".join("%.9g" % v for v in a.ravel()))
        lines.append(" ".join("%.9g" % v for v in b.ravel()))
    return lines


def main():
    rng = np.random.default_rng(20261124)
    imgs = make_images(rng)
    lines = ["# written by scripts/gen_metrics_ref.py (skimage %s, scipy %s); images in tests/data/metrics/"
             % (__import__("skimage").__version__, __import__("scipy").__version__),
             "# pair PRED TRUTH C ssim psnr l1[C] l2[C] (colour: labl1[3] labl2[3])",
             "# features N D fid kid_full, then N*D floats of set A, N*D of set B"]
    for p, t in (("col_noise", "col_ref"), ("col_blur", "col_ref"), ("col_shift", "col_ref"),
                 ("grey_noise", "grey_ref"), ("grey_blur", "grey_ref"), ("col_ref", "col_ref")):
        lines.append(pair_line(p, t, imgs))
    lines += feature_lines(rng)
    with open(OUT, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote", OUT, "and", OUT_DIR)


if __name__ == "__main__":
    main()
