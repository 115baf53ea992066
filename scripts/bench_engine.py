#!/usr/bin/env python3
"""bench_engine.py - the PyTorch side of `astroenh bench` (src/bench/bench_engine.c).

Builds the two benchmark networks with fixed random weights, writes them with
an input and PyTorch's output to a safetensors file (default
build/bench_engine.safetensors) for the C engine to load, and times on the
CPU, with torch.set_num_threads(--threads):
  - the single ops of the C benchmark (same shapes, names "op:<name>"),
  - "net:unet":  a generic U-Net at 256x256 (colorizer-like: 1 -> 2 channels,
                 4 levels 32..256 channels, conv-BN-ReLU, max-pool, convT x2),
  - "net:sr3":   one SR3-like denoising step at 128x128 (6 -> 3 channels,
                 ResNet blocks with GroupNorm/SiLU and noise-level embedding,
                 self-attention at 16x16),
  "net:fast_x2", "net:fast_x4": the shipped upscaling networks, read from
                 --models (models/fast_x<s>.safetensors, whatever their arch:
                 srfast or rdn, as sr_golden.load_shipped builds them) on a
                 fixed 1 x 1 x --fast-px x --fast-px plane in network units;
                 their input and output go into --out as fast_x<s>.{input,output}
                 and the file's arch into the metadata (fast_x<s>.arch).
Prints one JSON object per line: {"name": ..., "ms": best-of-reps milliseconds}.
The C file mirrors these modules; tensor names are the state_dict names.
"""
import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_golden import SR3SelfAttention, sr3_noise_embed, write_safetensors  # noqa: E402
import sr_golden  # noqa: E402


# ------------------------------------------------------------------ U-Net

class DoubleConv(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(x)))


class UNet(nn.Module):
    """enc[i]: DoubleConv at 256/2^i px; down: max-pool 2; up[i]: ConvTranspose2d
    k2 s2 halving channels; dec[i]: DoubleConv on cat(up, skip); out: 1x1 + tanh."""

    def __init__(self, cin=1, cout=2, chans=(32, 64, 128, 256, 512)):
        super().__init__()
        self.enc = nn.ModuleList()
        c = cin
        for ch in chans:
            self.enc.append(DoubleConv(c, ch))
            c = ch
        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        for ch in reversed(chans[:-1]):
            self.up.append(nn.ConvTranspose2d(c, ch, 2, stride=2))
            self.dec.append(DoubleConv(2 * ch, ch))
            c = ch
        self.out = nn.Conv2d(c, cout, 1)

    def forward(self, x):
        skips = []
        for i, e in enumerate(self.enc):
            if i:
                x = F.max_pool2d(x, 2)
            x = e(x)
            skips.append(x)
        skips.pop()
        for u, d in zip(self.up, self.dec):
            x = d(torch.cat([u(x), skips.pop()], dim=1))
        return torch.tanh(self.out(x))


# ------------------------------------------------------------- SR3-like

