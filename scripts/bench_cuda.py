#!/usr/bin/env python3
"""bench_cuda.py - astroenh's CUDA inference path against PyTorch eager on the same GPU.

Same weights (read from the .safetensors files the C engine loads), same sizes, same
precision setting on both sides:
  1. colorizer generator on a 256x256 L plane (one image; host in, host out on both sides)
  2. SR3 2x: DDPM sampling of a 128x128 output with 100 steps (U-Net + sampler update)
  3. throughput of 64 colorizations at 256x256 (PyTorch: one batch of 64;
     astroenh: 64 forwards back to back, the C API takes one image at a time)
Precision: fp32 = float storage with TF32 tensor cores allowed on both sides
(torch.backends.cuda.matmul.allow_tf32 / cudnn.allow_tf32 = True); fp16 = astroenh's
--precision fp16 (half convs/GEMMs, float activations in between) vs PyTorch .half()
(everything in half). The difference is stated in the output.

The C side is scripts/bench_cuda_driver.c, built here against build/'s objects with the
Makefile's own flags (`make` first). Missing SR3 weights (models/sr3_x2.safetensors)
are replaced by a randomly initialised SR3UNet of the training configuration written to
build/bench_sr3_random.safetensors: speed does not depend on the weight values, and both
sides load that same file. Prints a table of medians and the ratio astroenh/PyTorch
(< 1: astroenh faster); --json FILE also writes all raw numbers. Nothing is asserted.

  python3 scripts/bench_cuda.py [--precision fp32|fp16|both] [--reps 20] [--device cuda]
  (--device cpu runs both sides on the CPU: a smoke test of the script on machines
  without a GPU; its numbers say nothing about CUDA.)
"""
import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import colornet  # noqa: E402
import export  # noqa: E402
import sr_models  # noqa: E402

# printed verbatim by make's $(info), one variable per line, split with shell rules
FLAGS_RULE = "ae-bench-flags:\n" + "".join("\t$(info $(%s))\n" % v for v in (
    "CC", "CPPFLAGS", "CFLAGS", "LDFLAGS", "LDLIBS", "LIB_OBJ", "HAVE_CUDA")) + "\t@:\n"


def build_driver(make):
    """Builds the library objects, then build/bench_cuda_driver with the Makefile's flags."""
    subprocess.run([make, "-s", "-j2", "all"], cwd=REPO, check=True)
    out = subprocess.run([make, "-s", "--no-print-directory", "-f", "Makefile", "-f", "-", "ae-bench-flags"],
                         cwd=REPO, input=FLAGS_RULE, capture_output=True, text=True, check=True).stdout
    cc, cppflags, cflags, ldflags, ldlibs, objs, have_cuda = [shlex.split(v) for v in
                                                              (out.splitlines() + [""] * 7)[:7]]
    exe = os.path.join(REPO, "build", "bench_cuda_driver")
    cflags = [f for f in cflags if f not in ("-MMD", "-MP")]
    cmd = cc + cppflags + cflags + ["scripts/bench_cuda_driver.c"] + objs + ldflags + ldlibs + ["-o", exe]
    subprocess.run(cmd, cwd=REPO, check=True)
    return exe, have_cuda == ["1"]


def run_driver(exe, device, precision, colorizer, sr3, a):
    cmd = [exe, "--device", device, "--precision", precision, "--colorizer", colorizer, "--sr3", sr3,
           "--size", str(a.size), "--reps", str(a.reps), "--batch", str(a.batch), "--sr-size", str(a.sr_size),
           "--steps", str(a.steps)]
    p = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if p.returncode:
        sys.exit("driver failed (%d): %s\n%s" % (p.returncode, " ".join(cmd), p.stderr))
    if p.stderr.strip():
        print(p.stderr.strip(), file=sys.stderr)
    return {r["what"]: r for r in (json.loads(line) for line in p.stdout.splitlines() if line.startswith("{"))}


# ---------------------------------------------------------------- weights

def load_into(model, path):
    arrays, meta = export.read_safetensors(path)
    sd = model.state_dict()
    missing = [k for k in sd if k not in arrays and not k.endswith("num_batches_tracked")]
    if missing:
        sys.exit("%s lacks %s" % (path, ", ".join(missing[:5])))
    model.load_state_dict({k: torch.from_numpy(np.asarray(arrays[k], dtype=np.float32)) if k in arrays else v
                           for k, v in sd.items()})
    return meta


def colorizer_model(path):
    _, meta = export.read_safetensors(path)
    g = colornet.Generator(meta["encoder"], int(meta["base"]), int(meta.get("in_ch", 1)), int(meta["out_ch"]))
    load_into(g, path)
    return g.eval()


def sr3_weights(path, scale):
    """path if it exists, else a random SR3UNet of the training configuration saved once."""
    if os.path.exists(path):
        return path
    out = os.path.join(REPO, "build", "bench_sr3_random.safetensors")
    if not os.path.exists(out):
        torch.manual_seed(0)
        unet = sr_models.SR3UNet(inner_channel=32)  # scripts/train_sr.py defaults
        import export_sr
        meta = export_sr.arch_metadata("sr3", unet.cfg, scale)
        meta["note"] = "random weights for scripts/bench_cuda.py (speed only)"
        arrays, _ = export.state_dict_arrays(unet.state_dict())
        os.makedirs(os.path.dirname(out), exist_ok=True)
        export.write_safetensors(out, arrays, meta)
    print("note: %s not found; SR3 timed with random weights (%s)" % (path, out))
    return out


