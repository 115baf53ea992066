#!/usr/bin/env python3
"""train_colorizer.py - trains the pix2pix colorizer (scripts/colornet.py) on data/splits train.

Phases (as in Isola et al. 2017 with the generator pretrained on L1 first):
  1. --pretrain-steps steps of L1 only (generator), or, with --time-budget, until
     --pretrain-frac of the budget has passed, whichever comes first;
  2. cGAN: L1 * --lambda-l1 (100) + adversarial (BCE with logits) against a PatchGAN on
     (L, colour); Adam lr 2e-4, betas (0.5, 0.999) for both nets.
Variants: lab (ResNet-18-shaped U-Net predicting a*b*), rgb (same net predicting sRGB),
basic (plain conv U-Net predicting a*b*).

BatchNorm: in the L1 phase the generator's BN runs in train mode as usual. Under the adversarial
loss the generator came to depend on per-batch statistics (eval-mode validation collapsed: val L1
6 -> 30 a*b* units in the first shipped attempt), and the C engine runs eval-mode BN. So at the start
of the cGAN phase the running statistics are recomputed at the current weights (a cumulative
average over --bn-calib-batches batches of --val-crop crops, "precise BN") and then frozen: the
cGAN phase trains the generator with eval-mode BN, i.e. exactly the function the engine computes
(--no-bn-freeze disables this).

Every --val-every steps: val L1 in a*b* (Lab units) and PSNR of the sRGB reconstruction on a fixed
val subset (central crops, eval-mode BatchNorm, i.e. what the C engine computes), appended to
runs/<variant>/log.csv with the training losses. Checkpoints runs/<variant>/ckpt.pt (resumable with
--resume: nets, optimisers, step, RNG states, elapsed time). --time-budget stops the run (and
saves) after that many minutes of training, counted across resumes.

Issue 12 recipe (the one that colours): --ab-down F runs the generator on L* box-averaged by F and
upsamples its a*b* bilinearly (half-pixel centres, as torch's align_corners=False and the C engine)
before recombining with the full-resolution L* - chroma is smooth, so the net sees F^2 fewer pixels
and F times more context per step. --loss rgb2 makes the regression phase minimise the squared sRGB
error of that recombined image (what PSNR measures; an L1 loss on a*b* is minimised by the median,
which is grey for most pixels of these images - the shipped model learned exactly that). --balance
samples each source (decals256, nasa, stellarium) equally often. Validation then reports the PSNR
per source next to the grey baseline's on the same crops (val_gain = mean over sources of the gain).
"""
import argparse
import csv
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import astrodata as ad  # noqa: E402
import colornet as cn  # noqa: E402

