#!/usr/bin/env python3
"""train_rdn.py - fine-tunes an RDN (UpscalerJS pretrained, or random init) on the training split.

  # pretrained start: the RGB file of convert_upscalerjs.py --planes rgb, folded to one plane (mean)
  python3 scripts/train_rdn.py --scale 2 --init runs/rdn/slim_x2_rgb.safetensors --run runs/rdn_x2 \
      --time-budget 150 --threads 1
  # same architecture from random weights (comparison)
  python3 scripts/train_rdn.py --scale 2 --init random --arch-of runs/rdn/slim_x2_rgb.safetensors \
      --run runs/rdn_x2_random --time-budget 150 --threads 1
  # 4x as a 2x net run twice (what `upscale --scale 4` does with a 2x RDN), fine-tuned end to
  # end from a finished 2x run's best EMA
  python3 scripts/train_rdn.py --scale 4 --cascade --init runs/rdn_x2/best.pt --run runs/rdn_x4c \
      --time-budget 90 --threads 1 --patch 128 --batch 8
  # export the EMA weights (last, or --best) to fp16 safetensors
  python3 scripts/train_rdn.py --run runs/rdn_x2 --export runs/rdn/rdn_x2_ft.safetensors [--best]

The network is the 1-plane RDN of scripts/rdn.py (what the upscale stage runs per
plane): RGB weights are folded exactly into it (grey replicated to 3 channels, mean
of the 3 outputs). Data as train_sr.py (sr_data.SRTrainData over decals256, nasa,
stellarium: one random colour plane of a random crop with flips/rot90, LR = box
downsample, Gaussian noise sigma U(0,0.02) on half the LR). L1 in [-1,1] units,
Adam with cosine decay over the time budget (10% floor), EMA 0.999.

Resumable: rerunning the same command continues from RUN/ckpt.pt (model, EMA,
optimiser, data and torch RNG, step, counted seconds), rewritten every
--ckpt-min minutes and at the end; --time-budget counts training time over all
resumes (validation time excluded). RUN/log.csv: step, counted seconds, steps/s,
train L1, val PSNR of the EMA, bicubic PSNR on the same planes, gain (every
--val-min minutes; fixed val planes: centre 128 px crops of --val-images images
spread over the three sources, all 3 colour planes). RUN/best.pt keeps the EMA
with the best val PSNR so far.
"""
import argparse
import copy
import csv
import math
import os
import platform
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export  # noqa: E402
import rdn  # noqa: E402
import sr_data  # noqa: E402
import sr_models as M  # noqa: E402

FIELDS = ["step", "counted_s", "steps_per_s", "train_l1", "val_psnr", "val_psnr_bicubic", "val_gain_db"]


def parse():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True, help="run folder (ckpt.pt, best.pt, log.csv)")
    ap.add_argument("--scale", type=int, choices=(2, 4))
    ap.add_argument("--init", help="RGB RDN .safetensors (convert_upscalerjs.py --planes rgb) or 'random'")
    ap.add_argument("--arch-of", help="with --init random: take the hyper-parameters from this file")
    ap.add_argument("--time-budget", type=float, default=150.0, help="training minutes over all resumes")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--patch", type=int, default=64, help="HR patch side")
    ap.add_argument("--lr", type=float, default=None,
                    help="default 1e-4 pretrained, 4e-4 random, 2e-5 from a fine-tuned .pt")
    ap.add_argument("--val-min", type=float, default=5.0)
    ap.add_argument("--ckpt-min", type=float, default=3.0)
    ap.add_argument("--val-images", type=int, default=12)
    ap.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (0: time only)")
    ap.add_argument("--ema", type=float, default=0.999, help="EMA decay of the exported weights")
    ap.add_argument("--cascade", action="store_true",
                    help="--scale 4 with a 2x net applied twice (the intermediate clamped to [-1,1]); "
                         "--init is then a 2x run's .pt checkpoint")
    ap.add_argument("--export", metavar="OUT", help="write the run's EMA weights to OUT and exit")
    ap.add_argument("--best", action="store_true", help="with --export: the best-by-val EMA")
    return ap.parse_args()


def load_rgb(path):
    arrays, meta = export.read_safetensors(path)
    cfg = rdn.cfg_from_metadata(meta)
    if meta.get("arch") != "rdn" or cfg["cin"] != 3 or cfg["cout"] != 3:
        raise SystemExit("%s: not an RGB RDN (convert_upscalerjs.py --planes rgb)" % path)
    net = rdn.RDN(**cfg)
    net.load_state_dict({k: torch.from_numpy(v.astype(np.float32)) for k, v in arrays.items()})
    return net, meta


class Twice(torch.nn.Module):
    """A 2x net applied twice, the intermediate clamped to the value range as a saved 2x result
    would be (src/upscale/drive.c does the same for --scale 4 with a 2x RDN)."""
    def __init__(self, net):
        super().__init__()
        self.net = net
        self.scale = 2 * net.scale
        self.cfg = net.cfg

    def forward(self, x):
        return self.net(self.net(x).clamp(-1.0, 1.0))


