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
              "val_l1_ab", "val_psnr", "lr"]


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
    ap.add_argument("--no-bn-freeze", dest="bn_freeze", action="store_false",
                    help="keep BatchNorm in train mode during the cGAN phase (see bn_freeze)")
    ap.add_argument("--bn-calib-batches", type=int, default=30)
    a = ap.parse_args(argv)
    if a.crop % 32 or a.val_crop % 32:
        ap.error("--crop and --val-crop must be multiples of 32 (the U-Net downsamples 5 times)")
    return a


def to_io(rgb, space):
    """sRGB [0,1] batch -> (net input L/50-1, target in the net's output space)."""
    l_in, ab = ad.lab_split(rgb)
    return l_in, (ab if space == "lab" else rgb * 2.0 - 1.0)


def to_rgb(l_in, out, space):
    return ad.lab_join(l_in, out) if space == "lab" else (out + 1.0) * 0.5


def val_set(a, rng_seed=99):
    """A fixed subset: val-count central crops spread evenly over the sources' val images."""
    srcs = a.sources.split(",")
    per = max(1, a.val_count // len(srcs))
    crops = []
    for s in srcs:
        p = ad.Packed("val", [s])
        if len(p) == 0:
            continue
        idx = np.linspace(0, len(p) - 1, min(per, len(p))).round().astype(int)
        crops += [ad.center_crop(p[int(i)], a.val_crop) for i in idx]
    return np.stack(crops)


@torch.no_grad()
def validate(G, vset, space, device):
    G.eval()
    l1s, psnrs = [], []
    for i in range(0, len(vset), 8):
        rgb = ad.uint8_to_tensor(vset[i:i + 8], device)
        l_in, _ = to_io(rgb, space)
        pred_rgb = to_rgb(l_in, G(l_in), space)
        pred_ab = ad.rgb_to_lab(pred_rgb)[:, 1:]
        true_ab = ad.rgb_to_lab(rgb)[:, 1:]
        l1s.append((pred_ab - true_ab).abs().mean(dim=(1, 2, 3)))
        mse = ((pred_rgb - rgb) ** 2).mean(dim=(1, 2, 3)).clamp(min=1e-10)
        psnrs.append(10 * torch.log10(1.0 / mse))
    G.train()
    return float(torch.cat(l1s).mean()), float(torch.cat(psnrs).mean())


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
        G(to_io(rgb, cn.VARIANTS[a.variant][1])[0])
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


def save_ckpt(path, G, D, og, od, step, elapsed, rng, a, gan_start, bn_frozen=False):
    tmp = path + ".tmp"
    torch.save({"G": G.state_dict(), "D": D.state_dict(), "og": og.state_dict(), "od": od.state_dict(),
                "step": step, "elapsed": elapsed, "gan_start": gan_start, "bn_frozen": bn_frozen,
                "np_rng": rng.bit_generator.state,
                "torch_rng": torch.get_rng_state(), "args": vars(a)}, tmp)
    os.replace(tmp, path)


def gan_step(G, D, og, od, l_in, target, a):
    fake = G(l_in)
    # discriminator: real (L, target) vs fake (L, G(L))
    d_real = D(torch.cat([l_in, target], 1))
    d_fake = D(torch.cat([l_in, fake.detach()], 1))
    loss_d = 0.5 * (F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real)) +
                    F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))
    od.zero_grad(set_to_none=True)
    loss_d.backward()
    od.step()
    # generator: fool D + L1
    d_fake = D(torch.cat([l_in, fake], 1))
    adv = F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))
    l1 = (fake - target).abs().mean()
    og.zero_grad(set_to_none=True)
    (adv + a.lambda_l1 * l1).backward()
    og.step()
    return float(l1), float(adv), float(loss_d)


def l1_step(G, og, l_in, target):
    l1 = (G(l_in) - target).abs().mean()
    og.zero_grad(set_to_none=True)
    l1.backward()
    og.step()
    return float(l1)