LOG_FIELDS = ["step", "phase", "elapsed_s", "loss_l1", "loss_g_adv", "loss_d",
              "val_l1_ab", "val_psnr", "lr", "val_gain", "val_gain_by_source"]


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--variant", choices=sorted(cn.VARIANTS), default="lab")
    ap.add_argument("--steps", type=int, default=4000, help="total steps (pretrain + GAN)")
    ap.add_argument("--pretrain-steps", type=int, default=1500)
    ap.add_argument("--pretrain-frac", type=float, default=1.0,
                    help="with --time-budget: the L1 phase also ends after this fraction of the budget")
    ap.add_argument("--crop", type=int, default=96, help="training crop (multiple of 32)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--base", type=int, default=32, help="generator/discriminator base width")
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--lambda-l1", type=float, default=100.0)
    ap.add_argument("--time-budget", type=float, default=0.0, help="minutes (0 = no limit)")
    ap.add_argument("--device", default="cpu", help="cpu | cuda")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--val-every", type=int, default=100)
    ap.add_argument("--val-crop", type=int, default=128)
    ap.add_argument("--val-count", type=int, default=48)
    ap.add_argument("--ckpt-every", type=int, default=200)
    ap.add_argument("--sources", default="stellarium,decals256,nasa")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--runs", default=os.path.join(ad.REPO, "runs"))
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--name", default=None, help="run folder under --runs (default: the variant)")
    ap.add_argument("--no-bn-freeze", dest="bn_freeze", action="store_false",
                    help="keep BatchNorm in train mode during the cGAN phase (see bn_freeze)")
    ap.add_argument("--bn-calib-batches", type=int, default=30)
    ap.add_argument("--ab-down", type=int, default=1, choices=(1, 2, 4),
                    help="run the net on L* averaged over FxF blocks, upsample a*b* bilinearly")
    ap.add_argument("--loss", choices=("l1", "l2", "rgb2", "psnr"), default="l1",
                    help="regression loss: L1 / L2 on the net's output, squared sRGB error of the result "
                         "(rgb2), or the mean over crops of log10 of each crop's sRGB MSE (psnr)")
    ap.add_argument("--gan-lr-g", type=float, default=None,
                    help="generator lr in the cGAN phase (default --lr); the discriminator uses --gan-lr-d")
    ap.add_argument("--gan-lr-d", type=float, default=None, help="discriminator lr (default --lr)")
    ap.add_argument("--ema", type=float, default=0.0,
                    help="keep an exponential moving average of the generator (e.g. 0.999); validation, "
                         "checkpoints (G_ema) and export use it")
    ap.add_argument("--balance", action="store_true", help="sample every source equally often")
    ap.add_argument("--lr-end", type=float, default=None,
                    help="cosine decay of the regression phase's lr to this value over the budget")
    a = ap.parse_args(argv)
    m = 32 * a.ab_down
    if a.crop % m or a.val_crop % m:
        ap.error("--crop and --val-crop must be multiples of %d (32 x --ab-down)" % m)
    return a


def to_io(rgb, space):
    """sRGB [0,1] batch -> (net input L/50-1, target in the net's output space)."""
    l_in, ab = ad.lab_split(rgb)
    return l_in, (ab if space == "lab" else rgb * 2.0 - 1.0)


def to_rgb(l_in, out, space):
    return ad.lab_join(l_in, out) if space == "lab" else (out + 1.0) * 0.5


def down(x, f):
    return x if f == 1 else F.avg_pool2d(x, f)


def up(x, f):
    return x if f == 1 else F.interpolate(x, scale_factor=f, mode="bilinear", align_corners=False)


def forward(G, l_in, f):
    """(net output at 1/f, that output upsampled to l_in's size)."""
    low = G(down(l_in, f))
    return low, up(low, f)


def regression_loss(a, space, l_in, rgb, target, low, full):
    if a.loss == "rgb2":
        return ((to_rgb(l_in, full, space) - rgb) ** 2).mean()
    if a.loss == "psnr":
        # -mean PSNR / 10: each crop's error counts relative to its own level, so the dark DECaLS
        # cutouts (sRGB MSE ~4e-4) weigh as much as bright false-colour pictures (~5e-3)
        mse = ((to_rgb(l_in, full, space) - rgb) ** 2).mean(dim=(1, 2, 3))
        return torch.log10(mse + 1e-5).mean()
    t = down(target, a.ab_down)
    return (low - t).abs().mean() if a.loss == "l1" else ((low - t) ** 2).mean()


