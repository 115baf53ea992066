#!/usr/bin/env python3
"""eval_all.py - `make eval`: the papers' tables and figures on our test split, from the shipped models.

Every network runs in the C binary (astroenh colorize / upscale / run / denoise) and every metric
is computed in C (`astroenh eval --pairs`, `--fid`); this script prepares the inputs, drives the
binary, averages its JSON lines, and draws the figures (matplotlib). Data: data/splits/test.txt
(objects never trained on) through scripts/astrodata.py; galaxies (DECaLS, decals256) and
nebulae (Stellarium textures) are reported separately. A stage whose weights are not in models/
is reported as "missing".

Parts (eval/results.md, eval/figures/*.png; work files under build/eval/):
  colorization  grey (L* of the test image) -> colour, each shipped colorizer vs the grey baseline:
                per-channel L1/L2 in sRGB (0..255) and Lab, PSNR, SSIM, FID/KID
  sr            HR = 128x128 centre crops, LR = box downsample; bicubic, fast, SR3 (step plan,
                subsampled on a CPU) at 2x and 4x: L1, L2, PSNR, SSIM, FID/KID
  pipeline      grey 64x64 -> colour 128x128 (astroenh run --stages colorize,upscale
                --prefilter), SSIM mean/max next to the seed paper's and a bicubic baseline
  denoise       scripts/bench_denoise.py (the denoise issue's synthetic-artifact benchmark),
                with its astroenh outputs re-scored by the C metrics as a cross-check
  curves        training curves of each shipped model from the training CSVs

  python3 scripts/eval_all.py [--bin ./astroenh] [--threads 2] [--parts colorization,sr,...]
                              [--inception models/pt_inception-2015-12-05.safetensors]
FID/KID: with --inception (pytorch-fid's InceptionV3 weights converted by
scripts/convert_inception.py; `make eval INCEPTION=FILE`) on InceptionV3 pool3 features, labelled
comparable with published FID when the file's metadata says the weights are pytorch-fid's;
without it on features of a network trained here, labelled not comparable.
Needs numpy, PIL, opencv (cv2), matplotlib (Debian's python3); bench_denoise.py also skimage.
Deterministic: fixed image lists, seeds and SR3 noise seeds.
"""
import argparse
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import time

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import astrodata as ad  # noqa: E402

REPO = ad.REPO
SOURCES = [("decals256", "Galaxies (DECaLS)"), ("stellarium", "Nebulae (Stellarium)")]
# colorization is also reported on the NASA images (nebulae and galaxies from Hubble/Spitzer/...)
COLOR_SOURCES = SOURCES + [("nasa", "NASA image library")]
COLORIZERS = [("lab", "colorizer.safetensors", "U-Net, a*b* at 1/2 resolution (shipped)"),
              ("rgb", "colorizer_rgb.safetensors", "U-Net, sRGB output"),
              ("basic", "colorizer_basic.safetensors", "plain U-Net, a*b*")]
SEED_PIPELINE = (0.857, 0.943, 100)  # the seed paper: mean, max SSIM over 100 Galaxy10 DECaLS test images
FID_NOTE_OURS = ("FID*/KID* here use features of a network trained here (the body of models/fast_x2_v1, the EDSR-like 2x net, "
                 "per-channel mean and std, images block-averaged to <= 64 px): **not comparable with "
                 "published FID** (InceptionV3 pool3; `make eval INCEPTION=FILE` computes that); KID x 1000.")
FID_NOTE_STD = ("FID/KID on %s (images read as 8-bit RGB, resized to 299x299 bilinear, as pytorch-fid "
                "does): the FID **comparable with published "
                "FID**, up to sample size: FID is biased upward for small sets (%s per set here; published "
                "FIDs use thousands of images). KID x 1000.")
FID_NOTE_OTHER = ("FID*/KID* on %s: that file's metadata says its weights are **not** pytorch-fid's, so these "
                  "are **not comparable with published FID**; KID x 1000.")


def fid_info(c):
    """(note, column suffix) describing the FID/KID columns from what `astroenh eval` reported."""
    rows = c.fid_rows
    if not rows:
        return ("FID/KID: not computed (no feature network: models/fast_x2_v1.safetensors missing and no "
                "--inception).", "*")
    if not all(r.get("inception") for r in rows):
        return FID_NOTE_OURS, "*"
    sizes = sorted({r["n"] for r in rows} | {r["n_ref"] for r in rows})
    n = "%d..%d images" % (sizes[0], sizes[-1]) if len(sizes) > 1 else "%d images" % sizes[0]
    if all(r.get("comparable_with_published_fid") for r in rows):
        return FID_NOTE_STD % (rows[0]["features"], n), ""
    return FID_NOTE_OTHER % rows[0]["features"], "*"


# ----------------------------------------------------------------- helpers
class Ctx:
    def __init__(self, a):
        self.a, self.bin, self.work = a, os.path.abspath(a.bin), os.path.abspath(a.work)
        self.models = os.path.abspath(a.models)
        self.fig = os.path.join(a.out, "figures")
        self.timings = {}
        self.fid_rows = []  # every JSON line of `astroenh eval --fid`, for the tables' FID note
        self.env = dict(os.environ)
        self.env.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # a shared, loaded CPU: do not spin
        self.env["ASTROENH_MODELS"] = self.models  # `run` finds its models here

    def model(self, name):
        p = os.path.join(self.models, name)
        return p if os.path.exists(p) else None

    def run(self, args, stdout=False):
        cmd = [self.bin] + [str(x) for x in args]
        p = subprocess.run(cmd, capture_output=True, text=True, env=self.env)
        if p.returncode != 0:
            raise RuntimeError("%s -> %d\n%s" % (" ".join(cmd), p.returncode, p.stderr[-3000:]))
        return p.stdout if stdout else None

    def timed(self, key, args):
        t0 = time.perf_counter()
        self.run(args)
        dt = time.perf_counter() - t0
        self.timings[key] = self.timings.get(key, 0.0) + dt
        return dt

    def pairs(self, pred_truth, tag):
        """C metrics of [(pred, truth)] -> list of dicts (astroenh eval --pairs)."""
        lst = os.path.join(self.work, "lists", tag + ".pairs")
        os.makedirs(os.path.dirname(lst), exist_ok=True)
        with open(lst, "w") as f:
            f.write("".join("%s\t%s\n" % pt for pt in pred_truth))
        out = self.run(["eval", "--threads", 1, "--pairs", lst], stdout=True)
        rows = [json.loads(line) for line in out.splitlines() if line.strip()]
        if len(rows) != len(pred_truth) or any("error" in r for r in rows):
            raise RuntimeError("eval --pairs %s: %d rows for %d pairs" % (lst, len(rows), len(pred_truth)))
        return rows

    def fid(self, ref_paths, lists, tag):
        """{name: fid json} of each list of paths against ref_paths (astroenh eval --fid)."""
        d = os.path.join(self.work, "lists")
        ref = os.path.join(d, tag + ".ref")
        with open(ref, "w") as f:
            f.write("".join(p + "\n" for p in ref_paths))
        files = []
        for name, paths in lists.items():
            files.append(os.path.join(d, "%s.%s.list" % (tag, name)))
            with open(files[-1], "w") as f:
                f.write("".join(p + "\n" for p in paths))
        feat = (["--inception", self.a.inception] if self.a.inception
                else ["--feature-net", self.model("fast_x2_v1.safetensors")])
        out = self.run(["eval", "--threads", self.a.threads, "--kid-size", 50, "--kid-subsets", 100] + feat +
                       ["--fid", ref] + files, stdout=True)
        rows = [json.loads(line) for line in out.splitlines() if line.strip()]
        if len(rows) != len(lists):
            raise RuntimeError("eval --fid %s: %d rows for %d lists" % (ref, len(rows), len(lists)))
        self.fid_rows += rows
        return {name: r for name, r in zip(lists, rows)}

    def can_fid(self):
        return bool(self.a.inception or self.model("fast_x2_v1.safetensors"))


