#!/usr/bin/env python3
"""eval_colorizer.py - colorizer metrics on the TEST split, per source, against baselines.

For every test image (data/splits/test.txt, from the packed caches: longest side <= 256 px) the
input is the L* of its sRGB pixels; each method predicts a*b*, and the output is Lab (input L*,
predicted a*b*) -> sRGB with the L*-preserving gamut mapping of the C stage
(astrodata.lab_to_rgb_keep_l == ae_lab_to_srgb_keep_l). Methods:
  grey   - the grey baseline (a*b* = 0: L replicated to RGB)
  lab    - models/colorizer.safetensors (ResNet-18-shaped U-Net cGAN, a*b* space; shipped)
  rgb    - models/colorizer_rgb.safetensors (same net predicting sRGB; its a*b* are used)
  basic  - models/colorizer_basic.safetensors (plain conv U-Net, a*b*)
The networks run in PyTorch (float32 from the exported fp16 weights, eval-mode BatchNorm) with
the same reflect padding as the C engine; tests/test_colorizer.c checks the C engine equals this
PyTorch forward on the shipped weights. Metrics (mean over images of per-image means):
per-channel L1 and L2 in sRGB (0..255 units) and in Lab (L*, a*, b* units), PSNR (sRGB, peak 1)
and SSIM (skimage, sRGB, data_range 1). Writes eval/colorizer_metrics.md and .csv.
"""
import argparse
import csv
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import astrodata as ad  # noqa: E402
import colornet as cn  # noqa: E402
import export as ex  # noqa: E402

METHODS = [("grey", None), ("lab", "colorizer.safetensors"), ("rgb", "colorizer_rgb.safetensors"),
           ("basic", "colorizer_basic.safetensors")]
SOURCES = [("decals256", "galaxies (DECaLS)"), ("stellarium", "nebulae/clusters/galaxies (Stellarium)"),
           ("nasa", "NASA image library")]
CHANNELS = ["R", "G", "B", "L*", "a*", "b*"]


def load_model(path):
    arrays, meta = ex.read_safetensors(path)
    G = cn.Generator(meta["encoder"], int(meta["base"]), 1, int(meta["out_ch"]))
    sd = G.state_dict()
    sd.update({k: torch.from_numpy(v.astype(np.float32)) for k, v in arrays.items()})
    G.load_state_dict(sd)
    return G.eval(), meta


def metrics(pred_rgb, true_rgb):
    """Per-image metrics of B=1 x 3 x H x W sRGB tensors in [0,1]."""
    from skimage.metrics import structural_similarity
    d_rgb = (pred_rgb - true_rgb)[0] * 255.0
    d_lab = (ad.rgb_to_lab(pred_rgb) - ad.rgb_to_lab(true_rgb))[0]
    out = {}
    for i, c in enumerate("RGB"):
        out["L1_" + c] = float(d_rgb[i].abs().mean())
        out["L2_" + c] = float((d_rgb[i] ** 2).mean())
    for i, c in enumerate(["L*", "a*", "b*"]):
        out["L1_" + c] = float(d_lab[i].abs().mean())
        out["L2_" + c] = float((d_lab[i] ** 2).mean())
    mse = float(((pred_rgb - true_rgb) ** 2).mean())
    out["PSNR"] = 10 * np.log10(1.0 / max(mse, 1e-12))
    a = pred_rgb[0].permute(1, 2, 0).numpy().astype(np.float64)
    b = true_rgb[0].permute(1, 2, 0).numpy().astype(np.float64)
    out["SSIM"] = float(structural_similarity(a, b, channel_axis=2, data_range=1.0))
    return out


@torch.no_grad()
def evaluate(models, limit):
    rows = {}
    for src, _ in SOURCES:
        if not ad.source_available(src):
            continue
        p = ad.Packed("test", [src])
        n = len(p) if limit <= 0 else min(limit, len(p))
        per = {m: [] for m, _ in METHODS if m == "grey" or m in models}
        for i in range(n):
            rgb = ad.uint8_to_tensor(p[i][None])
            lab = ad.rgb_to_lab(rgb)
            L = lab[:, :1]
            for m in per:
                if m == "grey":
                    ab = torch.zeros_like(lab[:, 1:])
                else:
                    G, meta = models[m]
                    ab = cn.predict_ab(G, L, meta["space"])
                out = ad.lab_to_rgb_keep_l(torch.cat([L, ab], 1))
                per[m].append(metrics(out, rgb))
        rows[src] = {m: {k: float(np.mean([r[k] for r in v])) for k in v[0]} for m, v in per.items() if v}
        rows[src]["_n"] = n
        print("%s: %d test images" % (src, n), flush=True)
    return rows


