#!/usr/bin/env python3
"""gen_golden.py - PyTorch reference data for the C engine's tests.

Writes tests/golden/<name>.safetensors: inputs, weights (under their PyTorch
state_dict names) and outputs of each op or tiny network, computed on the CPU
in float32. Op parameters go into __metadata__ as "<case>.<param>" so the C
tests read them from the file instead of repeating them.

One function per golden file (GOLDEN below); model helpers add theirs:
    python3 scripts/gen_golden.py            # all files
    python3 scripts/gen_golden.py ops blocks # some of them
The safetensors format is written by hand (8-byte LE header length, JSON
header, raw little-endian data) so the `safetensors` package is not needed.
"""
import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN_DIR = os.path.join(HERE, "..", "tests", "golden")


def write_safetensors(path, tensors, metadata=None):
    """tensors: {name: array-like (float32 written as F32)}; metadata: {str: str}."""
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        a = tensors[name]
        if isinstance(a, torch.Tensor):
            a = a.detach().cpu().numpy()
        a = np.ascontiguousarray(np.asarray(a, dtype="<f4"))
        b = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)  # keep the data 8-byte aligned
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


class Golden:
    """Collects tensors and metadata for one file."""

    def __init__(self):
        self.t, self.meta = {}, {}

    def add(self, name, tensor):
        assert name not in self.t, name
        self.t[name] = tensor.detach().float().contiguous()

    def params(self, case, **kw):
        for k, v in kw.items():
            self.meta["%s.%s" % (case, k)] = str(int(v) if isinstance(v, bool) else v)

    def module(self, prefix, m):
        for k, v in m.state_dict().items():
            if v.dtype.is_floating_point:
                self.add("%s.%s" % (prefix, k), v)

    def write(self, name):
        path = os.path.join(GOLDEN_DIR, name + ".safetensors")
        write_safetensors(path, self.t, self.meta)
        size = os.path.getsize(path)
        print("wrote %s (%d tensors, %.1f KiB)" % (path, len(self.t), size / 1024.0))


def rnd(*shape):
    return torch.randn(*shape, dtype=torch.float32)


def sr3_noise_embed(gamma, dim):
    """SR3 PositionalEncoding: count = dim//2, step = arange(count)/count,
    enc = gamma * exp(-ln(1e4) * step), out = cat(sin(enc), cos(enc))."""
    count = dim // 2
    step = torch.arange(count, dtype=gamma.dtype) / count
    enc = gamma.unsqueeze(1) * torch.exp(-math.log(1e4) * step.unsqueeze(0))
    return torch.cat([torch.sin(enc), torch.cos(enc)], dim=-1)


# --------------------------------------------------------------------------- ops

CONV_CASES = [  # name, x shape, cout, k, stride, pad, dil, groups, bias
    ("conv_basic", (1, 3, 17, 23), 8, 3, 1, 1, 1, 1, True),
    ("conv_s2", (2, 4, 17, 23), 6, 3, 2, 1, 1, 1, True),
    ("conv_dil2", (1, 4, 17, 23), 5, 3, 1, 2, 2, 1, True),
    ("conv_groups", (1, 8, 13, 11), 12, 3, 1, 1, 1, 4, True),
    ("conv_depthwise", (1, 6, 9, 10), 6, 5, 1, 2, 1, 6, False),
    ("conv_1x1", (2, 16, 9, 7), 8, 1, 1, 0, 1, 1, True),
    ("conv_k4s2", (1, 3, 16, 16), 4, 4, 2, 1, 1, 1, False),
    ("conv_k7", (1, 3, 19, 21), 5, 7, 1, 3, 1, 1, True),
]

CONVT_CASES = [  # name, x shape, cout, k, stride, pad, out_pad, groups, bias
    ("convT_k4s2", (1, 6, 7, 9), 4, 4, 2, 1, 0, 1, True),
    ("convT_outpad", (2, 4, 5, 6), 3, 3, 2, 1, 1, 1, True),
    ("convT_groups", (1, 6, 5, 5), 4, 3, 1, 0, 0, 2, False),
]