def fresh(*parts):
    d = os.path.join(*parts)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def srgb_decode(c):
    return np.where(c <= 0.04045, c / 12.92, ((np.maximum(c, 0.04045) + 0.055) / 1.055) ** 2.4)


def srgb_encode(c):
    return np.where(c <= 0.0031308, 12.92 * c, 1.055 * np.maximum(c, 0.0031308) ** (1 / 2.4) - 0.055)


def grey_same_l(rgb01):
    """The grey whose L* equals the colour's L* (the luminance the colorizer sees), HxW in [0,1]."""
    lin = srgb_decode(np.clip(rgb01, 0, 1))
    y = lin @ np.array(ad.M_RGB2XYZ[1])
    return np.clip(srgb_encode(y), 0, 1)


def write_png(path, x, bits=16):
    """x: HxW or HxWx3 floats in [0,1] -> PNG (cv2: 16-bit colour is supported)."""
    import cv2
    scale, dt = (65535.0, np.uint16) if bits == 16 else (255.0, np.uint8)
    a = np.clip(np.round(np.asarray(x, np.float64) * scale), 0, scale).astype(dt)
    if a.ndim == 3:
        a = a[:, :, ::-1]
    if not cv2.imwrite(path, a):
        raise RuntimeError("cannot write " + path)


def read_png(path):
    import cv2
    a = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if a is None:
        raise RuntimeError("cannot read " + path)
    a = a.astype(np.float64) / (65535.0 if a.dtype == np.uint16 else 255.0)
    return a[:, :, ::-1] if a.ndim == 3 else a


