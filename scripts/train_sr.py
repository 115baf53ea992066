#!/usr/bin/env python3
"""train_sr.py - trains the fast EDSR-like net or the SR3 diffusion U-Net.

  python3 scripts/train_sr.py --model fast --scale 2 --minutes 10 --run runs/fast_x2
  python3 scripts/train_sr.py --model sr3  --scale 2 --minutes 30 --run runs/sr3_x2 [--device cuda]

Resumable: runs/<name>/ckpt.pt (model, EMA, optimiser, data RNG, step, elapsed
seconds) is rewritten every --ckpt-sec; rerunning the same command continues
until the cumulative training time reaches --minutes. Writes runs/<name>/log.csv
(step, elapsed, train loss, val metrics) and copies it with a PNG of the curves
to eval/train_sr_<name>.csv/.png. Fast: L1 on pixels. SR3: L1 on epsilon with
continuous gamma (sr_models.SR3.loss); validation = epsilon L1 at fixed
gammas/noise, plus PSNR of a DDIM-20 sample vs bicubic (at every validation
for --target residual, at the end for --target image).
SR3 --target residual (SRDiff) diffuses (HR - bicubic(LR)) * c, c = 1 / std of
that residual over 64 training batches, measured once at the start of a run
and kept in the checkpoint (export_sr.py writes it to the metadata).
SR3 --base FILE (ResDiff) diffuses the residual over a shipped fast net's
output instead of over bicubic, on colour crops, 3 channels in one pass:
  python3 scripts/train_sr.py --model sr3 --scale 2 --base models/fast_x2.safetensors \
      --minutes 120 --run runs/sr3r_x2
The base net is frozen; its output is clamped to [-1, 1] (what a saved fast
result holds) and its SHA-256 is kept so that the C stage refuses another.
"""
import hashlib
import argparse
import copy
import csv
import math
import os
import shutil
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sr_data  # noqa: E402
import sr_models  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=("fast", "sr3"), required=True)
    ap.add_argument("--scale", type=int, choices=(2, 4), required=True)
    ap.add_argument("--minutes", type=float, default=10.0, help="total training time (all resumes)")
    ap.add_argument("--run", required=True, help="run folder (checkpoint, log)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--patch", type=int, default=None, help="HR patch side")
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--channels", type=int, default=32)
    ap.add_argument("--blocks", type=int, default=8)
    ap.add_argument("--val-every", type=float, default=60.0, help="seconds between validations")
    ap.add_argument("--ckpt-sec", type=float, default=60.0)
    ap.add_argument("--target", choices=("image", "residual"), default="image",
                    help="SR3: diffuse the HR image (SR3) or its residual over bicubic (SRDiff)")
    ap.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (0 = time only)")
    ap.add_argument("--init", help="fast model: start from this shipped .safetensors (models/fast_x2_v1...) "
                                   "instead of random weights; lr default 1e-4, no EMA warm-up. SR3 with --base: "
                                   "start from a shipped 1-plane SR3 file (models/sr3_x2...)")
    ap.add_argument("--base", help="SR3: a shipped fast net (.safetensors) whose output the model refines "
                                   "(implies --target residual, colour crops, 3 channels in one pass)")
    a = ap.parse_args()
    if a.base:
        if a.model != "sr3":
            ap.error("--base needs --model sr3")
        a.target = "residual"
    if a.model == "fast":
        a.batch = a.batch or 16
        a.patch = a.patch or 64
        a.lr = a.lr or (1e-4 if a.init else 4e-4)
    else:
        a.batch = a.batch or 8
        a.patch = a.patch or (48 if a.scale == 2 else 64)
        a.lr = a.lr or 2e-4
    return a


def make_model(a):
    if a.model == "fast":
        return sr_models.SRFast(scale=a.scale, channels=a.channels, n_blocks=a.blocks)
    c = 3 if a.base else 1
    return sr_models.SR3UNet(in_channel=2 * c, out_channel=c, inner_channel=a.channels)