class ResBlock(nn.Module):
    """SR3 ResnetBlock (use_affine_level=False): GN-SiLU-conv, + Linear(emb),
    GN-SiLU-conv, + 1x1 res_conv when channels change; optional SelfAttention."""

    def __init__(self, cin, cout, emb, groups, attn=False):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.emb = nn.Linear(emb, cout)
        self.norm2 = nn.GroupNorm(groups, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None
        self.attn = SR3SelfAttention(cout, 1, groups) if attn else None

    def forward(self, x, e):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(e).view(x.shape[0], -1, 1, 1)
        h = self.conv2(F.silu(self.norm2(h)))
        h = h + (self.skip(x) if self.skip is not None else x)
        return self.attn(h) if self.attn is not None else h


class SR3Lite(nn.Module):
    """SR3 UNet with inner_channel 32, channel_mults (1, 2, 4, 4), one res block
    per level, attention at 16x16, norm_groups 16."""

    def __init__(self, cin=6, cout=3, inner=32, mults=(1, 2, 4, 4), groups=16, attn_res=16, size=128):
        super().__init__()
        self.inner = inner
        self.noise1 = nn.Linear(inner, inner * 4)
        self.noise2 = nn.Linear(inner * 4, inner)
        self.conv_in = nn.Conv2d(cin, inner, 3, padding=1)
        self.downs = nn.ModuleList()
        self.down_kinds = []
        feat = [inner]
        c, res = inner, size
        for i, m in enumerate(mults):
            self.downs.append(ResBlock(c, inner * m, inner, groups, res == attn_res))
            self.down_kinds.append("res")
            c = inner * m
            feat.append(c)
            if i != len(mults) - 1:
                self.downs.append(nn.Conv2d(c, c, 3, 2, 1))
                self.down_kinds.append("down")
                feat.append(c)
                res //= 2
        self.mid1 = ResBlock(c, c, inner, groups, True)
        self.mid2 = ResBlock(c, c, inner, groups, False)
        self.ups = nn.ModuleList()
        self.up_kinds = []
        for i, m in reversed(list(enumerate(mults))):
            for _ in range(2):
                self.ups.append(ResBlock(c + feat.pop(), inner * m, inner, groups, res == attn_res))
                self.up_kinds.append("res")
                c = inner * m
            if i:
                self.ups.append(nn.Conv2d(c, c, 3, padding=1))
                self.up_kinds.append("up")
                res *= 2
        self.norm_out = nn.GroupNorm(groups, c)
        self.conv_out = nn.Conv2d(c, cout, 3, padding=1)

    def forward(self, x, gamma):
        e = sr3_noise_embed(gamma, self.inner)
        e = self.noise2(F.silu(self.noise1(e)))
        x = self.conv_in(x)
        feats = [x]
        for kind, m in zip(self.down_kinds, self.downs):
            x = m(x, e) if kind == "res" else m(x)
            feats.append(x)
        x = self.mid2(self.mid1(x, e), e)
        for kind, m in zip(self.up_kinds, self.ups):
            if kind == "res":
                x = m(torch.cat([x, feats.pop()], dim=1), e)
            else:
                x = m(F.interpolate(x, scale_factor=2, mode="nearest"))
        return self.conv_out(F.silu(self.norm_out(x)))


# ------------------------------------------------------------------ timing

def randomize_norms(model):
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                m.weight.uniform_(0.8, 1.2)
                m.bias.uniform_(-0.1, 0.1)
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.8, 1.2)


def best_ms(fn, reps, warmup=1):
    """Minimum over reps (after warm-up) of wall-clock and of process CPU ms:
    the least disturbed run on a shared machine. CPU time (all threads) does
    not count time spent preempted by other processes."""
    for _ in range(warmup):
        fn()
    ts, cs = [], []
    for _ in range(reps):
        t, c = time.perf_counter(), time.process_time()
        fn()
        ts.append((time.perf_counter() - t) * 1e3)
        cs.append((time.process_time() - c) * 1e3)
    return {"ms": min(ts), "cpu_ms": min(cs)}


