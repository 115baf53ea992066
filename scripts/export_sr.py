#!/usr/bin/env python3
"""export_sr.py - exports an SR training checkpoint (EMA weights) to fp16 .safetensors.

  python3 scripts/export_sr.py runs/fast_x2 models/fast_x2.safetensors
  python3 scripts/export_sr.py --all          # the four runs of train_sr_all.sh into models/

The __metadata__ strings are what src/models/srfast.c / sr3.c read
(arch, scale, channels, n_blocks, res_scale | inner_channel, channel_mults,
res_blocks, norm_groups, in_channel, out_channel) plus provenance: training
data, steps, training time, hardware, final validation metrics, git revision.
Uses export.py's hand-written safetensors writer (no `safetensors` module).
"""
import argparse
import os
import platform
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export  # noqa: E402
import sr_data  # noqa: E402
import sr_models  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNS = ("fast_x2", "fast_x4", "sr3_x2", "sr3_x4")


def arch_metadata(kind, cfg, scale, target="image", residual_scale=1.0):
    if kind == "fast":
        return {"arch": "srfast", "scale": str(cfg["scale"]), "channels": str(cfg["channels"]),
                "n_blocks": str(cfg["n_blocks"]), "res_scale": repr(float(cfg["res_scale"])),
                "io": "one plane, display values v mapped to 2v-1; output + bicubic(input)"}
    meta = {"arch": "sr3", "scale": str(scale), "in_channel": str(cfg["in_channel"]),
            "out_channel": str(cfg["out_channel"]), "inner_channel": str(cfg["inner_channel"]),
            "channel_mults": ",".join(str(m) for m in cfg["channel_mults"]),
            "res_blocks": str(cfg["res_blocks"]), "norm_groups": str(cfg["groups"]),
            "dropout": repr(float(cfg["dropout"])), "attention": "lowest resolution, 1 head",
            "schedule": "linear betas 1e-6..1e-2, T=2000, gamma=sqrt(alpha_bar) continuous",
            "parameterization": "epsilon; input concat(bicubic(LR), x_t) in [-1,1]",
            "target": target}
    if target == "residual":
        meta["residual_scale"] = repr(float(residual_scale))
        meta["parameterization"] = ("epsilon; input concat(bicubic(LR), x_t) in [-1,1]; x_0 = (HR - bicubic(LR)) "
                                    "* residual_scale (SRDiff), output = bicubic(LR) + x_0 / residual_scale")
    return meta


def export_run(run, out, raw=False, start_step=None, sampler=None, steps=None):
    ck = sr_models.load_ckpt(os.path.join(run, "ckpt.pt"), "cpu")
    a = ck["args"]
    arrays, omitted = export.state_dict_arrays(ck["model" if raw else "ema"])
    meta = arch_metadata(a["model"], ck["cfg"], a["scale"], a.get("target", "image"), a.get("residual_scale", 1.0))
    if a.get("base"):  # ResDiff: the residual over a shipped fast net's output (train_sr.py --base)
        meta.update({"base": "fast", "base_file": a["base_name"], "base_sha256": a["base_sha256"],
                     "parameterization": "epsilon; input concat(base, x_t) in [-1,1], 3 colour planes each; "
                                         "base = fast net (base_file) per plane, clamped to [-1,1]; x_0 = (HR - "
                                         "base) * residual_scale, output = base + x_0 / residual_scale"})
    counts = {}
    for split in ("train", "val", "test"):
        items = sr_data.astrodata.list_split(split, list(sr_data.SOURCES))
        counts[split] = "%d (%s)" % (len(items), ", ".join(
            "%s %d" % (s, sum(1 for i in items if i[0] == s)) for s in sr_data.SOURCES))
    if "n_train_images" in a:
        counts["train"] = "%d images (%s)" % (a["n_train_images"], a["train_sources"])
    meta.update({
        "training_data": "data/splits train: %s; HR = random %dpx crops (flips/rot90) of %s, "
                         "LR = box (area) downsample, Gaussian noise sigma U(0,0.02) on half the batches"
                         % (counts["train"], a["patch"], "all three colour planes" if a.get("base")
                            else "one colour plane"),
        "validation_data": "data/splits val: " + counts["val"],
        "training_steps": str(ck["step"]), "batch": str(a["batch"]),
        "training_seconds": "%.0f" % ck["elapsed"], "learning_rate": repr(a["lr"]),
        "loss": "L1 on pixels" if a["model"] == "fast" else "L1 on epsilon",
        "residual_scale_from": ("1/std of HR - %s over 64 training batches of 16"
                                % ("base" if a.get("base") else "bicubic(LR)")) if a.get("target") == "residual" else "",
        "ema_decay": "none (the trained weights, not their average)" if raw else "0.999", "seed": str(a["seed"]),
        "hardware": "%s, torch %s, %d thread(s)" % (platform.processor() or platform.machine(),
                                                   torch.__version__, a["threads"]),
        "git_revision": export.git_revision(), "dtype": "F16 (trained in F32)",
    })
    if a.get("init"):
        meta["initialised_from"] = os.path.basename(a["init"])
    # the defaults of `astroenh upscale --model sr3` with this file (chosen on the val split)
    for k, v in (("start_step", start_step), ("sampler", sampler), ("steps", steps)):
        if v:
            meta[k] = str(v)
    for k, v in (ck.get("final_val") or {}).items():
        meta["val_" + k.replace("val_", "")] = "%.4f" % v
    if omitted:
        meta["omitted"] = ",".join(omitted)
    export.write_safetensors(out, arrays, meta)
    print("wrote %s (%d tensors, %.2f MB, step %d)" % (out, len(arrays), os.path.getsize(out) / 1e6, ck["step"]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", nargs="?")
    ap.add_argument("out", nargs="?")
    ap.add_argument("--all", action="store_true", help="export runs/{%s}" % ",".join(RUNS))
    ap.add_argument("--start-step", type=int, help="SR3: the default truncated start (metadata start_step)")
    ap.add_argument("--sampler", choices=("ddpm", "ddim"), help="SR3: the default sampler (metadata sampler)")
    ap.add_argument("--steps", type=int, help="SR3: the default number of steps (metadata steps)")
    ap.add_argument("--raw", action="store_true", help="the trained weights instead of their EMA (when the EMA "
                                                       "still holds much of a poor --init start)")
    a = ap.parse_args()
    if a.all:
        for r in RUNS:
            p = os.path.join(REPO, "runs", r)
            if os.path.exists(os.path.join(p, "ckpt.pt")):
                export_run(p, os.path.join(REPO, "models", r + ".safetensors"))
            else:
                print("skip %s (no checkpoint)" % r)
        return
    if not a.run or not a.out:
        ap.error("give RUN OUT or --all")
    export_run(a.run, a.out, a.raw, a.start_step, a.sampler, a.steps)


if __name__ == "__main__":
    main()