class Base:
    """The prediction the diffusion refines: bicubic(LR), or a frozen fast net
    run plane by plane (as the C stage runs it) and clamped to [-1, 1]."""

    def __init__(self, a, dev):
        self.scale, self.net = a.scale, None
        if a.base:
            import sr_golden
            self.net, meta = sr_golden.load_shipped(a.base)
            if int(meta["scale"]) != a.scale or meta["arch"] not in ("srfast", "rdn"):
                raise SystemExit("--base %s: not a %dx fast net" % (a.base, a.scale))
            self.net = self.net.to(dev)
            for p in self.net.parameters():
                p.requires_grad_(False)
            a.base_sha256 = hashlib.sha256(open(a.base, "rb").read()).hexdigest()
            a.base_name = os.path.basename(a.base)

    @torch.no_grad()
    def __call__(self, lr_n):
        if self.net is None:
            return sr_models.bicubic_up(lr_n, self.scale)
        b, c, h, w = lr_n.shape
        y = self.net(lr_n.reshape(b * c, 1, h, w)).clamp(-1, 1)
        return y.reshape(b, c, h * self.scale, w * self.scale)


class Validator:
    def __init__(self, a, dev, base):
        self.a, self.dev = a, dev
        size = 64 if a.model == "sr3" else 128
        n = (8 if a.base else 4) if a.model == "sr3" else 12
        self.c = a.residual_scale if a.model == "sr3" and a.target == "residual" else None
        lr, hr, _ = sr_data.fixed_set("val", a.scale, size, n)
        if a.base:  # the planes of each image together: N x 3 x H x W
            lr, hr = (t.reshape(-1, 3, *t.shape[-2:]) for t in (lr, hr))
        self.base = base
        self.lr, self.hr = lr.to(dev), hr.to(dev)
        g = torch.Generator().manual_seed(99)
        self.noise = torch.randn(hr.shape, generator=g).to(dev)
        self.gam = torch.linspace(0.05, 0.999, hr.shape[0]).to(dev)

    @torch.no_grad()
    def __call__(self, net, final=False):
        a = self.a
        lr_n = sr_data.to_net(self.lr)
        if a.model == "fast":
            out = sr_data.from_net(net(lr_n))
            return {"val_psnr": float(sr_data.psnr(out, self.hr).mean()),
                    "val_l1": float((out.clamp(0, 1) - self.hr).abs().mean())}
        up = self.base(lr_n)
        hr_n = sr_data.to_net(self.hr)
        g = self.gam.view(-1, 1, 1, 1)
        x0 = hr_n if self.c is None else sr_models.to_target(hr_n, up, self.c)
        x_t = g * x0 + torch.sqrt(1 - g * g) * self.noise
        eps = net(torch.cat([up, x_t], 1), self.gam)
        m = {"val_eps_l1": float((eps - self.noise).abs().mean())}
        if final or self.c is not None:
            gen = torch.Generator().manual_seed(7)
            noises = {}

            def noise_fn(k):
                if k not in noises:
                    noises[k] = torch.randn(hr_n.shape, generator=gen).to(self.dev)
                return noises[k]
            out = sr_data.from_net(sr_models.sample_ddim(net, up, 20, noise_fn, residual_scale=self.c))
            m["val_psnr_ddim20"] = float(sr_data.psnr(out, self.hr).mean())
            m["val_psnr_bicubic"] = float(sr_data.psnr(sr_data.from_net(sr_models.bicubic_up(lr_n, a.scale)),
                                                       self.hr).mean())
            if a.base:
                m["val_psnr_base"] = float(sr_data.psnr(sr_data.from_net(up), self.hr).mean())
        return m


def measure_residual_scale(data, base, dev, n_batches=64, b=16):
    """1 / std of (HR - base(LR)) in network units over training batches;
    the data RNG is restored so that training sees the same batches."""
    st = data.state()
    sq, n = 0.0, 0
    for _ in range(n_batches):
        lr, hr = data.batch(b)
        r = sr_data.to_net(hr.to(dev)) - base(sr_data.to_net(lr.to(dev)))
        sq += float((r.double() ** 2).sum())
        n += r.numel()
    data.set_state(st)
    return 1.0 / math.sqrt(sq / n)