def val_set(a, rng_seed=99):
    """A fixed subset: val-count central crops spread evenly over the sources' val images."""
    srcs = a.sources.split(",")
    per = max(1, a.val_count // len(srcs))
    crops, labels = [], []
    for s in srcs:
        p = ad.Packed("val", [s])
        if len(p) == 0:
            continue
        idx = np.linspace(0, len(p) - 1, min(per, len(p))).round().astype(int)
        crops += [ad.center_crop(p[int(i)], a.val_crop) for i in idx]
        labels += [s] * len(idx)
    return np.stack(crops), labels


def psnr(x, y):
    return 10 * torch.log10(1.0 / ((x - y) ** 2).mean(dim=(1, 2, 3)).clamp(min=1e-10))


@torch.no_grad()
def validate(G, vset, space, device, f=1):
    """-> (mean a*b* L1, mean PSNR, mean over sources of the PSNR gain over grey, {source: gain})."""
    crops, labels = vset
    G.eval()
    l1s, psnrs, greys = [], [], []
    for i in range(0, len(crops), 8):
        rgb = ad.uint8_to_tensor(crops[i:i + 8], device)
        l_in, _ = to_io(rgb, space)
        pred_rgb = to_rgb(l_in, forward(G, l_in, f)[1], space)
        pred_ab = ad.rgb_to_lab(pred_rgb)[:, 1:]
        true_ab = ad.rgb_to_lab(rgb)[:, 1:]
        l1s.append((pred_ab - true_ab).abs().mean(dim=(1, 2, 3)))
        psnrs.append(psnr(pred_rgb, rgb))
        greys.append(psnr(ad.lab_join(l_in, torch.zeros_like(true_ab)), rgb))
    G.train()
    p, g = torch.cat(psnrs), torch.cat(greys)
    gains = {s: float((p - g)[[j for j, t in enumerate(labels) if t == s]].mean()) for s in sorted(set(labels))}
    return float(torch.cat(l1s).mean()), float(p.mean()), float(np.mean(list(gains.values()))), gains


def set_bn(G, frozen):
    """Generator in train mode, its BatchNorm layers in eval mode when frozen."""
    G.train()
    for m in G.modules():
        if frozen and isinstance(m, torch.nn.BatchNorm2d):
            m.eval()


@torch.no_grad()
def recalibrate_bn(G, train, a, rng, device):
    """Precise BN: running stats = plain average of batch stats at the current weights."""
    bns = [m for m in G.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    G.train()
    for _ in range(a.bn_calib_batches):
        rgb = ad.uint8_to_tensor(ad.random_batch(train, a.batch, a.val_crop, rng), device)
        G(down(to_io(rgb, cn.VARIANTS[a.variant][1])[0], a.ab_down))
    for m in bns:
        m.momentum = 0.1


def d_init(m):
    if isinstance(m, torch.nn.Conv2d):
        torch.nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            torch.nn.init.zeros_(m.bias)
    elif isinstance(m, torch.nn.BatchNorm2d):
        torch.nn.init.normal_(m.weight, 1.0, 0.02)
        torch.nn.init.zeros_(m.bias)


def build(a, device):
    torch.manual_seed(a.seed)
    G = cn.make_generator(a.variant, a.base).to(device)
    cn.init_generator(G)
    space, out_ch = cn.VARIANTS[a.variant][1], cn.VARIANTS[a.variant][2]
    D = cn.PatchD(1 + out_ch, a.base).to(device)
    D.apply(d_init)
    og = torch.optim.Adam(G.parameters(), lr=a.lr, betas=(0.5, 0.999))
    od = torch.optim.Adam(D.parameters(), lr=a.lr, betas=(0.5, 0.999))
    return G, D, og, od, space


@torch.no_grad()
def ema_update(G_ema, G, decay):
    """Parameters averaged; buffers (BatchNorm statistics) copied, so the average always runs
    with the statistics of the current weights' phase (train or frozen)."""
    for pe, p in zip(G_ema.parameters(), G.parameters()):
        pe.mul_(decay).add_(p, alpha=1.0 - decay)
    for be, b in zip(G_ema.buffers(), G.buffers()):
        be.copy_(b)


def save_ckpt(path, G, D, og, od, step, elapsed, rng, a, gan_start, bn_frozen=False, G_ema=None):
    tmp = path + ".tmp"
    torch.save({"G": G.state_dict(), "G_ema": (G_ema or G).state_dict(), "D": D.state_dict(), "og": og.state_dict(), "od": od.state_dict(),
                "step": step, "elapsed": elapsed, "gan_start": gan_start, "bn_frozen": bn_frozen,
                "np_rng": rng.bit_generator.state,
                "torch_rng": torch.get_rng_state(), "args": vars(a)}, tmp)
    os.replace(tmp, path)


def gan_step(G, D, og, od, l_in, rgb, target, a, space):
    """pix2pix step at the net's resolution: D sees (L, colour) averaged to 1/ab_down; the
    generator's reconstruction term is the regression loss (weight --lambda-l1)."""
    fake, full = forward(G, l_in, a.ab_down)
    l_low, t_low = down(l_in, a.ab_down), down(target, a.ab_down)
    # discriminator: real (L, target) vs fake (L, G(L))
    d_real = D(torch.cat([l_low, t_low], 1))
    d_fake = D(torch.cat([l_low, fake.detach()], 1))
    loss_d = 0.5 * (F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real)) +
                    F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))
    od.zero_grad(set_to_none=True)
    loss_d.backward()
    od.step()
    # generator: fool D + L1
    d_fake = D(torch.cat([l_low, fake], 1))
    adv = F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))
    l1 = regression_loss(a, space, l_in, rgb, target, fake, full)
    og.zero_grad(set_to_none=True)
    (adv + a.lambda_l1 * l1).backward()
    og.step()
    return float(l1), float(adv), float(loss_d)