def gen_ops_conv(g):
    for name, xs, cout, k, s, p, d, grp, bias in CONV_CASES:
        m = nn.Conv2d(xs[1], cout, k, s, p, d, grp, bias)
        x = rnd(*xs)
        g.add(name + ".x", x)
        g.module(name, m)
        g.add(name + ".y", m(x))
        g.params(name, cout=cout, k=k, stride=s, pad=p, dil=d, groups=grp, bias=bias)
    for name, xs, cout, k, s, p, op, grp, bias in CONVT_CASES:
        m = nn.ConvTranspose2d(xs[1], cout, k, s, p, op, grp, bias)
        x = rnd(*xs)
        g.add(name + ".x", x)
        g.module(name, m)
        g.add(name + ".y", m(x))
        g.params(name, cout=cout, k=k, stride=s, pad=p, out_pad=op, groups=grp, bias=bias)
    m = nn.Linear(20, 7)
    x = rnd(3, 20)
    g.add("linear.x", x)
    g.module("linear", m)
    g.add("linear.y", m(x))


def gen_ops_norm(g):
    bn = nn.BatchNorm2d(5, eps=1e-5).eval()
    with torch.no_grad():
        bn.running_mean.copy_(rnd(5))
        bn.running_var.copy_(torch.rand(5) + 0.5)
        bn.weight.copy_(rnd(5))
        bn.bias.copy_(rnd(5))
    x = rnd(2, 5, 9, 11) * 2 + 1
    g.add("bn.x", x)
    g.module("bn", bn)
    g.add("bn.y", bn(x))
    gn = nn.GroupNorm(8, 16, eps=1e-5)
    with torch.no_grad():
        gn.weight.copy_(rnd(16))
        gn.bias.copy_(rnd(16))
    x = rnd(2, 16, 9, 7) * 3 + 0.5
    g.add("gn.x", x)
    g.module("gn", gn)
    g.add("gn.y", gn(x))
    g.params("gn", groups=8)
    for name, affine in (("in_affine", True), ("in_plain", False)):
        m = nn.InstanceNorm2d(5, eps=1e-5, affine=affine)
        if affine:
            with torch.no_grad():
                m.weight.copy_(rnd(5))
                m.bias.copy_(rnd(5))
        x = rnd(2, 5, 9, 11) * 2 - 1
        g.add(name + ".x", x)
        g.module(name, m)
        g.add(name + ".y", m(x))
        g.params(name, affine=affine)


def gen_ops_elementwise(g):
    x = rnd(1, 3, 17, 23) * 3
    g.add("act.x", x)
    g.add("act.relu", F.relu(x))
    g.add("act.leaky", F.leaky_relu(x, 0.2))
    g.add("act.silu", F.silu(x))
    g.add("act.gelu", F.gelu(x))
    g.add("act.tanh", torch.tanh(x))
    g.add("act.sigmoid", torch.sigmoid(x))
    g.params("act", leaky_alpha=0.2)
    a, b = rnd(2, 3, 5, 7), rnd(2, 3, 5, 7)
    g.add("ew.a", a)
    g.add("ew.b", b)
    g.add("ew.add", a + b)
    g.add("ew.mul", a * b)
    x, sc, sh = rnd(2, 4, 5, 6), rnd(2, 4), rnd(2, 4)
    g.add("film.x", x)
    g.add("film.scale", sc)
    g.add("film.shift", sh)
    g.add("film.y", (1 + sc.view(2, 4, 1, 1)) * x + sh.view(2, 4, 1, 1))
    a, b = rnd(2, 3, 5, 7), rnd(2, 4, 5, 7)
    g.add("cat.a", a)
    g.add("cat.b", b)
    g.add("cat.y", torch.cat([a, b], dim=1))