def init_sr3_from(net, path):
    """Starts a colour (6 in, 3 out) U-Net from a shipped 1-plane SR3 file:
    every tensor of the same shape is copied; the first conv's weights for the
    conditioning and x_t planes are split evenly over the three channels (so
    the start sees the mean plane) and the last conv is repeated per channel."""
    import sr_golden
    old, meta = sr_golden.load_shipped(path)
    if meta.get("arch") != "sr3":
        raise SystemExit("--init %s: not an SR3 file" % path)
    src, dst = old.state_dict(), net.state_dict()
    copied = 0
    for k, v in dst.items():
        w = src.get(k)
        if w is None:
            continue
        if w.shape == v.shape:
            dst[k] = w.clone()
        elif k == "downs.0.weight" and w.shape[1] == 2 and v.shape[1] == 6:
            dst[k] = torch.cat([w[:, :1].repeat(1, 3, 1, 1), w[:, 1:].repeat(1, 3, 1, 1)], 1) / 3
        elif k.startswith("final_conv") and w.shape[0] == 1 and v.shape[0] == 3:
            dst[k] = w.repeat(3, *([1] * (w.dim() - 1)))
        else:
            raise SystemExit("--init %s: %s is %s, want %s" % (path, k, tuple(w.shape), tuple(v.shape)))
        copied += 1
    net.load_state_dict(dst)
    print("initialised %d of %d tensors from %s" % (copied, len(dst), path), flush=True)


def load_ckpt(path, dev):
    return sr_models.load_ckpt(path, dev)


def save_ckpt(path, **kw):
    tmp = path + ".tmp"
    torch.save(kw, tmp)
    os.replace(tmp, path)


def plot(log_path, png_path, title):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    rows = list(csv.DictReader(open(log_path)))
    if not rows:
        return
    keys = [k for k in rows[0] if k not in ("step", "elapsed_s")]
    fig, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys), 3.2))
    axes = np.atleast_1d(axes)
    for ax, k in zip(axes, keys):
        pts = [(int(r["step"]), float(r[k])) for r in rows if r.get(k) not in (None, "")]
        if pts:
            ax.plot(*zip(*pts), marker="." if len(pts) < 50 else None)
        ax.set_title(k)
        ax.set_xlabel("step")
        if k == "train_loss":
            ax.set_yscale("log")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(png_path, dpi=80)
    plt.close(fig)