def sr3_model(path):
    _, meta = export.read_safetensors(path)
    unet = sr_models.SR3UNet(in_channel=int(meta["in_channel"]), out_channel=int(meta["out_channel"]),
                             inner_channel=int(meta["inner_channel"]), groups=int(meta["norm_groups"]),
                             channel_mults=tuple(int(m) for m in meta["channel_mults"].split(",")),
                             res_blocks=int(meta["res_blocks"]))
    load_into(unet, path)
    return unet.eval(), int(meta["scale"])


# ---------------------------------------------------------------- PyTorch side

def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, dev, reps, warm=3):
    for _ in range(warm):
        fn()
    sync(dev)
    t = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        sync(dev)
        t.append(time.perf_counter() - t0)
    return t


@torch.no_grad()
def torch_bench(dev, precision, cpath, spath, a):
    dt = torch.float16 if precision == "fp16" else torch.float32
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = True  # astroenh also searches algorithms per shape
    res = {}
    g = colorizer_model(cpath).to(dev, dt)
    x_host = torch.rand(1, 1, a.size, a.size) * 2 - 1

    def one():  # host in, host out, like ae_colorizer_forward
        return g(x_host.to(dev, dt)).float().cpu()

    t = timed(one, dev, a.reps)
    res["colorizer"] = {"median_ms": 1e3 * statistics.median(t), "min_ms": 1e3 * min(t)}
    xb = (torch.rand(a.batch, 1, a.size, a.size) * 2 - 1)
    t = timed(lambda: g(xb.to(dev, dt)).float().cpu(), dev, max(3, a.reps // 4), warm=2)
    res["colorizer_batch"] = {"images_per_s": a.batch / statistics.median(t), "total_s": statistics.median(t)}
    del g
    unet, scale = sr3_model(spath)
    unet = unet.to(dev, dt)
    lr_up = sr_models.bicubic_up(torch.rand(1, 1, a.sr_size // scale, a.sr_size // scale) * 2 - 1, scale).to(dev, dt)
    betas = sr_models.respaced_betas(a.steps)

    def sample():
        return sr_models.sample_ddpm(unet, lr_up, betas,
                                     lambda k: torch.randn(1, 1, a.sr_size, a.sr_size, device=dev, dtype=dt))

    t = timed(sample, dev, 1 if dev.type == "cpu" else 3, warm=1)
    res["sr3"] = {"total_s": statistics.median(t), "ms_per_step": 1e3 * statistics.median(t) / a.steps}
    return res


# ---------------------------------------------------------------- report

def report(prec, ours, ref, device_line):
    print("\n== %s  (%s)" % (prec, device_line))
    if prec == "fp16":
        print("   astroenh fp16: half convs/GEMMs, float activations between ops; PyTorch: .half() throughout")
    rows = [("colorizer %dpx, ms" % ours["colorizer"]["size"], ours["colorizer"]["median_ms"],
             ref["colorizer"]["median_ms"], False),
            ("SR3 x2 %dpx %d steps, s" % (ours["sr3"]["out"], ours["sr3"]["steps"]), ours["sr3"]["total_s"],
             ref["sr3"]["total_s"], False),
            ("colorize x%d, images/s" % ours["colorizer_batch"]["batch"], ours["colorizer_batch"]["images_per_s"],
             ref["colorizer_batch"]["images_per_s"], True)]
    print("   %-32s %12s %12s %18s" % ("", "astroenh", "PyTorch", "astroenh/PyTorch"))
    for name, o, r, higher_better in rows:
        print("   %-32s %12.3f %12.3f %12.2f%s" % (name, o, r, o / r,
                                                 "  (>1: astroenh faster)" if higher_better else "  (<1: astroenh faster)"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--precision", default="both", choices=["fp32", "fp16", "both"])
    ap.add_argument("--colorizer", default="models/colorizer.safetensors")
    ap.add_argument("--sr3", default="models/sr3_x2.safetensors")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--sr-size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--make", default="make")
    ap.add_argument("--json", help="write all numbers here")
    a = ap.parse_args()
    os.chdir(REPO)
    if a.device == "cuda" and not torch.cuda.is_available():
        sys.exit("PyTorch sees no CUDA device; nothing to compare (use --device cpu for a smoke test)")
    exe, have_cuda = build_driver(a.make)
    if a.device == "cuda" and not have_cuda:
        sys.exit("astroenh was built without CUDA (nvcc or cuDNN not found by the Makefile)")
    spath = sr3_weights(a.sr3, 2)
    dev = torch.device(a.device)
    out = {"args": vars(a), "torch": torch.__version__,
           "gpu": torch.cuda.get_device_name(0) if a.device == "cuda" else "cpu", "results": {}}
    for prec in (["fp32", "fp16"] if a.precision == "both" else [a.precision]):
        if a.device == "cpu" and prec == "fp16":
            continue  # astroenh's CPU backend has no fp16 mode
        ours = run_driver(exe, a.device, prec, a.colorizer, spath, a)
        ref = torch_bench(dev, prec, a.colorizer, spath, a)
        out["results"][prec] = {"astroenh": ours, "pytorch": ref}
        report(prec, ours, ref, ours["device"]["describe"])
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