def init_model(a):
    if a.init.endswith(".pt"):
        ck = M.load_ckpt(a.init, "cpu")
        net = rdn.RDN(**ck["cfg"])
        net.load_state_dict(ck["ema"])
        return net, "%s step %d EMA (%s)" % (a.init, ck["step"], ck["init"])
    if a.init == "random":
        if not a.arch_of:
            raise SystemExit("--init random needs --arch-of FILE for the hyper-parameters")
        cfg = dict(rdn.cfg_from_metadata(export.read_safetensors(a.arch_of)[1]), cin=1, cout=1)
        torch.manual_seed(a.seed)
        return rdn.RDN(**cfg), "random init (PyTorch default), architecture of %s" % a.arch_of
    rgb, meta = load_rgb(a.init)
    return rdn.to_single_plane(rgb), "%s (%s), folded to one plane (mean)" % (meta.get("source"), a.init)


class Validator:
    def __init__(self, scale, n_images):
        lr, hr, _ = sr_data.fixed_set("val", scale, 128, n_images)
        self.lr, self.hr = lr, hr
        self.bic = float(sr_data.psnr(M.bicubic_up(lr, scale), hr).mean())

    @torch.no_grad()
    def __call__(self, net):
        net.eval()
        out = torch.cat([sr_data.from_net(net(sr_data.to_net(self.lr[i:i + 12])))
                         for i in range(0, len(self.lr), 12)])
        return float(sr_data.psnr(out, self.hr).mean())


def save(path, **kw):
    torch.save(kw, path + ".tmp")
    os.replace(path + ".tmp", path)


def do_export(a):
    ck = M.load_ckpt(os.path.join(a.run, "best.pt" if a.best else "ckpt.pt"), "cpu")
    args = ck["args"]
    net = rdn.RDN(**ck["cfg"])
    net.load_state_dict(ck["ema"])
    arrays, _ = export.state_dict_arrays(net.state_dict())
    meta = rdn.metadata(net.cfg)
    meta.update({
        "planes": "one plane (colour images and FITS bands are upscaled plane by plane)",
        "init": ck["init"], "source_license": ck.get("source_license", ""),
        "source_sha256_tarball": ck.get("source_sha256_tarball", ""),
        "training": "fine-tuned by scripts/train_rdn.py on data/splits train (decals256, nasa, stellarium): "
                    "one colour plane of random %d px HR crops (flips/rot90), LR = box downsample, Gaussian "
                    "noise sigma U(0,0.02) on half the LR; L1; Adam %g cosine; EMA %g (exported%s)"
                    % (args["patch"], args["lr"], args.get("ema", 0.999), ", best val" if a.best else ""),
        "training_steps": str(ck["step"]), "training_seconds": "%.0f" % ck["counted"],
        "batch": str(args["batch"]), "seed": str(args["seed"]),
        "hardware": "%s, torch %s, %d thread(s)" % (platform.machine(), torch.__version__, args["threads"]),
        "val_psnr": "%.4f" % ck.get("val_psnr", float("nan")),
        "val_psnr_bicubic": "%.4f" % ck.get("val_psnr_bicubic", float("nan")),
        "git_revision": export.git_revision(), "dtype": "F16 (trained in F32)",
    })
    if args.get("cascade"):
        meta["applied_as"] = ("4x as this 2x net run twice (intermediate clamped to the value range), "
                              "trained end to end for that from %s" % ck["init"])
    export.write_safetensors(a.export, arrays, meta)
    print("wrote %s (step %d, %.0f s, val %.3f dB)" % (a.export, ck["step"], ck["counted"], ck.get("val_psnr", float("nan"))))