def gen_ops_resample(g):
    x = rnd(1, 3, 5, 7)
    g.add("up_nearest.x", x)
    g.add("up_nearest.y", F.interpolate(x, scale_factor=2, mode="nearest"))
    x = rnd(1, 3, 17, 23)
    g.add("up_bilinear.x", x)
    g.add("up_bilinear.y", F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False))
    x = rnd(1, 2, 9, 11)
    g.add("up_bilinear_size.x", x)
    g.add("up_bilinear_size.y", F.interpolate(x, size=(13, 29), mode="bilinear", align_corners=False))
    g.add("up_nearest_size.x", x)
    g.add("up_nearest_size.y", F.interpolate(x, size=(20, 25), mode="nearest"))
    pools = [("maxpool_k2", "max", 2, 2, 0), ("maxpool_k3p1", "max", 3, 2, 1),
             ("avgpool_k2", "avg", 2, 2, 0), ("avgpool_k3p1", "avg", 3, 1, 1)]
    for name, kind, k, s, p in pools:
        x = rnd(1, 3, 17, 23)
        fn = F.max_pool2d if kind == "max" else F.avg_pool2d
        g.add(name + ".x", x)
        g.add(name + ".y", fn(x, k, s, p))
        g.params(name, max=(kind == "max"), k=k, stride=s, pad=p)
    x = rnd(1, 12, 5, 7)
    g.add("pixel_shuffle.x", x)
    g.add("pixel_shuffle.y", F.pixel_shuffle(x, 2))
    g.params("pixel_shuffle", r=2)


def attention_ref(q, k, v, heads, scale):
    n, c, h, w = q.shape
    d = c // heads
    q = q.reshape(n, heads, d, h * w)
    k = k.reshape(n, heads, d, h * w)
    v = v.reshape(n, heads, d, h * w)
    s = torch.softmax(torch.einsum("nhdp,nhdq->nhpq", q, k) * scale, dim=-1)
    return torch.einsum("nhpq,nhdq->nhdp", s, v).reshape(n, c, h, w)


def gen_ops_attention(g):
    q, k, v = rnd(2, 8, 5, 7), rnd(2, 8, 5, 7), rnd(2, 8, 5, 7)
    for nm, t in (("q", q), ("k", k), ("v", v)):
        g.add("attn.%s" % nm, t)
    g.add("attn.y", attention_ref(q, k, v, 2, 1 / math.sqrt(4)))
    g.params("attn", heads=2)
    gamma = torch.tensor([0.05, 0.5, 0.93, 1.0])
    g.add("embed.gamma", gamma)
    g.add("embed.y", sr3_noise_embed(gamma, 16))
    g.params("embed", dim=16)


def gen_ops():
    torch.manual_seed(1234)
    g = Golden()
    gen_ops_conv(g)
    gen_ops_norm(g)
    gen_ops_elementwise(g)
    gen_ops_resample(g)
    gen_ops_attention(g)
    g.write("ops")


# ------------------------------------------------------------------- blocks

class SR3SelfAttention(nn.Module):
    """SR3 (model/sr3_modules/unet.py) SelfAttention, verbatim semantics."""

    def __init__(self, in_channel, n_head=1, norm_groups=32):
        super().__init__()
        self.n_head = n_head
        self.norm = nn.GroupNorm(norm_groups, in_channel)
        self.qkv = nn.Conv2d(in_channel, in_channel * 3, 1, bias=False)
        self.out = nn.Conv2d(in_channel, in_channel, 1)

    def forward(self, input):
        batch, channel, height, width = input.shape
        n_head = self.n_head
        head_dim = channel // n_head
        norm = self.norm(input)
        qkv = self.qkv(norm).view(batch, n_head, head_dim * 3, height, width)
        query, key, value = qkv.chunk(3, dim=2)
        attn = torch.einsum("bnchw, bncyx -> bnhwyx", query, key).contiguous() / math.sqrt(channel)
        attn = attn.view(batch, n_head, height, width, -1)
        attn = torch.softmax(attn, -1)
        attn = attn.view(batch, n_head, height, width, height, width)
        out = torch.einsum("bnhwyx, bncyx -> bnchw", attn, value).contiguous()
        out = self.out(out.view(batch, channel, height, width))
        return out + input


class TinyResBlock(nn.Module):
    """conv3x3 -> GN -> SiLU -> (+ noise-embedding shift) -> conv3x3, + 1x1 skip."""

    def __init__(self, cin, cout, emb_dim, groups):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.norm1 = nn.GroupNorm(groups, cout)
        self.noise = nn.Linear(emb_dim, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1)

    def forward(self, x, emb, taps):
        h = self.conv1(x)
        taps["h1"] = h
        h = F.silu(self.norm1(h))
        taps["h2"] = h
        h = h + self.noise(emb).view(x.shape[0], -1, 1, 1)
        taps["h3"] = h
        h = self.conv2(h)
        taps["h4"] = h
        return h + self.skip(x)