def write(rows, models, out_md, out_csv, seconds):
    keys = ["L1_" + c for c in CHANNELS] + ["L2_" + c for c in CHANNELS] + ["PSNR", "SSIM"]
    os.makedirs(os.path.dirname(os.path.abspath(out_csv)), exist_ok=True)
    with open(out_csv, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["source", "method", "images"] + keys)
        for src, r in rows.items():
            for m, v in r.items():
                if m != "_n":
                    w.writerow([src, m, r["_n"]] + ["%.4f" % v[k] for k in keys])
    L = ["# Colorizer metrics on the test split", "",
         "Written by `scripts/eval_colorizer.py` (%.0f s on this CPU). Test split: data/splits/test.txt "
         "(objects never trained on), images from the packed caches (longest side <= 256 px). Every "
         "method keeps the input's L* and predicts a*b*; output = Lab -> sRGB with the L*-preserving "
         "gamut mapping of the C stage. Networks run in PyTorch from the exported fp16 weights "
         "(tests/test_colorizer.c checks the C engine matches this forward). Values are means over "
         "images of per-image means. RGB errors in 0..255 units, Lab errors in L*/a*/b* units; "
         "PSNR in dB on sRGB in [0,1]; SSIM on sRGB (skimage, data_range 1). Lower L1/L2 and higher "
         "PSNR/SSIM are better." % seconds, "", "Models:", ""]
    L.append("- grey: baseline, a*b* = 0 (L replicated to RGB)")
    for m, fn in METHODS[1:]:
        if m in models:
            meta = models[m][1]
            L.append("- %s: models/%s (%s encoder, base %s, %s space; %s steps: %s L1 + %s cGAN, %s min)"
                     % (m, fn, meta["encoder"], meta["base"], meta["space"], meta.get("steps"),
                        meta.get("pretrain_l1_steps"), meta.get("gan_steps"), meta.get("train_minutes")))
        else:
            L.append("- %s: models/%s missing - not evaluated" % (m, fn))
    for src, title in SOURCES:
        if src not in rows:
            L += ["", "## %s: source not present here, not evaluated" % title]
            continue
        r = rows[src]
        L += ["", "## %s (%s), %d test images" % (title, src, r["_n"]), ""]
        L.append("| method | " + " | ".join("L1 " + c for c in CHANNELS) + " | PSNR | SSIM |")
        L.append("|---" * (len(CHANNELS) + 3) + "|")
        for m, v in r.items():
            if m != "_n":
                L.append("| %s | " % m + " | ".join("%.3f" % v["L1_" + c] for c in CHANNELS)
                         + " | %.2f | %.4f |" % (v["PSNR"], v["SSIM"]))
        L += ["", "| method | " + " | ".join("L2 " + c for c in CHANNELS) + " |",
              "|---" * (len(CHANNELS) + 1) + "|"]
        for m, v in r.items():
            if m != "_n":
                L.append("| %s | " % m + " | ".join("%.2f" % v["L2_" + c] for c in CHANNELS) + " |")
    os.makedirs(os.path.dirname(out_md), exist_ok=True)
    open(out_md, "w").write("\n".join(L) + "\n")
    print("wrote %s and %s" % (out_md, out_csv))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default=os.path.join(ad.REPO, "models"))
    ap.add_argument("--limit", type=int, default=0, help="images per source (0 = all)")
    ap.add_argument("--out", default=os.path.join(ad.REPO, "eval", "colorizer_metrics.md"))
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    models = {}
    for m, fn in METHODS[1:]:
        path = os.path.join(a.models, fn)
        if os.path.exists(path):
            models[m] = load_model(path)
    t0 = time.time()
    rows = evaluate(models, a.limit)
    write(rows, models, a.out, os.path.splitext(a.out)[0] + ".csv", time.time() - t0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