def main():
    a = parse()
    if a.export:
        return do_export(a)
    torch.set_num_threads(a.threads)
    os.makedirs(a.run, exist_ok=True)
    ckpt_path, best_path, log_path = (os.path.join(a.run, n) for n in ("ckpt.pt", "best.pt", "log.csv"))
    resume = os.path.exists(ckpt_path)
    if resume:
        ck = M.load_ckpt(ckpt_path, "cpu")
        saved = ck["args"]
        for k in ("scale", "init", "arch_of", "seed", "batch", "patch", "lr", "ema"):
            setattr(a, k, saved.get(k, getattr(a, k)))  # a resume continues the same run
        a.cascade = saved.get("cascade", False)
        net = rdn.RDN(**ck["cfg"])
        init_desc = ck["init"]
        net.load_state_dict(ck["model"])
    else:
        if not a.scale or not a.init:
            raise SystemExit("a new run needs --scale and --init")
        net, init_desc = init_model(a)
        if a.cascade and (a.scale != 4 or net.scale != 2):
            raise SystemExit("--cascade: --scale 4 from a 2x net")
        if net.scale * (2 if a.cascade else 1) != a.scale:
            raise SystemExit("--init is a x%d model, --scale %d" % (net.scale, a.scale))
        a.lr = a.lr or (4e-4 if a.init == "random" else 2e-5 if a.init.endswith(".pt") else 1e-4)
    torch.manual_seed(a.seed)
    ema = copy.deepcopy(net).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    opt = torch.optim.Adam(net.parameters(), lr=a.lr)
    model, ema_model = (Twice(net), Twice(ema)) if a.cascade else (net, ema)
    data = sr_data.SRTrainData("train", a.scale, a.patch, a.seed)
    step, counted, best = 0, 0.0, -1.0
    src_meta = {}
    if a.init.endswith(".pt"):
        c0 = M.load_ckpt(a.init, "cpu")
        src_meta = {k: c0[k] for k in ("source_license", "source_sha256_tarball") if k in c0}
    elif a.init != "random":
        m = export.read_safetensors(a.init)[1]
        src_meta = {"source_license": m.get("source_license", ""),
                    "source_sha256_tarball": m.get("source_sha256_tarball", "")}
    if resume:
        ema.load_state_dict(ck["ema"])
        opt.load_state_dict(ck["opt"])
        data.set_state(ck["data_rng"])
        torch.set_rng_state(ck["torch_rng"])
        step, counted, best = ck["step"], ck["counted"], ck.get("best", -1.0)
        print("resumed %s at step %d (%.1f of %.1f min)" % (a.run, step, counted / 60, a.time_budget), flush=True)
    val = Validator(a.scale, a.val_images)
    new_log = not os.path.exists(log_path)
    logf = open(log_path, "a", newline="")
    wr = csv.DictWriter(logf, fieldnames=FIELDS)
    if new_log:
        wr.writeheader()
        p0 = val(ema_model)
        wr.writerow({"step": 0, "counted_s": "0.0", "steps_per_s": "", "train_l1": "",
                     "val_psnr": "%.4f" % p0, "val_psnr_bicubic": "%.4f" % val.bic, "val_gain_db": "%.4f" % (p0 - val.bic)})
        logf.flush()
        print("start: val %.3f dB, bicubic %.3f dB" % (p0, val.bic), flush=True)
    budget = a.time_budget * 60.0
    print("training %s: RDN %s x%d from %s, batch %d, patch %d, lr %g, %d params, budget %.1f min" % (
        a.run, net.cfg, a.scale, init_desc, a.batch, a.patch, a.lr, sum(p.numel() for p in net.parameters()),
        a.time_budget), flush=True)

    def checkpoint(extra=None):
        kw = dict(model=net.state_dict(), ema=ema.state_dict(), opt=opt.state_dict(), data_rng=data.state(),
                  torch_rng=torch.get_rng_state(), step=step, counted=counted, best=best, args=vars(a),
                  cfg=net.cfg, init=init_desc, **src_meta)
        kw.update(extra or {})
        save(ckpt_path, **kw)

    last_val = last_ck = counted
    run_loss, run_n, seg_t, seg_steps = 0.0, 0, 0.0, 0
    while counted < budget and not (a.max_steps and step >= a.max_steps):
        t = time.time()
        for g in opt.param_groups:
            g["lr"] = a.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, counted / budget))))
        lr, hr = data.batch(a.batch)
        net.train()
        loss = (model(sr_data.to_net(lr)) - sr_data.to_net(hr)).abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        step += 1
        # a run from a fine-tuned .pt starts where it wants to be: no EMA warm-up, which would let
        # the first noisy Adam steps (each weight moves by ~lr) into the averaged weights
        decay = a.ema if a.init.endswith(".pt") else min(a.ema, (1 + step) / (10 + step))
        with torch.no_grad():
            for pe, pn in zip(ema.parameters(), net.parameters()):
                pe.mul_(decay).add_(pn.detach(), alpha=1 - decay)
        dt = time.time() - t
        counted += dt
        seg_t += dt
        seg_steps += 1
        run_loss += float(loss)
        run_n += 1
        final = counted >= budget or (a.max_steps and step >= a.max_steps)
        if counted - last_val >= a.val_min * 60 or final:
            p = val(ema_model)
            wr.writerow({"step": step, "counted_s": "%.1f" % counted, "steps_per_s": "%.4f" % (seg_steps / seg_t),
                         "train_l1": "%.5f" % (run_loss / run_n), "val_psnr": "%.4f" % p,
                         "val_psnr_bicubic": "%.4f" % val.bic, "val_gain_db": "%.4f" % (p - val.bic)})
            logf.flush()
            print("step %d, %.1f min: %.3f steps/s, train L1 %.5f, val %.3f dB (bicubic %.3f, %+.3f)" % (
                step, counted / 60, seg_steps / seg_t, run_loss / run_n, p, val.bic, p - val.bic), flush=True)
            if p > best:
                best = p
                save(best_path, ema=ema.state_dict(), step=step, counted=counted, args=vars(a), cfg=net.cfg,
                     init=init_desc, val_psnr=p, val_psnr_bicubic=val.bic, **src_meta)
            run_loss, run_n, seg_t, seg_steps = 0.0, 0, 0.0, 0
            last_val = counted
            checkpoint({"val_psnr": p, "val_psnr_bicubic": val.bic})
            last_ck = counted
        elif counted - last_ck >= a.ckpt_min * 60:
            checkpoint()
            last_ck = counted
    logf.close()
    print("done: step %d, %.1f min counted, best val %.3f dB" % (step, counted / 60, best), flush=True)


if __name__ == "__main__":
    main()
