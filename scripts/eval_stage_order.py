#!/usr/bin/env python3
"""eval_stage_order.py - where the denoise stage belongs in `astroenh run`, by measurement.

The pipeline task of issue 13: grey 64x64 -> colour 128x128 (`astroenh run --scale 2`). Inputs
and truth are built exactly as in scripts/eval_all.py's pipeline part (truth: the test image's
centre square area-resized to 128x128; input: its 2x box downsample as grey with the same L*,
16-bit PNG). Every chain runs in the binary, every metric is the binary's (`astroenh eval
--pairs`: Gaussian-window SSIM and PSNR, sRGB [0,1]). Chains compared, each with the denoise
stage's defaults of the binary given and, as a reference, its former default (`--method all
--remove-stars`) and the wavelet at full strength (`--strength 1`), where the binary knows
--remove-stars:
  denoise,colorize,upscale   (denoise on the 64 px grey input)
  colorize,upscale,denoise   (denoise after super-resolution, where the seed filters)
  colorize,upscale           (no denoise)
  bicubic 2x of the grey input (`astroenh eval --bicubic`), compared as grey.
Also the denoise stage alone on the grey inputs against the untouched inputs (PSNR/SSIM of
denoise(input) vs input: the defaults must leave clean inputs as they are).

Usage: /usr/bin/python3 scripts/eval_stage_order.py [--bin ./astroenh] [--n 100]
       [--sources decals256,nasa,stellarium] [--out eval/stage_order.md]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import astrodata as ad  # noqa: E402
from eval_all import square128, grey_same_l, box_down, write_png  # noqa: E402


def run_bin(binary, args):
    p = subprocess.run([binary] + [str(a) for a in args], capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError("%s %s failed (%d): %s" % (binary, " ".join(map(str, args)), p.returncode,
                                                      p.stderr[-2000:]))
    return p.stdout


def pairs(binary, preds, truths, work, tag):
    lst = os.path.join(work, tag + ".list")
    with open(lst, "w") as f:
        f.write("".join("%s\t%s\n" % pt for pt in zip(preds, truths)))
    out = run_bin(binary, ["eval", "--threads", 1, "--pairs", lst])
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return rows


def summary(rows):
    s = np.array([r["ssim"] for r in rows])
    p = np.array([min(r["psnr"], 99.0) if r["psnr"] is not None else 99.0 for r in rows])
    return s.mean(), s.max(), s.min(), p.mean()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="./astroenh")
    ap.add_argument("--n", type=int, default=100, help="images per source (at most)")
    ap.add_argument("--sources", default="decals256,nasa,stellarium")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=os.path.join(ad.REPO, "eval", "stage_order.md"))
    a = ap.parse_args()
    helptext = run_bin(a.bin, ["denoise", "--help"])
    old_default = ["--method", "all", "--remove-stars"] if "--remove-stars" in helptext else []
    lines = ["# Where denoise belongs in `astroenh run` (grey 64 -> colour 128)", "",
             "Written by `scripts/eval_stage_order.py` (binary `%s`). Truth: test image, centre square "
             "area-resized to 128x128; input: 2x box downsample as grey with the same L* (16-bit PNG). "
             "SSIM/PSNR by `astroenh eval --pairs` (sRGB [0,1]); bicubic is compared as grey. "
             "`denoise alone` rows: denoise(input) against the untouched input." % a.bin, "",
             "| data | chain | denoise options | images | SSIM mean | SSIM max | SSIM min | PSNR mean (dB) |",
             "|---|---|---|---|---|---|---|---|"]
    work = tempfile.mkdtemp(prefix="stage_order_")
    for src in a.sources.split(","):
        if not ad.source_available(src):
            lines.append("| %s | - | - | 0 | not available here | | | |" % src)
            continue
        p = ad.Packed("test", [src])
        n = min(a.n, len(p))
        base = os.path.join(work, src)
        gt_dir, in_dir = os.path.join(base, "gt"), os.path.join(base, "in")
        os.makedirs(gt_dir), os.makedirs(in_dir)
        gts, ins = [], []
        for i in range(n):
            gt = square128(p[i])
            gts.append(os.path.join(gt_dir, "%03d.png" % i))
            ins.append(os.path.join(in_dir, "%03d.png" % i))
            write_png(gts[-1], gt, 8)
            write_png(ins[-1], grey_same_l(box_down(gt, 2)), 16)
        bic = os.path.join(base, "bicubic")
        os.makedirs(bic)
        lst = os.path.join(base, "bicubic.list")
        with open(lst, "w") as f:
            f.write("".join("%s\t%s\n" % (q, os.path.join(bic, os.path.basename(q))) for q in ins))
        run_bin(a.bin, ["eval", "--bicubic", 2, lst])
        res = [("bicubic 2x (grey)", "-", pairs(a.bin, [os.path.join(bic, os.path.basename(q)) for q in ins],
                                                  gts, base, "bic"))]
        variants = [("defaults", [])] + ([("former default: " + " ".join(old_default), old_default),
                                          ("forced: --strength 1", ["--strength", "1"])] if old_default else [])
        chains = ["colorize,upscale", "denoise,colorize,upscale", "colorize,upscale,denoise"]
        for chain in chains:
            for vname, vopts in (variants if "denoise" in chain else [("-", [])]):
                d = os.path.join(base, "out_%s_%s" % (chain.replace(",", "-"), len(vopts)))
                run_bin(a.bin, ["run", "--stages", chain, "--threads", a.threads, "--quiet", "--in-stretch", "none",
                                "--scale", 2] + vopts + [in_dir, "-o", d])
                res.append((chain, vname, pairs(a.bin, [os.path.join(d, os.path.basename(q)) for q in ins], gts,
                                                 base, "c%d" % len(res))))
        for vname, vopts in variants:
            d = os.path.join(base, "dn_%d" % len(vopts))
            run_bin(a.bin, ["denoise", "--threads", a.threads, "--quiet"] + vopts + [in_dir, "-o", d])
            rows = pairs(a.bin, [os.path.join(d, os.path.basename(q)) for q in ins], ins, base, "dn%d" % len(vopts))
            res.append(("denoise alone vs input", vname, rows))
        for chain, vname, rows in res:
            sm, sx, sn, pm = summary(rows)
            lines.append("| %s | %s | %s | %d | %.4f | %.4f | %.4f | %.2f |" % (src, chain, vname, len(rows), sm,
                                                                                sx, sn, pm))
            print(lines[-1], flush=True)
    lines += ["", "PSNR of identical images is counted as 99 dB."]
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote", a.out)


if __name__ == "__main__":
    main()
