#!/usr/bin/env python3
"""eval_sr.py - super-resolution metrics and speed on the test split.

Test set: centre crops (SIZE x SIZE HR) of the first N test-split images
(spread over decals256/nasa/stellarium, sr_data.fixed_set), each colour
plane a separate grey image; LR = box downsample of HR. Metrics on [0,1]
planes (outputs clipped): PSNR (dB), SSIM (skimage, 7x7, data_range 1),
L1, L2 (mean squared error).

Parts (each writes eval/sr_eval/<part>.json; --report assembles
eval/sr_metrics.md from whatever parts exist):
  base    bicubic, Lanczos (PIL), fast (PyTorch forward of the shipped fp16
          weights) on N images x 3 planes, both scales; the C binary's fast
          net on the same planes (checks C == PyTorch on real data) with and
          without --prefilter, on the clean LR and on LR + Gaussian noise
          (sigma 0.02), written as 16-bit PNGs.
  sr3     SR3 sampling in PyTorch (shipped weights, noise from the same
          counter-based generator as the C sampler) for a plan of step
          counts, each on its own number of planes (subsampled: CPU cost),
          plus the baselines on exactly those planes.
  tiles   how much SR3 output depends on --tile (GroupNorm statistics and
          attention span a tile): one --size x --size test plane as the
          input, the C binary with the same seed at several --tile values and
          with the whole image as one tile; max/mean |diff| to the whole.
  speed   seconds per 128x128 output of the C binary (`astroenh upscale`
          end to end, one 64x64 (2x) or 32x32 (4x) grey 16-bit PNG; min of
          --reps runs) for fast and for SR3 at a few step counts; bicubic and
          Lanczos timed in Python (PIL / torch).

  python3 scripts/eval_sr.py base --n-images 20
  python3 scripts/eval_sr.py sr3 --scale 2 --plan ddim50:4,100:4,500:1,1000:1,2000:1 --size 64
  python3 scripts/eval_sr.py tiles --scale 2 --size 256 --tiles 64,128 --plan ddim10:1
  python3 scripts/eval_sr.py speed
  python3 scripts/eval_sr.py report
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sr_data  # noqa: E402
import sr_golden  # noqa: E402
import sr_models as M  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, ASTROENH_MODELS=os.path.join(REPO, "models"))
PARTS = os.path.join(REPO, "eval", "sr_eval")


def metrics(out, hr):
    """out, hr: N x 1 x H x W tensors -> dict of means (and per-plane lists)."""
    from skimage.metrics import structural_similarity
    o = out.clamp(0, 1).double().numpy()[:, 0]
    h = hr.double().numpy()[:, 0]
    mse = ((o - h) ** 2).reshape(len(o), -1).mean(1)
    psnr = 10 * np.log10(1.0 / np.maximum(mse, 1e-12))
    ssim = np.array([structural_similarity(a, b, data_range=1.0) for a, b in zip(o, h)])
    l1 = np.abs(o - h).reshape(len(o), -1).mean(1)
    return {"n": len(o), "psnr": float(psnr.mean()), "ssim": float(ssim.mean()), "l1": float(l1.mean()),
            "l2": float(mse.mean())}


def lanczos(lr, s):
    out = [np.asarray(Image.fromarray(p[0].numpy(), "F").resize((p.shape[-1] * s, p.shape[-2] * s),
                                                                 Image.LANCZOS)) for p in lr]
    return torch.from_numpy(np.stack(out)[:, None].copy())


def bicubic(lr, s):
    return M.bicubic_up(lr, s)


def model(name):
    return sr_golden.load_shipped(os.path.join(REPO, "models", name + ".safetensors"))[0]


def residual_scale(name):
    """c of a target=residual SR3 file, None for a target=image one."""
    meta = sr_golden.load_shipped(os.path.join(REPO, "models", name + ".safetensors"))[1]
    return float(meta["residual_scale"]) if meta.get("target") == "residual" else None


@torch.no_grad()
def fast(lr, s, net=None):
    """What `upscale --model fast` does: models/fast_x<s>, else at 4x the 2x net twice (the
    intermediate clamped to [0,1] as the C stage does)."""
    if net is None and s == 4 and not os.path.exists(os.path.join(REPO, "models", "fast_x4.safetensors")):
        return fast(fast(lr, 2).clamp(0, 1), 2)
    net = net or model("fast_x%d" % s)
    return sr_data.from_net(net(sr_data.to_net(lr)))


@torch.no_grad()
def sr3(lr, s, steps, sampler, seed0=1000, unet=None, c="file"):
    unet = unet or model("sr3_x%d" % s)
    c = residual_scale("sr3_x%d" % s) if c == "file" else c
    up = M.bicubic_up(sr_data.to_net(lr), s)
    h, w = up.shape[-2:]

    def noise_fn(k):
        return torch.from_numpy(np.stack([M.noise_field(seed0 + i, M.noise_stream(0, k), 1, h, w)
                                          for i in range(len(lr))]))
    if sampler == "ddim":
        x = M.sample_ddim(unet, up, steps, noise_fn, residual_scale=c)
    else:
        x = M.sample_ddpm(unet, up, M.respaced_betas(steps), noise_fn, residual_scale=c)
    return sr_data.from_net(x)


def save_part(name, data):
    os.makedirs(PARTS, exist_ok=True)
    with open(os.path.join(PARTS, name + ".json"), "w") as f:
        json.dump(data, f, indent=1)
    print("wrote", os.path.join(PARTS, name + ".json"))


# ------------------------------------------------------------------- C runs
def write_png16(path, plane):
    a = np.clip(plane, 0, 1) * 65535.0 + 0.5
    Image.fromarray(a.astype(np.uint16)).save(path)


def read_png(path):
    im = Image.open(path)
    a = np.asarray(im).astype(np.float64)
    return a / (65535.0 if a.max() > 255 or im.mode.startswith("I") else 255.0)


def run_c(binary, lr, s, extra, tmp):
    """Upscales every plane with the C binary (directory mode); returns N x 1 x H x W."""
    src, dst = os.path.join(tmp, "in"), os.path.join(tmp, "out")
    for d in (src, dst):
        os.makedirs(d, exist_ok=True)
        for f in os.listdir(d):
            os.remove(os.path.join(d, f))
    for i, p in enumerate(lr):
        write_png16(os.path.join(src, "p%04d.png" % i), p[0].numpy())
    cmd = [binary, "upscale", "--scale", str(s), "--quiet"] + extra + [src, "-o", dst]
    r = subprocess.run(cmd, capture_output=True, text=True, env=ENV)
    if r.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(cmd), r.stderr))
    return torch.from_numpy(np.stack([read_png(os.path.join(dst, "p%04d.png" % i)) for i in range(len(lr))])
                            [:, None].astype(np.float32))


# -------------------------------------------------------------------- parts
def part_base(a):
    res = {"n_images": a.n_images, "size": a.size, "scales": {}}
    for s in (2, 4):
        lr, hr, names = sr_data.fixed_set("test", s, a.size, a.n_images)
        r = {"planes": len(hr), "images": names[::3]}
        r["bicubic"] = metrics(bicubic(lr, s), hr)
        r["lanczos"] = metrics(lanczos(lr, s), hr)
        out_py = fast(lr, s)
        r["fast"] = metrics(out_py, hr)
        gen = torch.Generator().manual_seed(5)
        noisy = lr + 0.02 * torch.randn(lr.shape, generator=gen)
        r["bicubic_noisy"] = metrics(bicubic(noisy, s), hr)
        r["fast_noisy"] = metrics(fast(noisy, s), hr)
        if a.bin:
            with tempfile.TemporaryDirectory() as tmp:
                out_c = run_c(a.bin, lr, s, [], tmp)
                r["fast_c"] = metrics(out_c, hr)
                d = (out_c - out_py.clamp(0, 1)).abs()
                r["c_vs_torch_max_abs"] = float(d.max())
                r["c_vs_torch_max_abs_interior"] = float(d[..., 16:-16, 16:-16].max())
                r["fast_c_prefilter"] = metrics(run_c(a.bin, lr, s, ["--prefilter"], tmp), hr)
                r["fast_c_noisy"] = metrics(run_c(a.bin, noisy, s, [], tmp), hr)
                r["fast_c_noisy_prefilter"] = metrics(run_c(a.bin, noisy, s, ["--prefilter"], tmp), hr)
        res["scales"][str(s)] = r
        print(s, json.dumps({k: v for k, v in r.items() if k != "images"}, indent=None)[:2000], flush=True)
    save_part("base", res)


def file_sha256(path):
    import hashlib
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def parse_plan(plan):
    out = []
    for item in plan.split(","):
        k, n = item.split(":")
        sampler, steps = ("ddim", int(k[4:])) if k.startswith("ddim") else ("ddpm", int(k))
        out.append((sampler, steps, int(n)))
    return out


def part_sr3(a):
    s = a.scale
    lr, hr, names = sr_data.fixed_set("test", s, a.size, a.n_images)
    unet = model("sr3_x%d" % s)
    path = os.path.join(PARTS, "sr3_x%d.json" % s)
    digest = file_sha256(os.path.join(REPO, "models", "sr3_x%d.safetensors" % s))
    res = json.load(open(path)) if os.path.exists(path) else {}
    if res.get("model_sha256") != digest or res.get("size") != a.size:  # results of other weights: redo
        res = {"scale": s, "size": a.size, "model_sha256": digest, "runs": {}}
    c = residual_scale("sr3_x%d" % s)
    res["target"] = "residual (c = %g)" % c if c else "image"
    for sampler, steps, n in parse_plan(a.plan):
        key = "%s%d" % ("ddim" if sampler == "ddim" else "ddpm", steps)
        if key in res["runs"] and res["runs"][key]["n"] >= n:
            continue
        idx = np.linspace(0, len(hr) - 1, n).round().astype(int)
        t0 = time.time()
        out = sr3(lr[idx], s, steps, sampler, unet=unet, c=c)
        r = {"n": int(n), "planes": [names[i] for i in idx], "seconds_torch": time.time() - t0,
             "sr3": metrics(out, hr[idx]), "bicubic": metrics(bicubic(lr[idx], s), hr[idx]),
             "lanczos": metrics(lanczos(lr[idx], s), hr[idx]), "fast": metrics(fast(lr[idx], s), hr[idx])}
        res["runs"][key] = r
        print(s, key, json.dumps(r["sr3"]), "bicubic", json.dumps(r["bicubic"]), flush=True)
        save_part("sr3_x%d" % s, res)


def part_tiles(a):
    """SR3 output vs --tile: one test plane of a.size x a.size as the INPUT (no
    ground truth: only the differences are measured), C binary, 16-bit PNGs."""
    s, size = a.scale, a.size
    _, img, names = sr_data.fixed_set("test", 1, size, 1, channels=(1,))
    (sampler, steps, _), = parse_plan(a.plan)
    path = os.path.join(PARTS, "tiles.json")
    res = json.load(open(path)) if os.path.exists(path) else {}
    r = {"plane": names[0], "input_size": size, "sampler": sampler, "steps": steps, "seed": 1,
         "model_sha256": file_sha256(os.path.join(REPO, "models", "sr3_x%d.safetensors" % s)), "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "in.png")
        write_png16(src, img[0, 0].numpy())
        outs = {}
        for tile in [int(t) for t in a.tiles.split(",") if int(t) < size] + [size]:
            key = "whole" if tile == size else "tile %d" % tile
            dst = os.path.join(tmp, "out%d.png" % tile)
            args = ["--threads", str(a.threads), "--scale", str(s), "--model", "sr3", "--sampler", sampler,
                    "--steps", str(steps), "--seed", "1", src, "-o", dst]
            # --tile does not reach SR3 (its tiling is fixed); AE_SR3_TILE forces one for this measurement
            os.environ["AE_SR3_TILE"] = str(tile * s)
            try:
                w, cpu = time_c(a.bin, args, 1, tmp)
            finally:
                del os.environ["AE_SR3_TILE"]
            outs[key] = read_png(dst)
            r["runs"][key] = {"tile_input_px": tile, "tile_output_px": tile * s, "cpu_seconds": cpu}
        up = bicubic(img, s)[0, 0].double().numpy()
        for key, o in outs.items():
            d = np.abs(o - outs["whole"])
            r["runs"][key].update(max_abs_vs_whole=float(d.max()), mean_abs_vs_whole=float(d.mean()),
                                  mean_abs_vs_bicubic=float(np.abs(o - up.clip(0, 1)).mean()))
            print(s, key, r["runs"][key], flush=True)
    res[str(s)] = r
    save_part("tiles", res)


def time_c(binary, args, reps, tmp):
    """(wall seconds, CPU seconds user+sys of the child), min over reps."""
    import resource
    best = None
    for _ in range(reps):
        t0, r0 = time.time(), resource.getrusage(resource.RUSAGE_CHILDREN)
        r = subprocess.run([binary, "upscale", "--quiet"] + args, capture_output=True, text=True, env=ENV)
        if r.returncode != 0:
            raise RuntimeError(r.stderr)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = (time.time() - t0, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime))
        best = t if best is None or t[1] < best[1] else best
    return best


def part_speed(a):
    path = os.path.join(PARTS, "speed.json")
    res = json.load(open(path)) if os.path.exists(path) else {"threads": a.threads, "rows": []}
    res["load_avg_start"] = os.getloadavg()[0]
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        for s in (int(v) for v in a.scales.split(",")):
            res["rows"] = [r for r in res["rows"] if r["scale"] != s]
            n = 128 // s
            src = os.path.join(tmp, "lr%d.png" % s)
            write_png16(src, rng.random((n, n)))
            lr = torch.from_numpy(rng.random((1, 1, n, n)).astype(np.float32))
            t0 = time.time()
            for _ in range(20):
                bicubic(lr, s)
            dt = (time.time() - t0) / 20
            res["rows"].append({"scale": s, "method": "bicubic (torch, Python)", "seconds": dt, "cpu_seconds": dt})
            t0 = time.time()
            for _ in range(20):
                lanczos(lr, s)
            dt = (time.time() - t0) / 20
            res["rows"].append({"scale": s, "method": "Lanczos (PIL, Python)", "seconds": dt, "cpu_seconds": dt})
            common = ["--threads", str(a.threads), "--scale", str(s), src, "-o", os.path.join(tmp, "o.png")]
            w, c = time_c(a.bin, common, a.reps, tmp)
            res["rows"].append({"scale": s, "method": "fast (C)", "seconds": w, "cpu_seconds": c})
            for sampler, steps in ((d.split(":")[0], int(d.split(":")[1])) for d in a.sr3_steps.split(",")):
                w, c = time_c(a.bin, ["--model", "sr3", "--sampler", sampler, "--steps", str(steps)] + common, 1, tmp)
                res["rows"].append({"scale": s, "method": "SR3 %s %d steps (C)" % (sampler, steps), "seconds": w,
                                    "cpu_seconds": c, "steps": steps})
                print(res["rows"][-1], flush=True)
    res["load_avg_end"] = os.getloadavg()[0]
    save_part("speed", res)


# ------------------------------------------------------------------- report
def fmt_row(name, m):
    return "| %s | %d | %.2f | %.4f | %.4f | %.6f |" % (name, m["n"], m["psnr"], m["ssim"], m["l1"], m["l2"])


def part_report(a):
    lines = ["# Super-resolution metrics (test split)", "",
             "Written by `scripts/eval_sr.py report` from eval/sr_eval/*.json. Planes are single colour",
             "channels of centre crops of test-split images (decals256, nasa, stellarium); LR = box",
             "downsample of HR; metrics on [0,1]: PSNR dB, SSIM (7x7, skimage), L1, L2 = MSE.", ""]
    p = os.path.join(PARTS, "base.json")
    if os.path.exists(p):
        b = json.load(open(p))
        for s, r in b["scales"].items():
            lines += ["## %sx, %d planes (%d images x 3 channels), %dx%d HR" % (s, r["planes"], r["planes"] // 3,
                                                                               b["size"], b["size"]), "",
                      "| method | planes | PSNR | SSIM | L1 | L2 |", "|---|---|---|---|---|---|"]
            for k, label in (("bicubic", "bicubic"), ("lanczos", "Lanczos-3 (PIL)"), ("fast", "fast (PyTorch)"),
                             ("fast_c", "fast (C binary)"), ("fast_c_prefilter", "fast (C) --prefilter"),
                             ("bicubic_noisy", "bicubic, LR + noise 0.02"), ("fast_noisy", "fast (PyTorch), LR + noise"),
                             ("fast_c_noisy", "fast (C), LR + noise"),
                             ("fast_c_noisy_prefilter", "fast (C) --prefilter, LR + noise")):
                if k in r:
                    lines.append(fmt_row(label, r[k]))
            if "c_vs_torch_max_abs" in r:
                lines += ["", "C binary vs PyTorch fast net on these planes (16-bit PNG in/out): max |diff| %.2e"
                          " over the whole plane, %.2e more than 16 px from the border (C pads tiles by"
                          " reflection, PyTorch's convs by zeros)." % (r["c_vs_torch_max_abs"],
                                                                       r.get("c_vs_torch_max_abs_interior", -1))]
            lines.append("")
    for s in (2, 4):
        p = os.path.join(PARTS, "sr3_x%d.json" % s)
        if not os.path.exists(p):
            continue
        r = json.load(open(p))
        lines += ["## SR3 %dx (subsampled: %dx%d HR crops; each row with its baselines on the same planes)" %
                  (s, r["size"], r["size"]), "",
                  "Model: models/sr3_x%d.safetensors, diffusion target %s, sha256 %s..." %
                  (s, r.get("target", "image"), r.get("model_sha256", "?")[:12]), "",
                  "| sampler, steps | planes | method | PSNR | SSIM | L1 | L2 |", "|---|---|---|---|---|---|---|"]
        order = sorted(r["runs"], key=lambda k: (k.startswith("ddim"), -int(k[4:])))
        for k in order:
            run = r["runs"][k]
            for meth in ("sr3", "bicubic", "lanczos", "fast"):
                m = run[meth]
                lines.append("| %s | %d | %s | %.2f | %.4f | %.4f | %.6f |" % (
                    k.replace("ddpm", "DDPM ").replace("ddim", "DDIM "), m["n"], meth, m["psnr"], m["ssim"],
                    m["l1"], m["l2"]))
        lines.append("")
    p = os.path.join(PARTS, "tiles.json")
    if os.path.exists(p):
        lines += ["## SR3 and the tile size", "",
                  "GroupNorm statistics and the attention at the lowest resolution span a tile, so SR3's",
                  "output would depend on the tile size (forced here with AE_SR3_TILE; `--tile` does not apply to SR3, whose tiling is fixed: whole output up to 512 px per side, 256 px tiles beyond; input px; 32 px of reflected context around each tile, tiles",
                  "blended over the overlap). Input: one test plane (as the LR image), C binary, --seed 1;",
                  "|diff| in [0,1] to the result with the whole image as one tile (16-bit PNG output), and,",
                  "for scale, the mean |SR3 - bicubic| (how much SR3 changes the image at all).", "",
                  "| scale | input | plane | sampler | --tile (out px) | max abs diff | mean abs diff |"
                  " mean abs vs bicubic | CPU s |", "|---|---|---|---|---|---|---|---|---|"]
        for s, r in sorted(json.load(open(p)).items()):
            for key, run in r["runs"].items():
                lines.append("| %sx | %d px | %s | %s %d | %s (%d) | %.2e | %.2e | %.2e | %.0f |" % (
                    s, r["input_size"], r["plane"], r["sampler"].upper(), r["steps"], key, run["tile_output_px"],
                    run["max_abs_vs_whole"], run["mean_abs_vs_whole"], run["mean_abs_vs_bicubic"],
                    run["cpu_seconds"]))
        lines.append("")
    p = os.path.join(PARTS, "speed.json")
    if os.path.exists(p):
        sp = json.load(open(p))
        lines += ["## Speed: seconds per 128x128 output on this CPU", "",
                  "`astroenh upscale` end to end (load, model, PNG write), --threads %d, min over runs; the"
                  % sp["threads"],
                  "machine was shared (load average %.1f at start, %.1f at end), so these are upper bounds."
                  % (sp["load_avg_start"], sp["load_avg_end"]), "",
                  "| scale | method | wall s | CPU s (user+sys) | CPU s per step |", "|---|---|---|---|---|"]
        for row in sp["rows"]:
            per = "%.3f" % (row["cpu_seconds"] / row["steps"]) if "steps" in row else ""
            lines.append("| %dx | %s | %.3f | %.3f | %s |" % (row["scale"], row["method"], row["seconds"],
                                                              row["cpu_seconds"], per))
        lines.append("")
        for s in sorted({r["scale"] for r in sp["rows"]}):
            per = [r["cpu_seconds"] / r["steps"] for r in sp["rows"] if r["scale"] == s and "steps" in r]
            if per:
                p = max(per)
                lines.append("%dx SR3, EXTRAPOLATED (not measured end to end) as steps x %.3f CPU s/step: "
                             "2000 steps %.0f s, 1000 %.0f s, 500 %.0f s, 100 %.0f s, DDIM-50 %.0f s."
                             % (s, p, 2000 * p, 1000 * p, 500 * p, 100 * p, 50 * p))
        lines.append("")
    out = os.path.join(REPO, "eval", "sr_metrics.md")
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote", out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("part", choices=("base", "sr3", "tiles", "speed", "report"))
    ap.add_argument("--n-images", type=int, default=20)
    ap.add_argument("--size", type=int, default=128, help="HR crop side")
    ap.add_argument("--scale", type=int, choices=(2, 4), default=2)
    ap.add_argument("--plan", default="ddim50:4,100:4,500:1,1000:1,2000:1",
                    help="SR3 runs: [ddim]STEPS:PLANES,...")
    ap.add_argument("--bin", default=os.path.join(REPO, "astroenh"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--scales", default="2,4", help="speed: scales to time")
    ap.add_argument("--tiles", default="64,128", help="tiles: --tile values (input px) besides the whole image")
    ap.add_argument("--sr3-steps", default="ddim:10,ddpm:20", help="C SR3 timings: sampler:steps,...")
    a = ap.parse_args()
    torch.set_num_threads(1)
    if a.bin and not os.path.exists(a.bin):
        a.bin = None
    if a.bin:  # a private copy: a rebuild during the run must not swap or remove the binary
        import shutil
        priv = os.path.join(tempfile.mkdtemp(prefix="eval_sr_bin."), "astroenh")
        shutil.copy2(a.bin, priv)
        a.bin = priv
    {"base": part_base, "sr3": part_sr3, "tiles": part_tiles, "speed": part_speed,
     "report": part_report}[a.part](a)


if __name__ == "__main__":
    main()
