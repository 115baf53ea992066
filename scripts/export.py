#!/usr/bin/env python3
"""export.py - exports a training checkpoint's generator to .safetensors (fp16 by default).

Generic part (usable by every model script): write_safetensors(path, {name: array}, metadata)
writes the format by hand (u64 LE header length, JSON header with "__metadata__" of strings, data;
offsets 8-byte aligned) so it needs neither the `safetensors` module nor torch; read_safetensors()
reads it back. Tensors keep their PyTorch state_dict names; integer buffers such as BatchNorm's
num_batches_tracked (unused at inference) are left out and listed in the metadata ("omitted").

Colorizer part (--kind colorizer, the default): metadata that src/models/colorizer.c reads
(architecture, encoder, base, in_ch, out_ch, space, bn_eps) plus provenance: training data, steps,
phases, time, hardware, last validation metrics from runs/<variant>/log.csv, git revision.

  python3 scripts/export.py --variant lab --out models/colorizer.safetensors
"""
import argparse
import csv
import json
import os
import platform
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_DT = {np.dtype("float16"): "F16", np.dtype("float32"): "F32", np.dtype("float64"): "F64",
       np.dtype("int64"): "I64", np.dtype("int32"): "I32", np.dtype("uint8"): "U8"}
_DT_INV = {v: k for k, v in _DT.items()}


def write_safetensors(path, tensors, metadata=None):
    """tensors: {name: numpy array} (kept in the given order); metadata: {str: str}."""
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, arr in tensors.items():
        arr = np.ascontiguousarray(arr)
        if arr.dtype not in _DT:
            raise ValueError("%s: dtype %s not supported" % (name, arr.dtype))
        b = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": _DT[arr.dtype], "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        pad = (-len(b)) % 8
        blobs.append(b + b"\0" * pad)  # keeps the next tensor 8-byte aligned
        off += len(b) + pad
    hj = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hj += b" " * ((-len(hj)) % 8)
    tmp = path + ".tmp"
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(tmp, "wb") as f:
        f.write(len(hj).to_bytes(8, "little"))
        f.write(hj)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def read_safetensors(path):
    """-> ({name: numpy array}, metadata dict)."""
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    out = {}
    for name, h in header.items():
        b, e = h["data_offsets"]
        out[name] = np.frombuffer(data[b:e], dtype=_DT_INV[h["dtype"]].newbyteorder("<")).reshape(h["shape"])
    return out, meta


def state_dict_arrays(sd, dtype=np.float16):
    """Float tensors of a state_dict as numpy `dtype`; returns (arrays, omitted names)."""
    arrays, omitted = {}, []
    for k, v in sd.items():
        if not v.is_floating_point():
            omitted.append(k)
            continue
        arrays[k] = v.detach().cpu().float().numpy().astype(dtype)
    return arrays, omitted


def git_revision():
    try:
        r = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True).stdout.strip()
        return r.stdout.strip() + ("-dirty" if dirty else "")
    except OSError:
        return "unknown"


def last_val(log_csv):
    """The last row of a training log.csv with validation metrics, or {}."""
    if not os.path.exists(log_csv):
        return {}
    rows = [r for r in csv.DictReader(open(log_csv)) if r.get("val_l1_ab")]
    return rows[-1] if rows else {}


