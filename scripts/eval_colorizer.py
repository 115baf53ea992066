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
Reference rows (not methods a user can run; they bound what a colorizer can reach):
  mean_ab  - true L* + the training split's mean a*b* (one constant pair, balanced over sources)
  blur4    - true L* + the true a*b* averaged over 4x4 blocks and upsampled bilinearly (what a
             perfect net at ab_down=4 would output: the ceiling of the reduced-resolution recipe)
  blur2    - the same at 2x2 (the ceiling at ab_down=2, the shipped model's setting)
Colourfulness: mean chroma sqrt(a*^2+b*^2) of the output next to the truth's (a grey output has 0).
--split val evaluates on the validation split (for choosing a model); the tables are the test split.
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
    meta.setdefault("ab_down", "1")
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
    lab_p, lab_t = ad.rgb_to_lab(pred_rgb)[0], ad.rgb_to_lab(true_rgb)[0]
    out["chroma"] = float(torch.sqrt(lab_p[1] ** 2 + lab_p[2] ** 2).mean())
    out["chroma_true"] = float(torch.sqrt(lab_t[1] ** 2 + lab_t[2] ** 2).mean())
    return out


def train_mean_ab():
    """The training split's mean a*b*, each source weighted equally (as --balance trains)."""
    means = []
    for src, _ in SOURCES:
        if not ad.source_available(src):
            continue
        p = ad.Packed("train", [src])
        acc = []
        for i in range(len(p)):
            lab = ad.rgb_to_lab(ad.uint8_to_tensor(p[i][None]))
            acc.append(lab[0, 1:].mean(dim=(1, 2)))
        means.append(torch.stack(acc).mean(0))
    return torch.stack(means).mean(0).view(1, 2, 1, 1)


def blur_ab(ab, f=4):
    import torch.nn.functional as F
    xp, (top, left, h, w) = cn.pad_to_multiple(ab, 32 * f)
    y = F.interpolate(F.avg_pool2d(xp, f), scale_factor=f, mode="bilinear", align_corners=False)
    return y[..., top:top + h, left:left + w]


@torch.no_grad()
def evaluate(models, limit, split="test"):
    rows = {}
    mean_ab = train_mean_ab()
    print("training split mean a*b*: %.3f %.3f" % tuple(mean_ab.flatten().tolist()), flush=True)
    for src, _ in SOURCES:
        if not ad.source_available(src):
            continue
        p = ad.Packed(split, [src])
        n = len(p) if limit <= 0 else min(limit, len(p))
        per = {m: [] for m in ["grey", "mean_ab", "blur4", "blur2"] + list(models)}
        for i in range(n):
            rgb = ad.uint8_to_tensor(p[i][None])
            lab = ad.rgb_to_lab(rgb)
            L = lab[:, :1]
            for m in per:
                if m == "grey":
                    ab = torch.zeros_like(lab[:, 1:])
                elif m == "mean_ab":
                    ab = mean_ab.expand_as(lab[:, 1:])
                elif m in ("blur4", "blur2"):
                    ab = blur_ab(lab[:, 1:], int(m[-1]))
                else:
                    G, meta = models[m]
                    ab = cn.predict_ab(G, L, meta["space"], int(meta["ab_down"]))
                out = ad.lab_to_rgb_keep_l(torch.cat([L, ab], 1))
                per[m].append(metrics(out, rgb))
        rows[src] = {m: {k: float(np.mean([r[k] for r in v])) for k in v[0]} for m, v in per.items() if v}
        rows[src]["_n"] = n
        print("%s: %d %s images; PSNR gain over grey: %s" % (src, n, split, ", ".join(
            "%s %+.2f dB" % (m, rows[src][m]["PSNR"] - rows[src]["grey"]["PSNR"]) for m in per)), flush=True)
    return rows


def write(rows, models, out_md, out_csv, seconds, split="test"):
    keys = ["L1_" + c for c in CHANNELS] + ["L2_" + c for c in CHANNELS] + ["PSNR", "SSIM", "chroma", "chroma_true"]
    os.makedirs(os.path.dirname(os.path.abspath(out_csv)), exist_ok=True)
    with open(out_csv, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["source", "method", "images"] + keys)
        for src, r in rows.items():
            for m, v in r.items():
                if m != "_n":
                    w.writerow([src, m, r["_n"]] + ["%.4f" % v[k] for k in keys])
    L = ["# Colorizer metrics on the %s split" % split, "",
         "Written by `scripts/eval_colorizer.py` (%.0f s on this CPU). Test split: data/splits/test.txt "
         "(objects never trained on), images from the packed caches (longest side <= 256 px). Every "
         "method keeps the input's L* and predicts a*b*; output = Lab -> sRGB with the L*-preserving "
         "gamut mapping of the C stage. Networks run in PyTorch from the exported fp16 weights "
         "(tests/test_colorizer.c checks the C engine matches this forward). Values are means over "
         "images of per-image means. RGB errors in 0..255 units, Lab errors in L*/a*/b* units; "
         "PSNR in dB on sRGB in [0,1]; SSIM on sRGB (skimage, data_range 1). Lower L1/L2 and higher "
         "PSNR/SSIM are better." % seconds, "", "Models:", ""]
    L.append("- grey: baseline, a*b* = 0 (L replicated to RGB)")
    L.append("- mean_ab: reference, true L* + the training split's mean a*b* (sources weighted equally)")
    L.append("- blur4: ceiling, true L* + true a*b* averaged over 4x4 blocks, upsampled bilinearly")
    L.append("- blur2: the same over 2x2 blocks (the ceiling of a net predicting a*b* at 1/2 resolution)")
    for m, (G, meta) in models.items():
        L.append("- %s: %s (%s encoder, base %s, %s space, a*b* at 1/%s; %s steps: %s regression + %s cGAN, "
                 "%s min; regression loss: %s)"
                 % (m, meta.get("_path", "?"), meta["encoder"], meta["base"], meta["space"], meta["ab_down"],
                    meta.get("steps"), meta.get("pretrain_l1_steps"), meta.get("gan_steps"),
                    meta.get("train_minutes"), meta.get("regression_loss", "L1 on a*b*")))
    for src, title in SOURCES:
        if src not in rows:
            L += ["", "## %s: source not present here, not evaluated" % title]
            continue
        r = rows[src]
        L += ["", "## %s (%s), %d test images" % (title, src, r["_n"]), ""]
        L.append("| method | " + " | ".join("L1 " + c for c in CHANNELS)
                 + " | PSNR | gain vs grey | SSIM | chroma (truth) |")
        L.append("|---" * (len(CHANNELS) + 5) + "|")
        for m, v in r.items():
            if m != "_n":
                L.append("| %s | " % m + " | ".join("%.3f" % v["L1_" + c] for c in CHANNELS)
                         + " | %.2f | %+.2f | %.4f | %.2f (%.2f) |" % (
                             v["PSNR"], v["PSNR"] - r["grey"]["PSNR"], v["SSIM"], v["chroma"], v["chroma_true"]))
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
    ap.add_argument("--split", choices=("val", "test"), default="test")
    ap.add_argument("--model", action="append", default=[], metavar="NAME=FILE",
                    help="evaluate these .safetensors instead of models/ (repeatable)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    models = {}
    pairs = [kv.split("=", 1) for kv in a.model] or [(m, os.path.join(a.models, fn)) for m, fn in METHODS[1:]]
    for m, path in pairs:
        if os.path.exists(path):
            models[m] = load_model(path)
            models[m][1]["_path"] = os.path.relpath(path, ad.REPO)
    t0 = time.time()
    rows = evaluate(models, a.limit, a.split)
    write(rows, models, a.out, os.path.splitext(a.out)[0] + ".csv", time.time() - t0, a.split)
    return 0


if __name__ == "__main__":
    sys.exit(main())
