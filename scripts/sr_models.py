"""sr_models.py - the two super-resolution networks of astroenh (PyTorch side).

SR3 (Saharia et al. 2021, "Image Super-Resolution via Iterative Refinement"):
a conditional DDPM whose U-Net takes concat(bicubic(LR), x_t) and the
continuous noise level gamma = sqrt(alpha_bar) and predicts epsilon. The
module tree mirrors the public SR3 reimplementation (Janspiry's
"Image-Super-Resolution-via-Iterative-Refinement", model/sr3_modules/unet.py):
PositionalEncoding, noise_level_mlp, ResnetBlock with FeatureWiseAffine
(scale+shift), SelfAttention at the lowest resolution, so state_dict names
are what src/models/sr3.c fetches.

SRFast: a small EDSR (Lim et al. 2017): head conv, residual blocks
(conv-ReLU-conv, scaled), body conv + long skip, pixel-shuffle upsampler,
tail conv, plus a global bicubic skip. src/models/srfast.c mirrors it.

Both networks work on one plane at a time (1 channel in/out): colour images
are upscaled channel by channel, FITS frames band by band. Pixel values are
display-referred [0,1] mapped to [-1,1] at the network boundary.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def bicubic_up(x, scale):
    """The bicubic upsampling C mirrors (src/upscale/resample.c): torch's
    bicubic, a=-0.75, align_corners=False, edge-clamped taps."""
    return F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)


def box_down(x, scale):
    """Area-average downsampling: each LR pixel is the mean of its s x s block."""
    return F.avg_pool2d(x, scale)


# ----------------------------------------------------------------- SR3 U-Net
class PositionalEncoding(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def forward(self, noise_level):
        count = self.dim // 2
        step = torch.arange(count, dtype=noise_level.dtype, device=noise_level.device) / count
        enc = noise_level.unsqueeze(1) * torch.exp(-math.log(1e4) * step.unsqueeze(0))
        return torch.cat([torch.sin(enc), torch.cos(enc)], dim=-1)


class FeatureWiseAffine(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.noise_func = nn.Sequential(nn.Linear(in_channels, out_channels * 2))

    def forward(self, x, emb):
        b = x.shape[0]
        gamma, beta = self.noise_func(emb).view(b, -1, 1, 1).chunk(2, dim=1)
        return (1 + gamma) * x + beta


class Block(nn.Module):
    """GroupNorm -> SiLU -> (Dropout) -> Conv3x3; Sequential indices 0,1,2,3."""

    def __init__(self, dim, dim_out, groups, dropout=0.0):
        super().__init__()
        self.block = nn.Sequential(
            nn.GroupNorm(groups, dim), nn.SiLU(),
            nn.Dropout(dropout) if dropout > 0 else nn.Identity(),
            nn.Conv2d(dim, dim_out, 3, padding=1))

    def forward(self, x):
        return self.block(x)


class ResnetBlock(nn.Module):
    def __init__(self, dim, dim_out, emb_dim, groups, dropout=0.0):
        super().__init__()
        self.noise_func = FeatureWiseAffine(emb_dim, dim_out)
        self.block1 = Block(dim, dim_out, groups)
        self.block2 = Block(dim_out, dim_out, groups, dropout)
        self.res_conv = nn.Conv2d(dim, dim_out, 1) if dim != dim_out else nn.Identity()

    def forward(self, x, emb):
        h = self.block1(x)
        h = self.noise_func(h, emb)
        h = self.block2(h)
        return h + self.res_conv(x)


class SelfAttention(nn.Module):
    """Single-head spatial self-attention with a residual (SR3's)."""

    def __init__(self, ch, groups):
        super().__init__()
        self.norm = nn.GroupNorm(groups, ch)
        self.qkv = nn.Conv2d(ch, ch * 3, 1, bias=False)
        self.out = nn.Conv2d(ch, ch, 1)

    def forward(self, x):
        b, c, h, w = x.shape
        qkv = self.qkv(self.norm(x)).view(b, 3, c, h * w)
        q, k, v = qkv[:, 0], qkv[:, 1], qkv[:, 2]            # b x c x n
        attn = torch.einsum("bcn,bcm->bnm", q, k) / math.sqrt(c)
        attn = attn.softmax(dim=-1)
        o = torch.einsum("bnm,bcm->bcn", attn, v).view(b, c, h, w)
        return self.out(o) + x


class ResnetBlocWithAttn(nn.Module):
    def __init__(self, dim, dim_out, emb_dim, groups, dropout, with_attn):
        super().__init__()
        self.with_attn = with_attn
        self.res_block = ResnetBlock(dim, dim_out, emb_dim, groups, dropout)
        if with_attn:
            self.attn = SelfAttention(dim_out, groups)

    def forward(self, x, emb):
        x = self.res_block(x, emb)
        return self.attn(x) if self.with_attn else x


class Downsample(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.conv = nn.Conv2d(dim, dim, 3, 2, 1)

    def forward(self, x):
        return self.conv(x)


class Upsample(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.conv = nn.Conv2d(dim, dim, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class SR3UNet(nn.Module):
    """in_channel = 2 (bicubic LR + x_t), out_channel = 1 (epsilon).
    The attention runs at the lowest resolution (after len(mults)-1 halvings)."""

    def __init__(self, in_channel=2, out_channel=1, inner_channel=32, groups=8,
                 channel_mults=(1, 2, 4), res_blocks=1, dropout=0.0):
        super().__init__()
        self.cfg = dict(in_channel=in_channel, out_channel=out_channel,
                        inner_channel=inner_channel, groups=groups,
                        channel_mults=tuple(channel_mults), res_blocks=res_blocks,
                        dropout=dropout)
        emb = inner_channel
        self.noise_level_mlp = nn.Sequential(
            PositionalEncoding(inner_channel), nn.Linear(inner_channel, inner_channel * 4),
            nn.SiLU(), nn.Linear(inner_channel * 4, inner_channel))
        n_lv = len(channel_mults)
        pre = inner_channel
        feat_ch = [pre]
        downs = [nn.Conv2d(in_channel, inner_channel, 3, padding=1)]
        for ind in range(n_lv):
            last = ind == n_lv - 1
            ch = inner_channel * channel_mults[ind]
            for _ in range(res_blocks):
                downs.append(ResnetBlocWithAttn(pre, ch, emb, groups, dropout, with_attn=last))
                feat_ch.append(ch)
                pre = ch
            if not last:
                downs.append(Downsample(pre))
                feat_ch.append(pre)
        self.downs = nn.ModuleList(downs)
        self.mid = nn.ModuleList([
            ResnetBlocWithAttn(pre, pre, emb, groups, dropout, with_attn=True),
            ResnetBlocWithAttn(pre, pre, emb, groups, dropout, with_attn=False)])
        ups = []
        for ind in reversed(range(n_lv)):
            last = ind == n_lv - 1
            ch = inner_channel * channel_mults[ind]
            for _ in range(res_blocks + 1):
                ups.append(ResnetBlocWithAttn(pre + feat_ch.pop(), ch, emb, groups, dropout,
                                              with_attn=last))
                pre = ch
            if ind != 0:
                ups.append(Upsample(pre))
        self.ups = nn.ModuleList(ups)
        self.final_conv = Block(pre, out_channel, groups)

    def forward(self, x, gamma):
        t = self.noise_level_mlp(gamma)
        feats = []
        for layer in self.downs:
            x = layer(x, t) if isinstance(layer, ResnetBlocWithAttn) else layer(x)
            feats.append(x)
        for layer in self.mid:
            x = layer(x, t)
        for layer in self.ups:
            if isinstance(layer, ResnetBlocWithAttn):
                x = layer(torch.cat((x, feats.pop()), dim=1), t)
            else:
                x = layer(x)
        return self.final_conv(x)


# ------------------------------------------------------------ noise schedule
def linear_betas(n_steps=2000, start=1e-6, end=1e-2):
    import numpy as np
    return np.linspace(start, end, n_steps, dtype=np.float64)


def respaced_betas(steps, n_train=2000, start=1e-6, end=1e-2, top=None):
    """Re-spaces the training schedule to `steps` steps (DDPM re-spacing of
    Nichol & Dhariwal): keep alpha_bar at evenly spaced training indices and
    derive betas from consecutive kept alpha_bars. src/models/sampler.c
    computes the same in double precision."""
    import numpy as np
    ab = np.cumprod(1.0 - linear_betas(n_train, start, end))
    top = n_train - 1 if top is None else top
    if steps >= n_train:
        return linear_betas(n_train, start, end)
    idx = np.arange(steps) if steps == top + 1 else np.round(np.linspace(0, top, steps)).astype(np.int64)
    ab_k = ab[idx]
    prev = np.concatenate([[1.0], ab_k[:-1]])
    return 1.0 - ab_k / prev


class SR3(nn.Module):
    """The diffusion wrapper used for training: continuous gamma drawn
    piecewise-uniformly between consecutive sqrt(alpha_bar) of the T-step
    training schedule (SR3, section 2.4).

    target "image" diffuses HR itself (SR3); target "residual" diffuses
    x0 = (HR - bicubic(LR)) * residual_scale (SRDiff, Li et al. 2022): the
    network only has to model the detail bicubic misses, and an untrained
    eps prediction falls back to bicubic instead of to noise."""

    def __init__(self, unet, n_train=2000, start=1e-6, end=1e-2, target="image", residual_scale=1.0):
        super().__init__()
        import numpy as np
        if target not in ("image", "residual"):
            raise ValueError("target must be image or residual, not %r" % target)
        self.unet = unet
        self.target, self.residual_scale = target, float(residual_scale)
        ab = np.cumprod(1.0 - linear_betas(n_train, start, end))
        self.register_buffer("sqrt_ab_prev",
                             torch.tensor(np.sqrt(np.append(1.0, ab)), dtype=torch.float32),
                             persistent=False)
        self.n_train = n_train

    def loss(self, lr_up, hr):
        b = hr.shape[0]
        t = torch.randint(1, self.n_train + 1, (b,), device=hr.device)
        lo = self.sqrt_ab_prev[t]          # gamma_t (smaller)
        hi = self.sqrt_ab_prev[t - 1]      # gamma_{t-1}
        gamma = lo + (hi - lo) * torch.rand(b, device=hr.device)
        noise = torch.randn_like(hr)
        g = gamma.view(b, 1, 1, 1)
        x0 = to_target(hr, lr_up, self.residual_scale) if self.target == "residual" else hr
        x_t = g * x0 + torch.sqrt(1 - g * g) * noise
        eps = self.unet(torch.cat([lr_up, x_t], dim=1), gamma)
        return F.l1_loss(eps, noise)


# --------------------------------------------------------------- fast EDSR
class ResBlock(nn.Module):
    def __init__(self, ch, res_scale):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(ch, ch, 3, padding=1), nn.ReLU(inplace=True),
                                  nn.Conv2d(ch, ch, 3, padding=1))
        self.res_scale = res_scale

    def forward(self, x):
        return x + self.body(x) * self.res_scale


class SRFast(nn.Module):
    """EDSR-like: head, n_blocks ResBlocks + body conv (long skip), pixel-shuffle
    x2 stages (one for 2x, two for 4x: conv ch->4ch, PixelShuffle(2)), tail conv,
    plus bicubic(x). Input/output in [-1,1], 1 channel."""

    def __init__(self, scale=2, channels=32, n_blocks=8, res_scale=0.1):
        super().__init__()
        assert scale in (2, 4)
        self.cfg = dict(scale=scale, channels=channels, n_blocks=n_blocks, res_scale=res_scale)
        self.scale = scale
        self.head = nn.Conv2d(1, channels, 3, padding=1)
        self.body = nn.Sequential(*[ResBlock(channels, res_scale) for _ in range(n_blocks)],
                                  nn.Conv2d(channels, channels, 3, padding=1))
        up = []
        for _ in range(int(math.log2(scale))):
            up += [nn.Conv2d(channels, channels * 4, 3, padding=1), nn.PixelShuffle(2)]
        self.up = nn.Sequential(*up)
        self.tail = nn.Conv2d(channels, 1, 3, padding=1)

    def forward(self, x):
        h = self.head(x)
        h = h + self.body(h)
        return self.tail(self.up(h)) + bicubic_up(x, self.scale)


# ------------------------------------------------------------------ samplers
def to_target(hr, lr_up, residual_scale):
    """HR image -> residual diffusion target (HR - bicubic(LR)) * c."""
    return (hr - lr_up) * residual_scale


def from_target(x0, lr_up, residual_scale):
    """Residual diffusion target -> HR image: bicubic(LR) + x0 / c."""
    return lr_up + x0 / residual_scale


def clamp_x0(x0, lr_up, residual_scale):
    """Clamps a predicted x0 to the range that maps to HR in [-1, 1]: [-1, 1]
    for the image target, per pixel [c(-1-up), c(1-up)] for the residual one.
    residual_scale None = image target."""
    if residual_scale is None:
        return x0.clamp(-1, 1)
    c = residual_scale
    return torch.maximum(torch.minimum(x0, c * (1 - lr_up)), c * (-1 - lr_up))


def start_state(z, ab_top, lr_up, residual_scale, truncated):
    """x at the noisiest step: z for the whole schedule (as trained); for a
    truncated one (SDEdit) sqrt(1-ab) z + sqrt(ab) x0_guess, the guess being 0
    for residual targets and lr_up for image targets (sampler.c
    ae_schedule_start)."""
    if not truncated:
        return z
    guess = 0.0 if residual_scale is not None else lr_up
    return math.sqrt(1.0 - ab_top) * z + math.sqrt(ab_top) * guess


@torch.no_grad()
def sample_ddpm(unet, lr_up, betas, noise_fn, residual_scale=None, truncated=False):
    """Ancestral DDPM sampling over `betas` (possibly re-spaced).
    noise_fn(k) returns the noise tensor for draw k (k = 0: x_T, k = i: step i's
    posterior noise), so C and Python can share the same noise.
    residual_scale: None for image-target weights, c for residual-target ones
    (then the result is bicubic + x0 / c)."""
    import numpy as np
    alphas = 1.0 - betas
    ab = np.cumprod(alphas)
    n = len(betas)
    x = start_state(noise_fn(0), float(ab[-1]), lr_up, residual_scale, truncated)
    for i in reversed(range(n)):
        gamma = torch.full((x.shape[0],), float(np.sqrt(ab[i])), device=x.device)
        eps = unet(torch.cat([lr_up, x], dim=1), gamma)
        x0 = clamp_x0((x - np.sqrt(1 - ab[i]) * eps) / np.sqrt(ab[i]), lr_up, residual_scale)
        ab_prev = ab[i - 1] if i > 0 else 1.0
        c0 = np.sqrt(ab_prev) * betas[i] / (1 - ab[i])
        ct = np.sqrt(alphas[i]) * (1 - ab_prev) / (1 - ab[i])
        mean = c0 * x0 + ct * x
        if i > 0:
            var = betas[i] * (1 - ab_prev) / (1 - ab[i])
            x = mean + math.sqrt(var) * noise_fn(n - i)
        else:
            x = mean
    return x if residual_scale is None else from_target(x, lr_up, residual_scale)


@torch.no_grad()
def sample_ddim(unet, lr_up, steps, noise_fn, n_train=2000, start=1e-6, end=1e-2, residual_scale=None, top=None):
    """Deterministic DDIM (eta = 0) over `steps` evenly spaced training indices
    0..top (default n_train - 1: the whole schedule; less: a truncated start,
    start_state). residual_scale as in sample_ddpm."""
    import numpy as np
    ab_all = np.cumprod(1.0 - linear_betas(n_train, start, end))
    top = n_train - 1 if top is None else top
    idx = np.arange(steps) if steps == top + 1 else np.round(np.linspace(0, top, steps)).astype(np.int64)
    x = start_state(noise_fn(0), float(ab_all[idx[-1]]), lr_up, residual_scale, top < n_train - 1)
    for j in reversed(range(steps)):
        ab = ab_all[idx[j]]
        ab_prev = ab_all[idx[j - 1]] if j > 0 else 1.0
        gamma = torch.full((x.shape[0],), float(np.sqrt(ab)), device=x.device)
        eps = unet(torch.cat([lr_up, x], dim=1), gamma)
        x0 = clamp_x0((x - np.sqrt(1 - ab) * eps) / np.sqrt(ab), lr_up, residual_scale)
        eps = (x - np.sqrt(ab) * x0) / np.sqrt(1 - ab)
        x = np.sqrt(ab_prev) * x0 + np.sqrt(1 - ab_prev) * eps
    return x if residual_scale is None else from_target(x, lr_up, residual_scale)


def load_ckpt(path, map_location):
    """torch.load of our own checkpoints (plain dicts, numpy RNG state) on torch
    1.13 and on torch >= 2.6, whose default weights_only=True refuses them."""
    try:
        return torch.load(path, map_location=map_location, weights_only=False)
    except TypeError:
        return torch.load(path, map_location=map_location)


def build(kind, scale, **kw):
    if kind == "fast":
        return SRFast(scale=scale, **kw)
    if kind == "sr3":
        return SR3UNet(**kw)
    raise ValueError(kind)


# ------------------------------------------------ counter-based noise (numpy)
_M64 = (1 << 64) - 1


def _splitmix64(z):
    import numpy as np
    with np.errstate(over="ignore"):
        z = (z + np.uint64(0x9E3779B97F4A7C15))
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def noise_stream(sample, draw):
    return ((sample & 0xFFFFFFFF) << 32) | (draw & 0xFFFFFFFF)


def noise_field(seed, stream, c, h, w, y0=0, x0=0):
    """The noise of src/models/sampler.c ae_noise_fill: c x h x w float32 of the
    window (y0, x0) of the global image, a pure function of (seed, stream, c, y, x)."""
    import numpy as np
    key = _splitmix64(_splitmix64(np.uint64(seed & _M64)) ^ np.uint64(stream & _M64))
    ch, yy, xx = np.meshgrid(np.arange(c, dtype=np.uint64), np.arange(y0, y0 + h, dtype=np.uint64),
                             np.arange(x0, x0 + w, dtype=np.uint64), indexing="ij")
    pix = (ch << np.uint64(48)) | (yy << np.uint64(24)) | xx
    a = _splitmix64(key ^ pix)
    b = _splitmix64(a)
    u1 = ((a >> np.uint64(11)).astype(np.float64) + 1.0) * 2.0 ** -53
    u2 = (b >> np.uint64(11)).astype(np.float64) * 2.0 ** -53
    return (np.sqrt(-2.0 * np.log(u1)) * np.cos(6.283185307179586 * u2)).astype(np.float32)