# name -> callable building (fn) ; shapes must match OPS in bench_engine.c
def op_benches():
    def conv(cin, cout, k, px, stride=1):
        x = torch.randn(1, cin, px, px)
        m = nn.Conv2d(cin, cout, k, stride, k // 2)
        return lambda: m(x)

    def convT(cin, cout, px):
        x = torch.randn(1, cin, px, px)
        m = nn.ConvTranspose2d(cin, cout, 4, 2, 1)
        return lambda: m(x)

    def gn(c, px):
        x = torch.randn(1, c, px, px)
        m = nn.GroupNorm(32, c)
        return lambda: m(x)

    def silu(c, px):
        x = torch.randn(1, c, px, px)
        return lambda: F.silu(x)

    def attn(c, px):
        x = torch.randn(1, c, px, px)
        m = SR3SelfAttention(c, 1, 32)
        return lambda: m(x)

    def up(c, px):
        x = torch.randn(1, c, px, px)
        return lambda: F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)

    def pool(c, px):
        x = torch.randn(1, c, px, px)
        return lambda: F.max_pool2d(x, 2)

    return {
        "conv3x3_32_256px": conv(32, 32, 3, 256),
        "conv3x3_64_256px": conv(64, 64, 3, 256),
        "conv3x3_128_128px": conv(128, 128, 3, 128),
        "conv3x3_256_64px": conv(256, 256, 3, 64),
        "conv3x3_256_32px": conv(256, 256, 3, 32),
        "conv3x3_64_32px": conv(64, 64, 3, 32),
        "conv3x3s2_128_128px": conv(128, 128, 3, 128, 2),
        "conv1x1_256_64px": conv(256, 256, 1, 64),
        "convT4x4s2_128_64px": convT(128, 64, 64),
        "groupnorm32_128_128px": gn(128, 128),
        "silu_128_128px": silu(128, 128),
        "attention_128_16px": attn(128, 16),
        "attention_64_32px": attn(64, 32),
        "upsample_bilinear_64_128px": up(64, 128),
        "maxpool2_64_256px": pool(64, 256),
    }


def shipped_fast(models, px):
    """[(name, model, metadata, input)] for the fast_x<s> files present in models."""
    nets = []
    for s in (2, 4):
        path = os.path.join(models, "fast_x%d.safetensors" % s)
        if os.path.exists(path):
            m, meta = sr_golden.load_shipped(path)
            nets.append(("fast_x%d" % s, m, meta, sr_golden.test_image(px, px, s)))
    return nets


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join("build", "bench_engine.safetensors"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--net-reps", type=int, default=3)
    ap.add_argument("--no-ops", action="store_true", help="time only the networks")
    ap.add_argument("--no-write", action="store_true", help="do not rewrite --out (a later round)")
    ap.add_argument("--models", default="models", help="where fast_x2/fast_x4.safetensors are")
    ap.add_argument("--fast-px", type=int, default=128, help="input side of the fast_x<s> rows")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(2024)
    unet, sr3 = UNet().eval(), SR3Lite().eval()
    randomize_norms(unet)
    randomize_norms(sr3)
    tensors = {}
    for prefix, m in (("unet", unet), ("sr3", sr3)):
        for k, v in m.state_dict().items():
            if v.dtype.is_floating_point:
                tensors["%s.%s" % (prefix, k)] = v
    ux = torch.rand(1, 1, 256, 256) * 2 - 1
    sx, sg = torch.randn(1, 6, 128, 128), torch.tensor([0.37])
    meta = {"torch": torch.__version__, "threads": str(args.threads)}
    fast = shipped_fast(args.models, args.fast_px)
    with torch.no_grad():
        tensors["unet.input"], tensors["unet.output"] = ux, unet(ux)
        tensors["sr3.input"], tensors["sr3.gamma"], tensors["sr3.output"] = sx, sg, sr3(sx, sg)
        for name, m, m_meta, x in fast:
            tensors[name + ".input"], tensors[name + ".output"] = x, m(x)
            meta[name + ".arch"] = m_meta["arch"]
        if not args.no_write:
            os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
            write_safetensors(args.out, tensors, meta)
        print(json.dumps({"name": "info", "torch": torch.__version__, "threads": torch.get_num_threads(),
                          "weights": args.out}), flush=True)
        if not args.no_ops:
            for name, fn in op_benches().items():
                print(json.dumps({"name": "op:" + name, **best_ms(fn, args.reps)}), flush=True)
        print(json.dumps({"name": "net:unet", **best_ms(lambda: unet(ux), args.net_reps)}), flush=True)
        print(json.dumps({"name": "net:sr3", **best_ms(lambda: sr3(sx, sg), args.net_reps)}), flush=True)
        for name, m, _, x in fast:
            print(json.dumps({"name": "net:" + name, **best_ms(lambda: m(x), args.net_reps)}), flush=True)


if __name__ == "__main__":
    main()