def box_down(x, s):
    h, w = x.shape[0] // s * s, x.shape[1] // s * s
    x = x[:h, :w]
    return x.reshape(h // s, s, w // s, s, *x.shape[2:]).mean(axis=(1, 3))


SPLIT = "test"  # --split val: the same tables on the validation split, to choose settings by


def test_images(src, limit):
    if not ad.source_available(src):
        return None
    p = ad.Packed(SPLIT, [src])
    n = len(p) if limit <= 0 else min(limit, len(p))
    return [(p.names[i], p[i]) for i in range(n)]


def hf_power(path, lo=0.25, hi=0.5):
    """Power of an image's luminance (mean of channels) between lo and hi
    cycles/pixel of the radially averaged spectrum (Hann-windowed, mean
    removed): the band a 2x/4x upsampler has to invent."""
    x = read_png(path)
    g = x.mean(axis=2) if x.ndim == 3 else x
    g = g - g.mean()
    win = np.outer(np.hanning(g.shape[0]), np.hanning(g.shape[1]))
    p = np.abs(np.fft.fft2(g * win)) ** 2
    fy, fx = np.meshgrid(np.fft.fftfreq(g.shape[0]), np.fft.fftfreq(g.shape[1]), indexing="ij")
    r = np.hypot(fy, fx)
    return float(p[(r >= lo) & (r <= hi)].sum())


def add_hf(rows, pred_truth):
    """rows[i]["hf"] = high-frequency power of the output / of the truth
    (1: as much fine detail as the truth; bicubic's blur gives < 1, noise
    or invented texture > 1)."""
    for r, (pred, truth) in zip(rows, pred_truth):
        t = hf_power(truth)
        r["hf"] = hf_power(pred) / t if t > 0 else None
    return rows


def mean_of(rows, key, scale=1.0):
    v = [r[key] for r in rows if r.get(key) is not None]
    return float(np.mean(v)) * scale if v else float("nan")


# ------------------------------------------------------------ colorization
CH_RGB, CH_LAB = ["R", "G", "B"], ["L*", "a*", "b*"]


def rgb_to_lab_np(rgb01):
    """HxWx3 (or HxW grey) sRGB in [0,1] -> CIE Lab (D65), the formulas of src/color/lab.c."""
    if rgb01.ndim == 2:
        rgb01 = np.repeat(rgb01[..., None], 3, axis=2)
    xyz = srgb_decode(np.clip(rgb01, 0, 1)) @ np.array(ad.M_RGB2XYZ).T / np.array(ad.WHITE)
    e, k = (6 / 29) ** 3, 3 * (6 / 29) ** 2
    f = np.where(xyz > e, np.cbrt(np.maximum(xyz, e)), xyz / k + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)


def lab_to_rgb_np(lab):
    fy = (lab[..., 0] + 16) / 116
    f = np.stack([fy + lab[..., 1] / 500, fy, fy - lab[..., 2] / 200], -1)
    t = np.where(f > 6 / 29, f ** 3, 3 * (6 / 29) ** 2 * (f - 4 / 29)) * np.array(ad.WHITE)
    return np.clip(srgb_encode(np.maximum(t @ np.array(ad.M_XYZ2RGB).T, 0)), 0, 1)


def train_mean_ab():
    """The training split's mean a*b*, each source weighted equally (as the colorizer trains)."""
    means = []
    for src, _ in COLOR_SOURCES:
        if ad.source_available(src):
            p = ad.Packed("train", [src])
            means.append(np.mean([rgb_to_lab_np(p[i] / 255.0)[..., 1:].mean(axis=(0, 1)) for i in range(len(p))], 0))
    return np.mean(means, 0)


def blur_ab(ab, f=4):
    """a*b* averaged over f x f blocks (edge-replicated to a multiple of f) and enlarged
    bilinearly with half-pixel centres: a perfect net at ab_down=f outputs this."""
    import cv2
    h, w = ab.shape[:2]
    hp, wp = -(-h // f) * f, -(-w // f) * f
    x = np.pad(ab, ((0, hp - h), (0, wp - w), (0, 0)), mode="edge")
    low = box_down(x, f).astype(np.float32)
    return cv2.resize(low, (wp, hp), interpolation=cv2.INTER_LINEAR)[:h, :w]


def mean_chroma(path):
    lab = rgb_to_lab_np(read_png(path))
    return float(np.hypot(lab[..., 1], lab[..., 2]).mean())


def part_colorization(c):
    res = {}
    mean_ab = train_mean_ab()
    for src, _ in COLOR_SOURCES:
        imgs = test_images(src, c.a.n_color)
        if imgs is None:
            continue
        base = fresh(c.work, "color", src)
        gt_dir, in_dir = fresh(base, "gt"), fresh(base, "in")
        gts, ins = [], []
        for i, (_, img) in enumerate(imgs):
            gts.append(os.path.join(gt_dir, "%03d.png" % i))
            ins.append(os.path.join(in_dir, "%03d.png" % i))
            Image.fromarray(img).save(gts[-1])
            write_png(ins[-1], grey_same_l(img / 255.0), 16)
        methods = {"grey": ins, "mean_ab": [], "blur4": [], "blur2": []}
        status = {"grey": "baseline: a*b* = 0 (the input's L* replicated)",
                  "mean_ab": "reference: true L* + the training split's mean a*b* (%.2f, %.2f)" % tuple(mean_ab),
                  "blur4": "ceiling: true L* + true a*b* averaged over 4x4 blocks, enlarged bilinearly",
                  "blur2": "ceiling at the shipped model's resolution: the same over 2x2 blocks"}
        for name in ("mean_ab", "blur4", "blur2"):
            d = fresh(base, name)
            for i, (_, img) in enumerate(imgs):
                lab = rgb_to_lab_np(img / 255.0)
                lab[..., 1:] = mean_ab if name == "mean_ab" else blur_ab(lab[..., 1:], int(name[-1]))
                methods[name].append(os.path.join(d, "%03d.png" % i))
                write_png(methods[name][-1], lab_to_rgb_np(lab), 16)
        for name, fn, desc in COLORIZERS:
            m = c.model(fn)
            if m is None:
                status[name] = "missing (models/%s not shipped)" % fn
                continue
            out = fresh(base, name)
            dt = c.timed("colorize", ["colorize", "--threads", c.a.threads, "--quiet", "--in-stretch", "none",
                                      "--model", m, in_dir, "-o", out])
            methods[name] = [os.path.join(out, os.path.basename(p)) for p in ins]
            status[name] = "%s; %.2f s/image (C, %d threads)" % (desc, dt / len(ins), c.a.threads)
        rows = {k: c.pairs(list(zip(v, gts)), "color_%s_%s" % (src, k)) for k, v in methods.items()}
        for k, v in methods.items():
            for r, path in zip(rows[k], v):
                r["chroma"] = mean_chroma(path)
        truth_chroma = float(np.mean([mean_chroma(g) for g in gts]))
        fids = c.fid(gts, methods, "color_" + src) if c.can_fid() else {}
        res[src] = dict(n=len(imgs), status=status, rows=rows, fid=fids, gt=gts, methods=methods,
                        truth_chroma=truth_chroma)
    return res


def table_colorization(res, c):
    note, star = fid_info(c)
    L = ["## Colorization (papers' Tables 1-4 form)", "",
         "Input: the L* of each test image (a 16-bit grey PNG whose L* equals the image's), output "
         "`astroenh colorize --in-stretch none` (keeps L*, predicts a*b*), truth: the test image "
         "(longest side <= 256 px). Per-pixel errors are means over images of per-image means; sRGB in "
         "0..255 units, Lab in L*/a*/b* units. SSIM: Gaussian window sigma 1.5 on sRGB in [0,1], "
         "mean of the channels; PSNR in dB on sRGB in [0,1]. " + note, ""]
    L += ["Rows mean_ab, blur4 and blur2 are references, not methods: the truth's L* with the training "
          "split's mean a*b*, and with the truth's own a*b* at 1/4 and 1/2 resolution (blur2 is the ceiling "
          "of a net that predicts a*b* at 1/2 resolution, as the shipped one does). Chroma: mean sqrt(a*^2+b*^2) of the output "
          "(the truth's in the heading); a grey output has 0.", ""]
    order = ["grey", "mean_ab", "blur4", "blur2"] + [n for n, _, _ in COLORIZERS]
    for src, title in COLOR_SOURCES:
        if src not in res:
            L += ["### %s: data not present, not evaluated" % title, ""]
            continue
        r = res[src]
        L += ["### %s, %d test images (truth's mean chroma %.2f)" % (title, r["n"], r.get("truth_chroma", float("nan"))), ""]
        for name in order:
            L.append("- %s: %s" % (name, r["status"][name]))
        L += ["", "| method | " + " | ".join("L1 " + ch for ch in CH_RGB + CH_LAB) +
              " | PSNR | gain vs grey | SSIM | chroma | FID%s | KID%s x1e3 |" % (star, star), "|---" * 13 + "|"]
        grey_psnr = mean_of(r["rows"]["grey"], "psnr")
        for name in order:
            if name not in r["rows"]:
                L.append("| %s | " % name + " | ".join(["missing"] * 12) + " |")
                continue
            rows, f = r["rows"][name], r["fid"].get(name)
            l1 = [mean_of(rows, "l1_" + ch, 255) for ch in CH_RGB] + [mean_of(rows, "l1_" + ch) for ch in CH_LAB]
            fid = "%.4g | %.3g" % (f["fid"], 1e3 * f["kid"]) if f else "- | -"
            L.append("| %s | " % name + " | ".join("%.3f" % v for v in l1) +
                     " | %.2f | %+.2f | %.4f | %.2f | %s |" % (mean_of(rows, "psnr"), mean_of(rows, "psnr") - grey_psnr,
                                                           mean_of(rows, "ssim"), mean_of(rows, "chroma"), fid))
        L += ["", "| method | " + " | ".join("L2 " + ch for ch in CH_RGB + CH_LAB) + " |", "|---" * 7 + "|"]
        for name in order:
            if name not in r["rows"]:
                L.append("| %s | " % name + " | ".join(["missing"] * 6) + " |")
                continue
            rows = r["rows"][name]
            l2 = [mean_of(rows, "l2_" + ch, 255 ** 2) for ch in CH_RGB] + [mean_of(rows, "l2_" + ch) for ch in CH_LAB]
            L.append("| %s | " % name + " | ".join("%.2f" % v for v in l2) + " |")
        L.append("")
    return L


# ------------------------------------------------------------ super-resolution
def parse_plan(plan):
    """SAMPLER:STEPS:IMAGES[:START] items -> (sampler, steps, images, start step or 0 = the file's)."""
    out = []
    for item in filter(None, plan.split(",")):
        f = item.split(":")
        out.append((f[0], int(f[1]), int(f[2]), int(f[3]) if len(f) > 3 else 0))
    return out


def part_sr(c):
    res = {}
    for src, _ in SOURCES:
        imgs = test_images(src, c.a.n_sr)
        if imgs is None:
            continue
        base = fresh(c.work, "sr", src)
        gt_dir = fresh(base, "hr")
        gts, hrs = [], []
        for i, (_, img) in enumerate(imgs):
            hr = ad.center_crop(img, c.a.sr_size)
            gts.append(os.path.join(gt_dir, "%03d.png" % i))
            Image.fromarray(hr).save(gts[-1])
            hrs.append(hr / 255.0)
        res[src] = {"n": len(imgs), "gt": gts, "scales": {}}
        for s in (2, 4):
            res[src]["scales"][s] = sr_scale(c, base, s, hrs, gts)
    return res


def sr_scale(c, base, s, hrs, gts):
    lr_dir = fresh(base, "lr%d" % s)
    lrs = [os.path.join(lr_dir, "%03d.png" % i) for i in range(len(hrs))]
    for p, hr in zip(lrs, hrs):
        write_png(p, box_down(hr, s), 16)
    out = {"lr": lrs, "methods": {}, "rows": {}, "status": {}, "sr3": []}
    bic = fresh(base, "bicubic%d" % s)
    lst = os.path.join(base, "bicubic%d.list" % s)
    with open(lst, "w") as f:
        f.write("".join("%s\t%s\n" % (p, os.path.join(bic, os.path.basename(p))) for p in lrs))
    c.timed("bicubic", ["eval", "--bicubic", s, lst])
    out["methods"]["bicubic"] = [os.path.join(bic, os.path.basename(p)) for p in lrs]
    out["status"]["bicubic"] = "PyTorch's bicubic (A = -0.75), in C"
    lz = fresh(base, "lanczos%d" % s)
    for p in lrs:
        write_png(os.path.join(lz, os.path.basename(p)), lanczos_up(read_png(p), s), 16)
    out["methods"]["lanczos"] = [os.path.join(lz, os.path.basename(p)) for p in lrs]
    out["status"]["lanczos"] = "PIL's Lanczos-3, per channel in float"
    # the fast network as shipped, and the one it replaced when that is kept beside it
    for key, name in (("fast_old", "fast_x%d_v1.safetensors" % s), ("fast", "fast_x%d.safetensors" % s)):
        m = c.model(name) or (fast_model(c, s) if key == "fast" else None)
        if not m:
            out["status"][key] = "missing (models/%s not shipped)" % name
            continue
        d = fresh(base, "%s%d" % (key, s))
        dt = c.timed("fast", ["upscale", "--threads", c.a.threads, "--quiet", "--scale", s, "--weights", m,
                              lr_dir, "-o", d])
        out["methods"][key] = [os.path.join(d, os.path.basename(p)) for p in lrs]
        twice = " 2x run twice" if s == 4 and m.endswith("fast_x2.safetensors") else ""
        out["status"][key] = "%s%s, %.3f s/image" % (model_arch(m), twice, dt / len(lrs))
    m3 = c.model("sr3_x%d.safetensors" % s) or (c.model("sr3_x2.safetensors") if s == 4 else None)
    full = m3 and c.a.sr3_full and str(s) in c.a.sr3_full_scales.split(",")
    for spec in (c.a.sr3_full.split(",") if full else []):
        sm, st = spec.split(":")
        key = "sr3:%s:%s" % (sm, st)
        d = fresh(base, "sr3full%d_%s%s" % (s, sm, st))
        dt = c.timed("sr3", ["upscale", "--threads", c.a.threads, "--quiet", "--scale", s, "--model", "sr3",
                             "--weights", m3, "--sampler", sm, "--steps", st, "--seed", 0, lr_dir, "-o", d])
        out["methods"][key] = [os.path.join(d, os.path.basename(p)) for p in lrs]
        out["status"][key] = "%s seed 0, %.1f s/image" % (sr3_kind(m3, s), dt / len(lrs))
    tag = os.path.basename(base)
    for k, v in out["methods"].items():
        out["rows"][k] = add_hf(c.pairs(list(zip(v, gts)), "sr_%s_x%d_%s" % (tag, s, k)), list(zip(v, gts)))
    out["fid"] = c.fid(gts, out["methods"], "sr_%s_x%d" % (tag, s)) if c.can_fid() else {}
    if not m3:
        out["status"]["sr3"] = "missing (models/sr3_x%d.safetensors not shipped)" % s
        return out
    plan = [(sm, st, min(n, len(hrs)), t0) for sm, st, n, t0 in parse_plan(c.a.sr3_plan)]
    if plan:
        sr3_runs(c, base, s, hrs, m3, plan, out)
    return out


def sr3_runs(c, base, s, hrs, m3, plan, out):
    """SR3 on the central sr3_size crops of the first images (CPU cost), with bicubic and fast
    on exactly the same crops."""
    n, z = max(p[2] for p in plan), c.a.sr3_size
    d0 = fresh(base, "sr3crops%d" % s)
    lr_dir, hr_dir = fresh(d0, "lr"), fresh(d0, "hr")
    gts, lrs = [], []
    for i in range(n):
        h, w = hrs[i].shape[:2]
        hr = hrs[i][(h - z) // 2:(h - z) // 2 + z, (w - z) // 2:(w - z) // 2 + z]
        gts.append(os.path.join(hr_dir, "%03d.png" % i))
        lrs.append(os.path.join(lr_dir, "%03d.png" % i))
        write_png(gts[-1], hr, 8)
        write_png(lrs[-1], box_down(hr, s), 16)
    tag = "sr_%s_x%d_crop" % (os.path.basename(base), s)
    lst = os.path.join(d0, "bicubic.list")
    with open(lst, "w") as f:
        f.write("".join("%s\t%s\n" % (p, os.path.join(d0, "bic_" + os.path.basename(p))) for p in lrs))
    c.timed("bicubic", ["eval", "--bicubic", s, lst])
    base_rows = {"bicubic": c.pairs([(os.path.join(d0, "bic_" + os.path.basename(p)), g) for p, g in zip(lrs, gts)],
                                    tag + "_bicubic")}
    mf = fast_model(c, s)
    if mf:
        fd = fresh(d0, "fast")
        c.timed("fast", ["upscale", "--threads", c.a.threads, "--quiet", "--scale", s, "--weights", mf, lr_dir, "-o", fd])
        base_rows["fast"] = c.pairs([(os.path.join(fd, os.path.basename(p)), g) for p, g in zip(lrs, gts)], tag + "_fast")
    out["sr3_base"] = base_rows
    for sampler, steps, k, t0 in plan:
        d = fresh(d0, "%s%d_%d" % (sampler, steps, t0))
        sub = fresh(d, "in")
        for p in lrs[:k]:
            shutil.copy(p, sub)
        od = fresh(d, "out")
        dt = c.timed("sr3", ["upscale", "--threads", c.a.threads, "--quiet", "--scale", s, "--model", "sr3",
                             "--weights", m3, "--sampler", sampler, "--steps", steps, "--seed", 0, sub, "-o", od]
                     + (["--start-step", t0] if t0 else []))
        paths = [os.path.join(od, os.path.basename(p)) for p in lrs[:k]]
        rows = add_hf(c.pairs(list(zip(paths, gts[:k])), "%s_sr3_%s%d_%d" % (tag, sampler, steps, t0)),
                      list(zip(paths, gts[:k])))
        out["sr3"].append(dict(sampler=sampler, steps=steps, n=k, start=t0, seconds=dt / k, rows=rows, paths=paths))


def table_sr(res, c):
    note, star = fid_info(c)
    L = ["## Super-resolution (papers' Tables 6/7 form)", "",
         "HR: %dx%d centre crops of the test images (RGB), LR: box (area) downsample by the scale, "
         "stored as 16-bit PNG; outputs of the C binary (`astroenh eval --bicubic`, `astroenh upscale`) "
         "against the HR crop. L1/L2 in 0..255 units (mean over channels), PSNR (dB) and SSIM "
         "(Gaussian, sigma 1.5) on [0,1]. HF power: the output's luminance power between 0.25 and 0.5 "
         "cycles/pixel (radially averaged, Hann-windowed spectrum) over the truth's: 1 = as "
         "much fine detail as the truth, < 1 blurred, > 1 noise or invented texture; geometric mean over "
         "images; PSNR does not reward it. " % (c.a.sr_size, c.a.sr_size) + note,
         "", "SR3 is sampled on a subsample only (CPU cost): the central %dx%d of the first HR crops; each "
         "SR3 row gives its number of images and, for comparison, bicubic and fast on exactly those crops. Seconds are wall time per image of "
         "`astroenh upscale` on this shared 2-core CPU (%d threads)." % (c.a.sr3_size, c.a.sr3_size, c.a.threads), ""]
    for src, title in SOURCES:
        if src not in res:
            L += ["### %s: data not present, not evaluated" % title, ""]
            continue
        for s in (2, 4):
            r = res[src]["scales"][s]
            L += ["### %s, %dx, %d images" % (title, s, res[src]["n"]), "",
                  "| method | images | L1 | L2 | PSNR | SSIM | FID%s | KID%s x1e3 | HF power | notes |" % (star, star),
                  "|---|---|---|---|---|---|---|---|---|---|"]
            full = [k for k in r["rows"] if k.startswith("sr3:")]
            for k in ["bicubic", "lanczos", "fast_old", "fast"] + full:
                label = SR_LABELS.get(k) or "SR3 %s %s steps" % tuple(k.split(":")[1:])
                label = label.replace("ddim", "DDIM").replace("ddpm", "DDPM")
                if k not in r["rows"]:
                    if k in r["status"] and k != "fast_old":
                        L.append("| %s | missing | missing | missing | missing | missing | missing | missing | - | %s |"
                                 % (label, r["status"][k]))
                    continue
                note = r["status"][k]
                if k != "bicubic":
                    note += "; %+.2f dB over bicubic" % (mean_of(r["rows"][k], "psnr") - mean_of(r["rows"]["bicubic"], "psnr"))
                L.append(sr_row(label, r["rows"][k], r["fid"].get(k), note))
            if "sr3" in r["status"]:
                L.append("| SR3 | missing | missing | missing | missing | missing | missing | missing | - | %s |"
                         % r["status"]["sr3"])
            for run in r["sr3"]:
                n = run["n"]
                b = r["sr3_base"]
                note = ("%.1f s/image; subsample: %d central %dx%d HR crops; on the same crops bicubic SSIM "
                        "%.4f PSNR %.2f, fast %s" % (
                            run["seconds"], n, c.a.sr3_size, c.a.sr3_size, mean_of(b["bicubic"][:n], "ssim"),
                            mean_of(b["bicubic"][:n], "psnr"), "SSIM %.4f PSNR %.2f" % (
                                mean_of(b["fast"][:n], "ssim"), mean_of(b["fast"][:n], "psnr"))
                            if "fast" in b else "missing"))
                start = ", start %d" % run["start"] if run.get("start") else ""
                L.append(sr_row("SR3 %s %d steps%s, %d px crops" % (run["sampler"].upper(), run["steps"], start,
                                                                    c.a.sr3_size), run["rows"], None, note))
            L.append("")
    return L


SR_LABELS = {"bicubic": "bicubic", "lanczos": "Lanczos-3", "fast_old": "fast, old (EDSR-like)", "fast": "fast (shipped)"}


def lanczos_up(x, s):
    """HxW or HxWx3 floats -> Lanczos-3 upsampled by s (PIL, float mode, per channel)."""
    chans = [x] if x.ndim == 2 else [x[:, :, k] for k in range(x.shape[2])]
    up = [np.asarray(Image.fromarray(ch.astype(np.float32), "F").resize((ch.shape[1] * s, ch.shape[0] * s),
                                                                         Image.LANCZOS)) for ch in chans]
    return np.clip(up[0] if x.ndim == 2 else np.stack(up, axis=2), 0, 1)


def fast_model(c, s):
    """What `upscale --model fast --scale s` runs: models/fast_x<s>, else (4x) the 2x net twice."""
    return c.model("fast_x%d.safetensors" % s) or (c.model("fast_x2.safetensors") if s == 4 else None)


def model_arch(path):
    """The metadata arch of a safetensors file (rdn, srfast, ...)."""
    import struct
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        meta = json.loads(f.read(n)).get("__metadata__", {})
    return {"rdn": "RDN", "srfast": "EDSR-like"}.get(meta.get("arch"), meta.get("arch", "?"))


def sr_row(name, rows, f, note):
    l1 = np.mean([mean_of(rows, "l1_" + ch, 255) for ch in CH_RGB])
    l2 = np.mean([mean_of(rows, "l2_" + ch, 255 ** 2) for ch in CH_RGB])
    fid = "%.4g | %.3g" % (f["fid"], 1e3 * f["kid"]) if f else "- | -"
    hf = [r["hf"] for r in rows if r.get("hf")]
    hf = float(np.exp(np.mean(np.log(hf)))) if hf else float("nan")  # a ratio: geometric mean
    return "| %s | %d | %.3f | %.2f | %.2f | %.4f | %s | %.3f | %s |" % (
        name, len(rows), l1, l2, mean_of(rows, "psnr"), mean_of(rows, "ssim"), fid, hf, note)


def sr3_kind(path, scale):
    """How an SR3 file works at `scale`, from its metadata."""
    import struct
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        meta = json.loads(f.read(n)).get("__metadata__", {})
    if meta.get("base") == "fast":
        k = "SR3 refining the fast net (%s), colour in one pass" % meta.get("base_file", "?")
    else:
        k = "SR3 over %s, one plane at a time" % ("bicubic" if meta.get("target") == "residual" else "nothing")
    if int(meta.get("scale", scale)) != scale:
        k += ", the %sx file twice" % meta.get("scale")
    return k + ", start step %s," % meta.get("start_step", "2000")


# ------------------------------------------------------------ pipeline
def square128(img):
    h, w = img.shape[:2]
    k = min(h, w)
    sq = img[(h - k) // 2:(h - k) // 2 + k, (w - k) // 2:(w - k) // 2 + k]
    return np.asarray(Image.fromarray(sq).resize((128, 128), Image.BOX)) / 255.0


# (name, --stages, options, images): the default chain as a user runs it, the seed's order (SR, then
# a bilateral filter) with the fast net on every image and with SR3 on the first few (CPU cost)
PIPE_VARIANTS = (
    ("default run", [], [], "all"),
    ("seed's order, fast 2x", ["--stages", "colorize,upscale,denoise"], ["--method", "bilateral", "--strength", "1"],
     "all"),
    ("seed's order, SR3 DDIM 10", ["--stages", "colorize,upscale,denoise"],
     ["--model", "sr3", "--sampler", "ddim", "--steps", "10", "--seed", "0", "--method", "bilateral", "--strength", "1"],
     "sr3"),
)


def part_pipeline(c):
    res = {}
    have = c.model("colorizer.safetensors") and c.model("fast_x2.safetensors")
    for src, _ in SOURCES:
        imgs = test_images(src, c.a.n_pipe)
        if imgs is None:
            continue
        base = fresh(c.work, "pipeline", src)
        gt_dir, in_dir = fresh(base, "gt"), fresh(base, "in")
        gts, ins = [], []
        for i, (_, img) in enumerate(imgs):
            gt = square128(img)
            gts.append(os.path.join(gt_dir, "%03d.png" % i))
            ins.append(os.path.join(in_dir, "%03d.png" % i))
            write_png(gts[-1], gt, 8)
            write_png(ins[-1], grey_same_l(box_down(gt, 2)), 16)
        methods, status = {}, {}
        bic = fresh(base, "bicubic")
        lst = os.path.join(base, "bicubic.list")
        with open(lst, "w") as f:
            f.write("".join("%s\t%s\n" % (p, os.path.join(bic, os.path.basename(p))) for p in ins))
        c.timed("bicubic", ["eval", "--bicubic", 2, lst])
        methods["bicubic"] = [os.path.join(bic, os.path.basename(p)) for p in ins]
        n_all, n_sr3 = len(ins), min(len(ins), c.a.n_pipe_sr3)
        for name, stages, extra, k in PIPE_VARIANTS:
            k = n_all if k == "all" else n_sr3
            if not have:
                status[name] = "missing (models/colorizer.safetensors or fast_x2.safetensors not shipped)"
                continue
            src_dir = in_dir
            if k < len(ins):
                src_dir = fresh(base, "in_first%d" % k)
                for p in ins[:k]:
                    shutil.copy(p, src_dir)
            d = fresh(base, "out_" + re.sub("[^a-z0-9]+", "_", name))
            dt = c.timed("pipeline", ["run"] + stages + ["--threads", c.a.threads, "--quiet", "--in-stretch", "none",
                                                         "--scale", 2] + extra + [src_dir, "-o", d])
            methods[name] = [os.path.join(d, os.path.basename(p)) for p in ins[:k]]
            status[name] = "%.2f s/image%s" % (dt / k, "" if k == len(ins) else "; first %d images only" % k)
        rows = {m: c.pairs(list(zip(v, gts)), "pipe_%s_%s" % (src, m.replace(" ", "_").replace(",", "")))
                for m, v in methods.items()}
        res[src] = dict(n=len(imgs), rows=rows, status=status, gt=gts, ins=ins, methods=methods)
    return res


def table_pipeline(res):
    L = ["## Pipeline: grey 64x64 -> colour 128x128", "",
         "Truth: the test image, centre square, area-resized to 128x128; input: its 2x box downsample "
         "as grey with the same L* (16-bit PNG, so every run has `--in-stretch none`: the input is a display "
         "render). Rows: `astroenh run --scale 2` with its default stages (colorize, upscale with the fast "
         "net, denoise with --strength auto); the seed's order (colorize, 2x, then a bilateral filter: "
         "`--stages colorize,upscale,denoise --method bilateral --strength 1`) with the fast net, and with "
         "SR3 (DDIM 10 steps, seed 0) on the first images only (CPU cost); bicubic 2x of the grey input "
         "(compared as grey). SSIM: "
         "Gaussian window, sRGB in [0,1], mean of channels. The seed paper's figure is on 100 Galaxy10 "
         "DECaLS test images; our DECaLS test split has the number of images given (all of them "
         "when fewer than 100).", "",
         "| data | method | images | SSIM mean | SSIM max | SSIM min | PSNR mean | notes |",
         "|---|---|---|---|---|---|---|---|",
         "| Galaxy10 DECaLS (seed paper) | grey -> colour -> 2x | %d | %.3f | %.3f | - | - | published, not "
         "measured here |" % (SEED_PIPELINE[2], SEED_PIPELINE[0], SEED_PIPELINE[1])]
    for src, title in SOURCES:
        if src not in res:
            L.append("| %s | - | - | - | - | - | - | data not present |" % title)
            continue
        r = res[src]
        for name in [v[0] for v in PIPE_VARIANTS] + ["bicubic"]:
            if name not in r["rows"]:
                L.append("| %s | %s | missing | missing | missing | missing | missing | %s |"
                         % (title, name, r["status"][name]))
                continue
            ss = [x["ssim"] for x in r["rows"][name]]
            note = r["status"].get(name, "grey bicubic, in C")
            if len(ss) < r["n"]:
                note += "; on the same images: default run SSIM %.3f, bicubic %.3f" % (
                    mean_of(r["rows"]["default run"][:len(ss)], "ssim"), mean_of(r["rows"]["bicubic"][:len(ss)], "ssim"))
            L.append("| %s | %s | %d | %.3f | %.3f | %.3f | %.2f | %s |" % (
                title, name, len(ss), np.mean(ss), np.max(ss), np.min(ss), mean_of(r["rows"][name], "psnr"), note))
    return L + [""]


# ------------------------------------------------------------ denoise
def part_denoise(c):
    work = os.path.join(c.work, "denoise")
    shutil.rmtree(work, ignore_errors=True)
    md = os.path.join(c.work, "denoise_bench.md")
    cmd = [sys.executable, os.path.join(REPO, "scripts", "bench_denoise.py"), "--bin", c.bin, "--n", c.a.n_denoise,
           "--threads", c.a.threads, "--big", 0, "--variants", "", "--out", md, "--keep", work]
    t0 = time.perf_counter()
    p = subprocess.run([str(x) for x in cmd], capture_output=True, text=True, env=c.env)
    c.timings["denoise bench"] = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError("bench_denoise.py failed:\n" + p.stderr[-3000:])
    import bench_denoise as bd
    imgs = bd.load_images("test", c.a.n_denoise, 384)
    clean_dir = fresh(work, "clean")
    pairs, srcs = [], []
    for i, (src, _, img) in enumerate(imgs):
        name = "%03d_%s.png" % (i, src)
        Image.fromarray(img).save(os.path.join(clean_dir, name))
        pairs.append((os.path.join(work, "out", name), os.path.join(clean_dir, name)))
        srcs.append(src)
    rows = c.pairs(pairs, "denoise")
    inp = c.pairs([(os.path.join(work, "in", os.path.basename(t)), t) for _, t in pairs], "denoise_in")
    return dict(md=open(md).read(), rows=rows, inp=inp, srcs=srcs, work=work, clean=clean_dir)


def table_denoise(res):
    body = res["md"].split("\n")
    body = [("##" + l) if l.startswith("# ") else l for l in body]
    body = [("#" + l) if l.startswith("## ") and not l.startswith("## Denoise") else l for l in body]
    L = ["## Denoise: synthetic artifact benchmark (scripts/bench_denoise.py)", "",
         "The denoise issue's benchmark, run by `make eval` with fewer images and no large-frame timing "
         "(CPU budget); its own metrics (PSNR in Python, SSIM = skimage's default 7x7 window). Below it, "
         "the astroenh outputs re-scored with the C metrics (`astroenh eval`, Gaussian SSIM) as a "
         "cross-check: PSNR must agree with the bench's 'PSNR all'.", ""]
    L += [l for l in body[1:]]
    L += ["", "C metrics of the same files (mean over images):", "",
          "| source | images | input PSNR | input SSIM | astroenh PSNR | astroenh SSIM |", "|---|---|---|---|---|---|"]
    for src, title in [("all", "all")] + SOURCES:
        idx = [i for i, s in enumerate(res["srcs"]) if src == "all" or s == src]
        if not idx:
            continue
        sel = lambda rows: [rows[i] for i in idx]  # noqa: E731
        L.append("| %s | %d | %.2f | %.4f | %.2f | %.4f |" % (
            title, len(idx), mean_of(sel(res["inp"]), "psnr"), mean_of(sel(res["inp"]), "ssim"),
            mean_of(sel(res["rows"]), "psnr"), mean_of(sel(res["rows"]), "ssim")))
    return L + [""]


# ------------------------------------------------------------ training curves
def training_logs(c):
    """{model: (csv path, rows)} for each shipped model, from the committed eval/train_*.csv
    (falling back to runs/<run>/log.csv, which a fresh clone does not have)."""
    out = {}
    cands = [(("colorizer" if v == "lab" else "colorizer_" + v), v,
              ["eval/train_colorizer%s.csv" % ("" if v == "lab" else "_variants"), "runs/%s/log.csv" % v])
             for v in ("lab", "rgb", "basic")]
    cands = [(n, n + ".safetensors", paths, v) for n, v, paths in cands]
    for s in (2, 4):
        for net in ("fast", "sr3"):
            cands.append(("%s_x%d" % (net, s), "%s_x%d.safetensors" % (net, s),
                          ["eval/train_sr_%s_x%d.csv" % (net, s), "runs/%s_x%d/log.csv" % (net, s)], None))
    for name, model, paths, variant in cands:
        if not c.model(model):
            continue
        for p in paths:
            full = os.path.join(REPO, p)
            if os.path.exists(full):
                rows = list(csv.DictReader(open(full)))
                if variant and rows and "variant" in rows[0]:
                    rows = [r for r in rows if r["variant"] == variant]
                if rows:
                    out[name] = (p, rows)
                    break
        else:
            out[name] = (None, [])
    return out


def series(rows, key):
    xs, ys = [], []
    for r in rows:
        if r.get(key) not in (None, ""):
            xs.append(float(r["step"]))
            ys.append(float(r[key]))
    return xs, ys


# ------------------------------------------------------------ figures
def plt_setup():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def show(ax, path, title=None, size=None):
    a = read_png(path)
    if size and a.shape[0] != size:  # LR shown at the output size, nearest
        k = size // a.shape[0]
        a = np.repeat(np.repeat(a, k, 0), k, 1)
    ax.imshow(np.clip(a, 0, 1), cmap="gray" if a.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)


def grid(c, name, rows, cols, suptitle):
    """rows: list of lists of paths (None = empty), cols: titles."""
    plt = plt_setup()
    fig, ax = plt.subplots(len(rows), len(cols), figsize=(1.9 * len(cols), 1.9 * len(rows)), squeeze=False)
    for i, r in enumerate(rows):
        size = max(read_png(p).shape[0] for p in r if p)
        for j, p in enumerate(r):
            if p:
                show(ax[i][j], p, cols[j] if i == 0 else None, size)
            else:
                ax[i][j].axis("off")
    fig.suptitle(suptitle, fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(c.fig, name), dpi=64)
    plt.close(fig)


def figures(c, R):
    os.makedirs(c.fig, exist_ok=True)
    made = []
    col = R.get("colorization", {})
    for src, title in COLOR_SOURCES:
        if src in col:
            r = col[src]
            names = [m for m in r["methods"] if m not in ("mean_ab", "blur4", "blur2")]
            idx = np.linspace(0, r["n"] - 1, 4).round().astype(int)
            rows = [[r["methods"][m][i] for m in names] + [r["gt"][i]] for i in idx]
            grid(c, "colorization_%s.png" % src, rows, ["input (grey)" if m == "grey" else m for m in names] + ["truth"],
                 "Colorization, %s (test split): input / outputs / truth" % title)
            made.append("colorization_%s.png" % src)
    sr = R.get("sr", {})
    for s in (2, 4):
        rows = []
        for src, _ in SOURCES:
            if src not in sr:
                continue
            r = sr[src]["scales"][s]
            best = r["sr3"][-1] if r["sr3"] else None
            for i in range(min(2, sr[src]["n"])):
                rows.append([r["lr"][i]] + [r["methods"][m][i] for m in r["methods"]] +
                            [best["paths"][i] if best and i < best["n"] else None] + [sr[src]["gt"][i]])
        if rows:
            r = sr[SOURCES[0][0]]["scales"][s] if SOURCES[0][0] in sr else sr[SOURCES[1][0]]["scales"][s]
            best = r["sr3"][-1] if r["sr3"] else None
            cols = ["LR (nearest)"] + list(r["methods"]) + [
                "SR3 %s %d" % (best["sampler"], best["steps"]) if best else "SR3 (missing)"] + ["HR truth"]
            grid(c, "sr_x%d.png" % s, rows, cols, "Super-resolution %dx: galaxies (top), nebulae (bottom)" % s)
            made.append("sr_x%d.png" % s)
    made += fig_pipeline(c, R.get("pipeline", {}))
    made += fig_sr3(c, sr)
    dn = R.get("denoise")
    if dn:
        idx = [i for i, s in enumerate(dn["srcs"])][:4]
        rows = [[os.path.join(dn["work"], "in", "%03d_%s.png" % (i, dn["srcs"][i])),
                 os.path.join(dn["work"], "out", "%03d_%s.png" % (i, dn["srcs"][i])),
                 os.path.join(dn["clean"], "%03d_%s.png" % (i, dn["srcs"][i]))] for i in idx]
        grid(c, "denoise.png", rows, ["input (injected artifacts + noise)", "astroenh denoise", "clean truth"],
             "Denoise benchmark (synthetic artifacts on test images)")
        made.append("denoise.png")
    made += fig_curves(c)
    return made


def fig_pipeline(c, pipe):
    if not pipe:
        return []
    made = []
    rows = []
    for src, _ in SOURCES:
        if src in pipe and "default run" in pipe[src]["methods"]:
            r = pipe[src]
            for i in range(min(3, r["n"])):
                rows.append([r["ins"][i], r["methods"]["bicubic"][i], r["methods"]["default run"][i], r["gt"][i]])
    if rows:
        grid(c, "pipeline.png", rows, ["input 64x64 grey", "bicubic 2x", "astroenh run --scale 2", "truth 128x128"],
             "Pipeline grey 64 -> colour 128: galaxies (top), nebulae (bottom)")
        made.append("pipeline.png")
    plt = plt_setup()
    fig, ax = plt.subplots(1, 1, figsize=(6, 3.6))
    drawn = False
    for src, title in SOURCES:
        if src in pipe and "default run" in pipe[src]["rows"]:
            ss = [x["ssim"] for x in pipe[src]["rows"]["default run"]]
            ax.hist(ss, bins=20, range=(0, 1), alpha=0.6, label="%s (n=%d, mean %.3f)" % (title, len(ss), np.mean(ss)))
            drawn = True
    if drawn:
        ax.axvline(SEED_PIPELINE[0], color="k", ls="--", lw=1, label="seed paper mean %.3f" % SEED_PIPELINE[0])
        ax.set_xlabel("SSIM, grey 64 -> colour 128 (default run)")
        ax.set_ylabel("images")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(os.path.join(c.fig, "pipeline_ssim_hist.png"), dpi=90)
        made.append("pipeline_ssim_hist.png")
    plt.close(fig)
    return made


def fig_sr3(c, sr):
    runs = [(src, s, r) for src, _ in SOURCES if src in sr for s in (2, 4) for r in sr[src]["scales"][s]["sr3"]]
    if not runs:
        return []
    plt = plt_setup()
    fig, ax = plt.subplots(1, 3, figsize=(12, 3.5))
    for src, title in SOURCES:
        for s in (2, 4):
            for sampler in ("ddim", "ddpm"):
                pts = sorted((r["steps"], mean_of(r["rows"], "ssim"), mean_of(r["rows"], "psnr"), r["seconds"], r["n"])
                             for q, t, r in runs if q == src and t == s and r["sampler"] == sampler)
                if not pts:
                    continue
                lab = "%s %dx %s" % (title.split(" ")[0], s, sampler.upper())
                x = [p[0] for p in pts]
                for k, a in zip((1, 2, 3), ax):
                    a.plot(x, [p[k] for p in pts], "o-", label=lab)
    for a, t in zip(ax, ("SSIM", "PSNR (dB)", "seconds / image (CPU, wall)")):
        a.set_xscale("log")
        a.set_xlabel("sampling steps")
        a.set_title(t, fontsize=9)
        a.grid(alpha=0.3)
    ax[0].legend(fontsize=6)
    fig.suptitle("SR3: quality and time against steps (subsampled test images, see results.md)", fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(c.fig, "sr3_steps.png"), dpi=90)
    plt.close(fig)
    return ["sr3_steps.png"]


def fig_curves(c):
    logs = training_logs(c)
    if not logs:
        return []
    plt = plt_setup()
    ncol = min(3, len(logs))
    nrow = (len(logs) + ncol - 1) // ncol
    fig, ax = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 3.2 * nrow), squeeze=False)
    for a in ax.flat[len(logs):]:
        a.axis("off")
    for a, (name, (path, rows)) in zip(ax.flat, logs.items()):
        if not rows:
            a.text(0.5, 0.5, "no training CSV", ha="center")
            a.set_title(name, fontsize=9)
            continue
        k1 = "loss_l1" if name.startswith("colorizer") else "train_loss"
        if rows[0].get("val_gain") is not None:
            # the colorizer's loss changed kind mid-run (see its model card): its val gain over grey
            # (dB, mean over sources) is the comparable curve
            k1 = "val_gain"
        x, y = series(rows, k1)
        a.plot(x, y, label="train " + k1)
        a.set_xlabel("step")
        a.set_ylabel(k1, fontsize=8)
        b = a.twinx()
        for key, style in (("val_psnr", "r-"), ("val_psnr_ddim20", "m-"), ("val_psnr_bicubic", "k:")):
            x2, y2 = series(rows, key)
            if x2:
                b.plot(x2, y2, style, label=key)
        b.set_ylabel("val PSNR (dB)", fontsize=8)
        a.set_title("%s (%s)" % (name, path), fontsize=7)
        h1, l1 = a.get_legend_handles_labels()
        h2, l2 = b.get_legend_handles_labels()
        a.legend(h1 + h2, l1 + l2, fontsize=6)
    fig.suptitle("Training curves of the shipped models (from the training CSVs)", fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(c.fig, "training_curves.png"), dpi=90)
    plt.close(fig)
    return ["training_curves.png"]


# ------------------------------------------------------------ report
def git_rev():
    try:
        return subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True).stdout.strip()
    except OSError:
        return "?"


def models_section(c):
    L = ["## Models", "", "| file | status | size | SHA-256 (first 16) |", "|---|---|---|---|"]
    import hashlib
    names = ["colorizer.safetensors", "colorizer_rgb.safetensors", "colorizer_basic.safetensors",
             "fast_x2.safetensors", "fast_x4.safetensors", "sr3_x2.safetensors", "sr3_x4.safetensors"]
    names += sorted(n for n in os.listdir(c.models) if n.endswith(".safetensors") and n not in names)
    for n in names:
        p = c.model(n)
        if p:
            h = hashlib.sha256(open(p, "rb").read()).hexdigest()[:16]
            L.append("| models/%s | shipped | %.1f MB | %s |" % (n, os.path.getsize(p) / 1e6, h))
        elif n == "fast_x4.safetensors" and c.model("fast_x2.safetensors"):
            L.append("| models/%s | not shipped: `--scale 4` runs fast_x2 twice | - | - |" % n)
        else:
            L.append("| models/%s | missing | - | - |" % n)
    return L + [""]


def write_report(c, R, made, seconds):
    L = ["# astroenh evaluation (`make eval`)", "",
         "Regenerated by `make eval` (scripts/eval_all.py driving the C binary; every network runs in "
         "`astroenh`, every metric is computed by `astroenh eval`). Revision %s; %d threads; total wall "
         "time %.0f s on this shared 2-core CPU (per part: %s). Test split: data/splits/test.txt (objects "
         "never trained on). Galaxies = decals256 (DECaLS cutouts), nebulae = Stellarium's nebula textures."
         % (git_rev(), c.a.threads, seconds, ", ".join("%s %.0f s" % kv for kv in c.part_times.items())), ""]
    if SPLIT != "test":
        L += ["**This run used the %s split** (`--split %s`), to choose settings by; the test-split "
              "tables are those of `make eval`." % (SPLIT, SPLIT), ""]
    L += models_section(c)
    if "colorization" in R:
        L += table_colorization(R["colorization"], c)
    if "sr" in R:
        L += table_sr(R["sr"], c)
    if "pipeline" in R:
        L += table_pipeline(R["pipeline"])
    if "denoise" in R:
        L += table_denoise(R["denoise"])
    logs = training_logs(c)
    L += ["## Training curves", "", "figures/training_curves.png, from: " +
          ", ".join("%s <- %s" % (k, v[0] or "no CSV found") for k, v in logs.items()), ""]
    L += ["## Figures", ""] + ["- figures/%s" % m for m in made] + [""]
    if c.fid_rows and not fid_info(c)[1]:
        L += ["## FID", "", "- " + fid_info(c)[0], ""]
    else:
        why = ("the file given, %s, does not hold them (its metadata)" % c.a.inception
               if c.a.inception else "their file was not given to this run")
        L += ["## Not done here", "",
              "- FID with the standard InceptionV3 (pytorch-fid) weights: %s. Run `make eval INCEPTION=FILE` "
              "with FILE from scripts/convert_inception.py (README, section eval); the FID*/KID* columns "
              "are not comparable with published FID." % why, ""]
    with open(os.path.join(c.a.out, "results.md"), "w") as f:
        f.write("\n".join(L) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=os.path.join(REPO, "astroenh"))
    ap.add_argument("--models", default=os.path.join(REPO, "models"))
    ap.add_argument("--out", default=os.path.join(REPO, "eval"))
    ap.add_argument("--work", default=os.path.join(REPO, "build", "eval"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--parts", default="colorization,sr,pipeline,denoise")
    ap.add_argument("--n-color", type=int, default=0, help="colorization images per source (0 = all)")
    ap.add_argument("--n-sr", type=int, default=12, help="SR images per source")
    ap.add_argument("--sr-size", type=int, default=128, help="SR HR crop side")
    ap.add_argument("--sr3-size", type=int, default=64, help="HR side of the SR3 subsample crops")
    ap.add_argument("--sr3-plan", default="ddim:5:1,ddim:10:1,ddim:25:1,ddim:50:1,ddpm:100:1",
                    help="SR3 runs SAMPLER:STEPS:IMAGES per source and scale (subsampled on a CPU)")
    ap.add_argument("--sr3-full-scales", default="2,4", help="scales that get the --sr3-full rows")
    ap.add_argument("--split", default="test", choices=("test", "val"),
                    help="images of the colorization, SR and pipeline parts (val: to choose settings)")
    ap.add_argument("--sr3-full", default="ddim:10,ddim:25",
                    help="SAMPLER:STEPS[,...] of the SR3 rows on all SR images; empty: none")
    ap.add_argument("--n-pipe", type=int, default=100, help="pipeline images per source")
    ap.add_argument("--n-pipe-sr3", type=int, default=3, help="pipeline images per source with SR3")
    ap.add_argument("--n-denoise", type=int, default=20)
    ap.add_argument("--inception", default=os.environ.get("INCEPTION") or None,
                    help="pytorch-fid's InceptionV3 weights converted by scripts/convert_inception.py: FID on "
                         "its pool3 features (default: $INCEPTION; none: features of a network trained here)")
    a = ap.parse_args()
    global SPLIT
    SPLIT = a.split
    if a.inception:
        if not os.path.isfile(a.inception):
            sys.exit("eval_all.py: --inception %s: no such file" % a.inception)
        a.inception = os.path.abspath(a.inception)
    if not os.access(a.bin, os.X_OK):
        sys.exit("eval_all.py: no astroenh binary at %s (run make)" % a.bin)
    if not ad.source_available("stellarium"):
        subprocess.run([sys.executable, os.path.join(REPO, "scripts", "make_data.py")], check=True)
    os.makedirs(a.work, exist_ok=True)
    # a private copy, so that a rebuild during the run cannot swap the binary between parts
    private = os.path.join(os.path.abspath(a.work), "astroenh")
    shutil.copy2(a.bin, private)
    a.bin = private
    c = Ctx(a)
    c.part_times = {}
    shutil.rmtree(c.fig, ignore_errors=True)
    t0 = time.perf_counter()
    R = {}
    for part in a.parts.split(","):
        t1 = time.perf_counter()
        R[part] = {"colorization": part_colorization, "sr": part_sr, "pipeline": part_pipeline,
                   "denoise": part_denoise}[part](c)
        c.part_times[part] = time.perf_counter() - t1
        print("eval: %s done in %.0f s" % (part, c.part_times[part]), flush=True)
    made = figures(c, R)
    write_report(c, R, made, time.perf_counter() - t0)
    print("eval: wrote %s/results.md and %d figures in %.0f s" % (a.out, len(made), time.perf_counter() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