def l1_step(G, og, l_in, rgb, target, a, space):
    low, full = forward(G, l_in, a.ab_down)
    l1 = regression_loss(a, space, l_in, rgb, target, low, full)
    og.zero_grad(set_to_none=True)
    l1.backward()
    og.step()
    return float(l1)


def main(argv=None):
    a = parse_args(argv)
    torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    run_dir = os.path.join(a.runs, a.name or a.variant)
    os.makedirs(run_dir, exist_ok=True)
    ckpt, log_path = os.path.join(run_dir, "ckpt.pt"), os.path.join(run_dir, "log.csv")
    G, D, og, od, space = build(a, device)
    rng = np.random.default_rng(a.seed)
    step, elapsed, gan_start, bn_frozen, resumed_ema = 0, 0.0, None, False, None
    if a.resume and os.path.exists(ckpt):
        st = torch.load(ckpt, map_location=device)
        G.load_state_dict(st["G"]), D.load_state_dict(st["D"])
        resumed_ema = st.get("G_ema")
        og.load_state_dict(st["og"]), od.load_state_dict(st["od"])
        step, elapsed = st["step"], st["elapsed"]
        gan_start, bn_frozen = st.get("gan_start"), st.get("bn_frozen", False)
        if gan_start is None and step > a.pretrain_steps:
            gan_start = a.pretrain_steps
        rng.bit_generator.state = st["np_rng"]
        torch.set_rng_state(st["torch_rng"])
        set_bn(G, bn_frozen)
        print("resumed %s at step %d (%.1f min)" % (ckpt, step, elapsed / 60), flush=True)
    elif os.path.exists(log_path):
        os.remove(log_path)
    G_ema = None
    if a.ema > 0:
        import copy
        G_ema = copy.deepcopy(G)
        if a.resume and os.path.exists(ckpt) and resumed_ema is not None:
            G_ema.load_state_dict(resumed_ema)
        G_ema.eval()
    train = ad.Packed("train", a.sources.split(","))
    weights = None
    if a.balance:
        counts = {src: train.sources.count(src) for src in set(train.sources)}
        weights = np.array([1.0 / (len(counts) * counts[src]) for src in train.sources])
        print("balanced sources: %s" % ", ".join("%s %d images" % kv for kv in sorted(counts.items())), flush=True)
    vset = val_set(a)
    print("variant %s: %d train images, %d val crops, G %.2fM params, D %.2fM params, device %s"
          % (a.variant, len(train), len(vset[0]), sum(p.numel() for p in G.parameters()) / 1e6,
             sum(p.numel() for p in D.parameters()) / 1e6, device), flush=True)
    new_log = not os.path.exists(log_path)
    logf = open(log_path, "a", newline="")
    log = csv.DictWriter(logf, LOG_FIELDS)
    if new_log:
        log.writeheader()
    t0, acc = time.time() - elapsed, {"l1": [], "adv": [], "d": []}
    while step < a.steps:
        if a.time_budget > 0 and time.time() - t0 > a.time_budget * 60:
            print("time budget reached at step %d" % step, flush=True)
            break
        rgb = ad.uint8_to_tensor(ad.random_batch(train, a.batch, a.crop, rng, weights), device)
        l_in, target = to_io(rgb, space)
        if gan_start is None and (step >= a.pretrain_steps or (
                a.time_budget > 0 and time.time() - t0 > a.pretrain_frac * a.time_budget * 60)):
            # the regression phase's result is kept apart: the cGAN phase may only ship if it
            # costs little of the regression's gain (compared on the validation split)
            save_ckpt(os.path.join(run_dir, "ckpt_regression.pt"), G, D, og, od, step, time.time() - t0, rng, a,
                      None, bn_frozen, G_ema)
            gan_start = step
            print("GAN phase from step %d" % step, flush=True)
        if gan_start is not None:
            for opt, lr in ((og, a.gan_lr_g), (od, a.gan_lr_d)):
                for g in opt.param_groups:
                    g["lr"] = a.lr if lr is None else lr
        if gan_start is not None and a.bn_freeze and not bn_frozen:
            recalibrate_bn(G, train, a, rng, device)
            bn_frozen = True
            set_bn(G, True)
            print("step %d: BatchNorm statistics recomputed and frozen for the cGAN phase" % step, flush=True)
        if gan_start is None:
            if a.lr_end is not None and a.time_budget > 0:
                frac = min(1.0, (time.time() - t0) / (a.pretrain_frac * a.time_budget * 60))
                for g in og.param_groups:
                    g["lr"] = a.lr_end + 0.5 * (a.lr - a.lr_end) * (1 + math.cos(math.pi * frac))
            acc["l1"].append(l1_step(G, og, l_in, rgb, target, a, space))
        else:
            l1, adv, ld = gan_step(G, D, og, od, l_in, rgb, target, a, space)
            acc["l1"].append(l1), acc["adv"].append(adv), acc["d"].append(ld)
        step += 1
        if G_ema is not None:
            ema_update(G_ema, G, a.ema)
        if step % a.val_every == 0 or step == a.steps:
            vl1, vpsnr, vgain, vby = validate(G_ema or G, vset, space, device, a.ab_down)
            set_bn(G, bn_frozen)
            mean = lambda v: ("%.5f" % np.mean(v)) if v else ""  # noqa: E731
            row = {"step": step, "phase": "l1" if gan_start is None else "gan",
                   "elapsed_s": "%.1f" % (time.time() - t0), "loss_l1": mean(acc["l1"]),
                   "loss_g_adv": mean(acc["adv"]), "loss_d": mean(acc["d"]),
                   "val_l1_ab": "%.4f" % vl1, "val_psnr": "%.3f" % vpsnr,
                   "lr": "%.3g" % og.param_groups[0]["lr"], "val_gain": "%.3f" % vgain,
                   "val_gain_by_source": " ".join("%s:%.3f" % kv for kv in sorted(vby.items()))}
            log.writerow(row)
            logf.flush()
            print(" ".join("%s=%s" % kv for kv in row.items()), flush=True)
            acc = {"l1": [], "adv": [], "d": []}
        if step % a.ckpt_every == 0:
            save_ckpt(ckpt, G, D, og, od, step, time.time() - t0, rng, a, gan_start, bn_frozen, G_ema)
    if step % a.val_every and step != a.steps and (acc["l1"] or acc["d"]):
        vl1, vpsnr, vgain, vby = validate(G_ema or G, vset, space, device, a.ab_down)
        log.writerow({"step": step, "phase": "l1" if gan_start is None else "gan",
                      "elapsed_s": "%.1f" % (time.time() - t0),
                      "loss_l1": "%.5f" % np.mean(acc["l1"]) if acc["l1"] else "",
                      "loss_g_adv": "%.5f" % np.mean(acc["adv"]) if acc["adv"] else "",
                      "loss_d": "%.5f" % np.mean(acc["d"]) if acc["d"] else "",
                      "val_l1_ab": "%.4f" % vl1, "val_psnr": "%.3f" % vpsnr,
                      "lr": "%.3g" % og.param_groups[0]["lr"], "val_gain": "%.3f" % vgain,
                      "val_gain_by_source": " ".join("%s:%.3f" % kv for kv in sorted(vby.items()))})
    save_ckpt(ckpt, G, D, og, od, step, time.time() - t0, rng, a, gan_start, bn_frozen, G_ema)
    logf.close()
    print("done: step %d, %.1f min, checkpoint %s" % (step, (time.time() - t0) / 60, ckpt), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