def gen_blocks():
    torch.manual_seed(4321)
    g = Golden()
    res = TinyResBlock(8, 16, 8, 8)
    x = rnd(2, 8, 12, 10)
    gamma = torch.tensor([0.3, 0.8])
    emb = sr3_noise_embed(gamma, 8)
    taps = {}
    y = res(x, emb, taps)
    g.module("res", res)
    g.add("res.x", x)
    g.add("res.gamma", gamma)
    g.add("res.emb", emb)
    for k, v in taps.items():
        g.add("res." + k, v)
    g.add("res.y", y)
    g.params("res", cin=8, cout=16, emb_dim=8, groups=8)
    attn = SR3SelfAttention(16, n_head=2, norm_groups=8)
    with torch.no_grad():
        attn.norm.weight.copy_(1 + 0.1 * rnd(16))
        attn.norm.bias.copy_(0.1 * rnd(16))
    x = rnd(1, 16, 5, 7)
    g.module("attn", attn)
    g.add("attn.x", x)
    g.add("attn.y", attn(x))
    g.params("attn", c=16, heads=2, groups=8)
    g.write("blocks")


GOLDEN = {"ops": gen_ops, "blocks": gen_blocks}


# ---------------------------------------------------------------- colorizer
# (owner: colorizer helper) tests/test_colorizer.c reads these files.
def _colorizer_meta(G, space):
    return {"architecture": "colorizer_unet", "encoder": G.encoder_kind, "base": str(G.base),
            "in_ch": "1", "out_ch": str(G.out_ch), "space": space, "bn_eps": "1e-05"}


def _randomize_bn(m, gen):
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            c = mod.num_features
            mod.running_mean.copy_(torch.randn(c, generator=gen) * 0.2)
            mod.running_var.copy_(torch.rand(c, generator=gen) * 1.5 + 0.25)
            mod.weight.copy_(1.0 + 0.3 * torch.randn(c, generator=gen))
            mod.bias.copy_(0.2 * torch.randn(c, generator=gen))


def gen_colorizer_tiny():
    """Two tiny generators (base 4: resnet18/lab and plain/rgb) with random weights and
    non-trivial BatchNorm statistics, their outputs on a 64x96 input, and the padded
    predict_ab path on a 45x70 L* plane. Weights go to colorizer_tiny_<enc>_<space>.safetensors
    (model files, as the C loader sees them), inputs/outputs to colorizer_tiny.safetensors."""
    sys.path.insert(0, HERE)
    import colornet as cn
    gen = torch.Generator().manual_seed(7)
    g = Golden()
    torch.manual_seed(7)
    for tag, enc, space, out_ch in (("resnet", "resnet18", "lab", 2), ("plain", "plain", "rgb", 3)):
        G = cn.Generator(enc, 4, 1, out_ch)
        cn.init_generator(G)
        nn.init.normal_(G.dec.out.weight, 0.0, 0.3)
        _randomize_bn(G, gen)
        G.eval()
        wt = {k: v for k, v in G.state_dict().items() if v.dtype.is_floating_point}
        write_safetensors(os.path.join(GOLDEN_DIR, "colorizer_tiny_%s_%s.safetensors" % (enc, space)),
                          wt, _colorizer_meta(G, space))
        x = torch.rand(1, 1, 64, 96, generator=gen) * 2 - 1
        g.add(tag + ".x", x)
        g.add(tag + ".y", G(x))
        L = torch.rand(1, 1, 45, 70, generator=gen) * 100
        g.add(tag + ".pad_L", L)
        g.add(tag + ".pad_ab", cn.predict_ab(G, L, space))
    g.meta["models"] = "colorizer_tiny_resnet18_lab.safetensors, colorizer_tiny_plain_rgb.safetensors"
    g.write("colorizer_tiny")