def main(argv=None):
    a = parse_args(argv)
    torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    run_dir = os.path.join(a.runs, a.variant)
    os.makedirs(run_dir, exist_ok=True)
    ckpt, log_path = os.path.join(run_dir, "ckpt.pt"), os.path.join(run_dir, "log.csv")
    G, D, og, od, space = build(a, device)
    rng = np.random.default_rng(a.seed)
    step, elapsed, gan_start, bn_frozen = 0, 0.0, None, False
    if a.resume and os.path.exists(ckpt):
        st = torch.load(ckpt, map_location=device)
        G.load_state_dict(st["G"]), D.load_state_dict(st["D"])
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
    train = ad.Packed("train", a.sources.split(","))
    vset = val_set(a)
    print("variant %s: %d train images, %d val crops, G %.2fM params, D %.2fM params, device %s"
          % (a.variant, len(train), len(vset), sum(p.numel() for p in G.parameters()) / 1e6,
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
        rgb = ad.uint8_to_tensor(ad.random_batch(train, a.batch, a.crop, rng), device)
        l_in, target = to_io(rgb, space)
        if gan_start is None and (step >= a.pretrain_steps or (
                a.time_budget > 0 and time.time() - t0 > a.pretrain_frac * a.time_budget * 60)):
            gan_start = step
            print("GAN phase from step %d" % step, flush=True)
        if gan_start is not None and a.bn_freeze and not bn_frozen:
            recalibrate_bn(G, train, a, rng, device)
            bn_frozen = True
            set_bn(G, True)
            print("step %d: BatchNorm statistics recomputed and frozen for the cGAN phase" % step, flush=True)
        if gan_start is None:
            acc["l1"].append(l1_step(G, og, l_in, target))
        else:
            l1, adv, ld = gan_step(G, D, og, od, l_in, target, a)
            acc["l1"].append(l1), acc["adv"].append(adv), acc["d"].append(ld)
        step += 1
        if step % a.val_every == 0 or step == a.steps:
            vl1, vpsnr = validate(G, vset, space, device)
            set_bn(G, bn_frozen)
            mean = lambda v: ("%.5f" % np.mean(v)) if v else ""  # noqa: E731
            row = {"step": step, "phase": "l1" if gan_start is None else "gan",
                   "elapsed_s": "%.1f" % (time.time() - t0), "loss_l1": mean(acc["l1"]),
                   "loss_g_adv": mean(acc["adv"]), "loss_d": mean(acc["d"]),
                   "val_l1_ab": "%.4f" % vl1, "val_psnr": "%.3f" % vpsnr, "lr": a.lr}
            log.writerow(row)
            logf.flush()
            print(" ".join("%s=%s" % kv for kv in row.items()), flush=True)
            acc = {"l1": [], "adv": [], "d": []}
        if step % a.ckpt_every == 0:
            save_ckpt(ckpt, G, D, og, od, step, time.time() - t0, rng, a, gan_start, bn_frozen)
    if step % a.val_every and step != a.steps and (acc["l1"] or acc["d"]):
        vl1, vpsnr = validate(G, vset, space, device)
        log.writerow({"step": step, "phase": "l1" if gan_start is None else "gan",
                      "elapsed_s": "%.1f" % (time.time() - t0),
                      "loss_l1": "%.5f" % np.mean(acc["l1"]) if acc["l1"] else "",
                      "loss_g_adv": "%.5f" % np.mean(acc["adv"]) if acc["adv"] else "",
                      "loss_d": "%.5f" % np.mean(acc["d"]) if acc["d"] else "",
                      "val_l1_ab": "%.4f" % vl1, "val_psnr": "%.3f" % vpsnr, "lr": a.lr})
    save_ckpt(ckpt, G, D, og, od, step, time.time() - t0, rng, a, gan_start, bn_frozen)
    logf.close()
    print("done: step %d, %.1f min, checkpoint %s" % (step, (time.time() - t0) / 60, ckpt), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