def colorizer_metadata(ckpt, variant, log_csv, counts):
    import colornet as cn
    args = ckpt["args"]
    enc, space, out_ch = cn.VARIANTS[variant]
    v = last_val(log_csv)
    gan_start = ckpt.get("gan_start")
    if gan_start is None:
        gan_start = min(ckpt["step"], args["pretrain_steps"])
    return {
        "architecture": "colorizer_unet", "encoder": enc, "base": str(args["base"]), "in_ch": "1",
        "out_ch": str(out_ch), "space": space, "bn_eps": "1e-05", "norm": "batchnorm (eval: running stats)",
        "upsample": "nearest", "input": "L*/50-1 (CIE Lab D65 of sRGB)",
        "output": "tanh; a*b*/110" if space == "lab" else "tanh; sRGB*2-1",
        "paper": "Isola et al. 2017 pix2pix (U-Net + PatchGAN), ResNet-18-shaped encoder, widths /%d"
                 % (64 // args["base"]),
        "training_data": "data/splits/train.txt: %s" % ", ".join("%s %d" % kv for kv in counts.items()),
        "steps": str(ckpt["step"]), "pretrain_l1_steps": str(gan_start),
        "gan_steps": str(ckpt["step"] - gan_start),
        "lambda_l1": str(args["lambda_l1"]), "lr": str(args["lr"]), "adam_betas": "0.5,0.999",
        "crop": str(args["crop"]), "batch": str(args["batch"]), "seed": str(args["seed"]),
        "train_minutes": "%.1f" % (ckpt["elapsed"] / 60.0),
        "hardware": "%s, device %s, %d torch thread(s)" % (platform.processor() or platform.machine(),
                                                          args["device"], args["threads"]),
        "val_l1_ab": v.get("val_l1_ab", ""), "val_psnr_rgb": v.get("val_psnr", ""),
        "val_set": "%d central %dx%d crops of data/splits/val.txt" % (args["val_count"], args["val_crop"],
                                                                    args["val_crop"]),
        "git_revision": git_revision(),
        "ab_down": str(args.get("ab_down", 1)),
        "regression_loss": {"l1": "L1 on a*b*", "l2": "L2 on a*b*",
                            "rgb2": "squared sRGB error of L* + upsampled a*b*",
                            "psnr": "mean over crops of log10 sRGB MSE of L* + upsampled a*b* (i.e. -PSNR/10)"}[args.get("loss", "l1")],
        "sources_balanced": "yes" if args.get("balance") else "no",
        "val_gain_db_by_source": v.get("val_gain_by_source", ""),
    }


def split_counts(split="train"):
    import astrodata as ad
    counts = {}
    for src, _ in ad.list_split(split):
        counts[src] = counts.get(src, 0) + 1
    return counts


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kind", default="colorizer", choices=["colorizer"])
    ap.add_argument("--variant", default="lab")
    ap.add_argument("--ckpt", help="default runs/<variant>/ckpt.pt")
    ap.add_argument("--key", default="G", help="state_dict entry of the checkpoint to export")
    ap.add_argument("--out", required=True)
    ap.add_argument("--dtype", choices=["fp16", "fp32"], default="fp16")
    ap.add_argument("--max-mb", type=float, default=25.0)
    ap.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE",
                    help="extra __metadata__ (e.g. the history of a run resumed with other settings)")
    a = ap.parse_args()
    import torch
    ckpt_path = a.ckpt or os.path.join(REPO, "runs", a.variant, "ckpt.pt")
    a.variant = torch.load(ckpt_path, map_location="cpu")["args"].get("variant", a.variant)
    ckpt = torch.load(ckpt_path, map_location="cpu")
    arrays, omitted = state_dict_arrays(ckpt[a.key], np.float16 if a.dtype == "fp16" else np.float32)
    meta = colorizer_metadata(ckpt, a.variant, os.path.join(os.path.dirname(ckpt_path), "log.csv"),
                              split_counts())
    meta["dtype"] = a.dtype
    meta.update(kv.split("=", 1) for kv in a.meta)
    meta["omitted"] = ("%d x *.num_batches_tracked (BatchNorm step counters, int64, unused in eval)" % len(omitted)
                       if omitted and all(k.endswith("num_batches_tracked") for k in omitted)
                       else (",".join(omitted) or "none"))
    write_safetensors(a.out, arrays, meta)
    mb = os.path.getsize(a.out) / 1e6
    print("wrote %s: %d tensors, %.2f MB, step %s, val L1(ab) %s, PSNR %s"
          % (a.out, len(arrays), mb, meta["steps"], meta["val_l1_ab"], meta["val_psnr_rgb"]))
    if mb > a.max_mb:
        print("export: %s is %.1f MB, over the %.0f MB limit" % (a.out, mb, a.max_mb), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