def gen_colorizer_tiny_down():
    """A tiny resnet18/lab generator run at reduced resolution (metadata ab_down=4: L* averaged
    over 4x4 blocks, a*b* upsampled bilinearly) on a 45x70 and a 130x200 L* plane (padding to
    multiples of 128, odd crop offsets); weights in colorizer_tiny_down4.safetensors."""
    sys.path.insert(0, HERE)
    import colornet as cn
    gen = torch.Generator().manual_seed(11)
    torch.manual_seed(11)
    G = cn.Generator("resnet18", 4, 1, 2)
    cn.init_generator(G)
    nn.init.normal_(G.dec.out.weight, 0.0, 0.3)
    _randomize_bn(G, gen)
    G.eval()
    wt = {k: v for k, v in G.state_dict().items() if v.dtype.is_floating_point}
    meta = _colorizer_meta(G, "lab")
    meta["ab_down"] = "4"
    write_safetensors(os.path.join(GOLDEN_DIR, "colorizer_tiny_down4.safetensors"), wt, meta)
    g = Golden()
    for tag, (h, w) in (("small", (45, 70)), ("large", (130, 200))):
        L = torch.rand(1, 1, h, w, generator=gen) * 100
        g.add(tag + ".pad_L", L)
        g.add(tag + ".pad_ab", cn.predict_ab(G, L, "lab", 4))
    g.meta["models"] = "colorizer_tiny_down4.safetensors"
    g.write("colorizer_tiny_down")


def gen_colorizer_shipped():
    """The shipped weights (models/colorizer.safetensors, fp16 -> f32 exactly as the C loader
    converts them) on crops of a real test-split image: the raw net on 96x128, and predict_ab
    on a 75x100 crop (padding path)."""
    sys.path.insert(0, HERE)
    import astrodata as ad
    import colornet as cn
    import export as ex
    path = os.path.join(HERE, "..", "models", "colorizer.safetensors")
    arrays, meta = ex.read_safetensors(path)
    G = cn.Generator(meta["encoder"], int(meta["base"]), 1, int(meta["out_ch"]))
    sd = G.state_dict()
    sd.update({k: torch.from_numpy(v.astype(np.float32)) for k, v in arrays.items()})
    G.load_state_dict(sd)
    G.eval()
    src, rel = "stellarium", "n7293.png"
    img = ad.load_rgb(os.path.join(ad.STELLARIUM_DIR, rel))
    img = ad.downscale(img, 256)
    rgb = ad.uint8_to_tensor(img[None])
    L = ad.rgb_to_lab(rgb)[:, :1]
    g = Golden()
    x = L[..., 64:160, 64:192] / ad.L_SCALE - 1.0
    g.add("x", x)
    g.add("y", G(x))
    Lc = L[..., 30:105, 40:140].contiguous()
    g.add("pad_L", Lc)
    g.add("pad_ab", cn.predict_ab(G, Lc, meta["space"], int(meta.get("ab_down", 1))))
    g.meta.update({"image": "%s %s (test split), downscaled to 256 px, L* of sRGB" % (src, rel),
                   "model_git_revision": meta.get("git_revision", ""), "model_steps": meta.get("steps", "")})
    g.write("colorizer_shipped")


GOLDEN.update({"colorizer_tiny": gen_colorizer_tiny, "colorizer_tiny_down": gen_colorizer_tiny_down,
               "colorizer_shipped": gen_colorizer_shipped})


def gen_sr():
    """SR models (tiny and shipped) and sampler: scripts/sr_golden.py (SR helper)."""
    import sr_golden
    sr_golden.generate(GOLDEN_DIR, write_safetensors)


GOLDEN["sr"] = gen_sr


def gen_rdn():
    """Tiny RDNs (UpscalerJS architecture) and their outputs: scripts/rdn_golden.py."""
    import rdn_golden
    rdn_golden.generate(GOLDEN_DIR)


GOLDEN["rdn"] = gen_rdn


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="golden files to write (default: all): %s" % ", ".join(GOLDEN))
    args = ap.parse_args()
    torch.set_num_threads(1)
    os.makedirs(GOLDEN_DIR, exist_ok=True)
    for n in args.names or list(GOLDEN):
        if n not in GOLDEN:
            sys.exit("gen_golden.py: unknown golden file '%s' (have: %s)" % (n, ", ".join(GOLDEN)))
        with torch.no_grad():
            GOLDEN[n]()


if __name__ == "__main__":
    main()