def main():
    a = parse()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    dev = torch.device(a.device)
    os.makedirs(a.run, exist_ok=True)
    name = os.path.basename(os.path.normpath(a.run))
    ckpt_path = os.path.join(a.run, "ckpt.pt")
    log_path = os.path.join(a.run, "log.csv")

    net = make_model(a).to(dev)
    ema = copy.deepcopy(net).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    opt = torch.optim.Adam(net.parameters(), lr=a.lr)
    base = Base(a, dev) if a.model == "sr3" else None
    data = sr_data.SRTrainData("train", a.scale, a.patch, a.seed, rgb=bool(a.base))
    a.n_train_images = len(data.images)
    a.train_sources = ", ".join("%s %d" % (s, data.images.sources.count(s)) for s in sr_data.SOURCES)
    step, elapsed = 0, 0.0
    if a.init and a.model == "sr3" and not os.path.exists(ckpt_path):
        init_sr3_from(net, a.init)
        ema.load_state_dict(net.state_dict())
    elif a.init and not os.path.exists(ckpt_path):
        import sr_golden
        m0, meta0 = sr_golden.load_shipped(a.init)
        if meta0.get("arch") != "srfast" or int(meta0["scale"]) != a.scale:
            raise SystemExit("--init %s: not a %dx srfast file" % (a.init, a.scale))
        net.load_state_dict(m0.state_dict())
        ema.load_state_dict(m0.state_dict())
        a.init_steps = meta0.get("training_steps", meta0.get("steps", "?"))
        print("initialised from %s" % a.init, flush=True)
    if os.path.exists(ckpt_path):
        ck = load_ckpt(ckpt_path, dev)
        net.load_state_dict(ck["model"])
        ema.load_state_dict(ck["ema"])
        opt.load_state_dict(ck["opt"])
        data.set_state(ck["data_rng"])
        torch.set_rng_state(ck["torch_rng"])
        step, elapsed = ck["step"], ck["elapsed"]
        a.target = ck["args"].get("target", "image")
        a.residual_scale = ck["args"].get("residual_scale", 1.0)
        if ck["args"].get("base_sha256", "") != getattr(a, "base_sha256", ""):
            raise SystemExit("%s: the checkpoint was trained over another --base" % ckpt_path)
        print("resumed %s at step %d (%.0f s)" % (name, step, elapsed), flush=True)
        if ck.get("done") and elapsed >= a.minutes * 60.0:
            print("%s already done" % name)
            return
    if not hasattr(a, "residual_scale"):
        a.residual_scale = 1.0
        if a.model == "sr3" and a.target == "residual":
            a.residual_scale = measure_residual_scale(data, base, dev)
            print("residual scale c = %.4f (residual std %.5f in [-1,1] units)"
                  % (a.residual_scale, 1 / a.residual_scale), flush=True)
    diff = (sr_models.SR3(net, target=a.target, residual_scale=a.residual_scale).to(dev)
            if a.model == "sr3" else None)
    val = Validator(a, dev, base)
    new_log = not os.path.exists(log_path)
    logf = open(log_path, "a", newline="")
    fields = ["step", "elapsed_s", "train_loss", "val_psnr", "val_l1", "val_eps_l1",
              "val_psnr_ddim20", "val_psnr_bicubic"] + (["val_psnr_base"] if a.base else [])
    wr = csv.DictWriter(logf, fieldnames=fields)
    if new_log:
        wr.writeheader()

    budget = a.minutes * 60.0
    t0 = time.time() - elapsed
    last_val = last_ck = time.time()
    run_loss, run_n = 0.0, 0
    print("training %s: %s x%d, batch %d, patch %d, %d params, %.1f min" % (
        name, a.model, a.scale, a.batch, a.patch, sum(p.numel() for p in net.parameters()),
        a.minutes), flush=True)
    while True:
        elapsed = time.time() - t0
        if elapsed >= budget or (a.max_steps and step >= a.max_steps):
            break
        for gparam in opt.param_groups:  # cosine decay over the time budget, 10% floor
            gparam["lr"] = a.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, elapsed / budget))))
        lr, hr = data.batch(a.batch)
        lr_n, hr_n = sr_data.to_net(lr.to(dev)), sr_data.to_net(hr.to(dev))
        net.train()
        if a.model == "fast":
            loss = (net(lr_n) - hr_n).abs().mean()
        else:
            loss = diff.loss(base(lr_n), hr_n)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        step += 1
        decay = 0.999 if a.init else min(0.999, (1 + step) / (10 + step))
        with torch.no_grad():
            for pe, pn in zip(ema.parameters(), net.parameters()):
                pe.mul_(decay).add_(pn.detach(), alpha=1 - decay)
        run_loss += float(loss)
        run_n += 1
        now = time.time()
        if now - last_val >= a.val_every:
            m = val(ema)
            row = {"step": step, "elapsed_s": "%.1f" % (now - t0), "train_loss": "%.5f" % (run_loss / run_n)}
            row.update({k: "%.4f" % v for k, v in m.items()})
            wr.writerow(row)
            logf.flush()
            print(row, flush=True)
            run_loss, run_n = 0.0, 0
            last_val = now
        if now - last_ck >= a.ckpt_sec:
            save_ckpt(ckpt_path, model=net.state_dict(), ema=ema.state_dict(), opt=opt.state_dict(),
                      data_rng=data.state(), torch_rng=torch.get_rng_state(), step=step,
                      elapsed=now - t0, args=vars(a), cfg=net.cfg)
            last_ck = now
    elapsed = time.time() - t0
    m = val(ema, final=True)
    row = {"step": step, "elapsed_s": "%.1f" % elapsed,
           "train_loss": "%.5f" % (run_loss / run_n) if run_n else ""}
    row.update({k: "%.4f" % v for k, v in m.items()})
    wr.writerow(row)
    logf.close()
    print("final", row, flush=True)
    save_ckpt(ckpt_path, model=net.state_dict(), ema=ema.state_dict(), opt=opt.state_dict(),
              data_rng=data.state(), torch_rng=torch.get_rng_state(), step=step, elapsed=elapsed,
              args=vars(a), cfg=net.cfg, final_val=m, done=True)
    os.makedirs(os.path.join(REPO, "eval"), exist_ok=True)
    shutil.copyfile(log_path, os.path.join(REPO, "eval", "train_sr_%s.csv" % name))
    plot(log_path, os.path.join(REPO, "eval", "train_sr_%s.png" % name),
         "%s x%d (%d steps, %.0f min CPU)" % (a.model, a.scale, step, elapsed / 60))


if __name__ == "__main__":
    main()
