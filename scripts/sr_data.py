"""sr_data.py - super-resolution training/evaluation pairs on top of astrodata.py.

HR: single planes (one random colour channel of an RGB image) in [0,1], from
random crops with flips/rot90 (astrodata.random_batch). LR: the area average
of each s x s HR block (box downsample), the same degradation the flux
consistency of `astroenh upscale` assumes, plus light Gaussian read noise on
part of the batch. Networks see v*2-1.
"""
import numpy as np
import torch

import astrodata

SOURCES = ("decals256", "nasa", "stellarium")


def to_net(x):
    return x * 2.0 - 1.0


def from_net(x):
    return (x + 1.0) * 0.5


def box_down_np(hr, s):
    """hr: ... x H x W float -> ... x H/s x W/s block means."""
    h, w = hr.shape[-2:]
    v = hr[..., :h - h % s, :w - w % s]
    v = v.reshape(v.shape[:-2] + (h // s, s, w // s, s))
    return v.mean(axis=(-3, -1))


class SRTrainData:
    """Random (lr, hr) batches of planes: lr B x 1 x P/s x P/s, hr B x 1 x P x P;
    with rgb=True whole colour crops, B x 3 x ..."""

    def __init__(self, split, scale, patch, seed, noise_max=0.02, noise_frac=0.5, sources=SOURCES, rgb=False):
        self.rgb = rgb
        self.images = astrodata.Packed(split, sources=sources)
        if len(self.images) == 0:
            raise RuntimeError("no %s images found (data/splits, ../shared/data)" % split)
        self.scale, self.patch = scale, patch
        self.rng = np.random.default_rng(seed)
        self.noise_max, self.noise_frac = noise_max, noise_frac

    def batch(self, b):
        crops = astrodata.random_batch(self.images, b, self.patch, self.rng)  # B x P x P x 3
        if self.rgb:  # B x 3 x P x P, one noise level per crop for all its channels
            hr = crops.transpose(0, 3, 1, 2).astype(np.float32) / 255.0
        else:
            ch = self.rng.integers(3, size=b)
            hr = crops[np.arange(b), :, :, ch].astype(np.float32)[:, None] / 255.0  # B x 1 x P x P
        lr = box_down_np(hr, self.scale)
        sig = self.rng.uniform(0, self.noise_max, size=(b, 1, 1, 1)).astype(np.float32)
        sig *= self.rng.random((b, 1, 1, 1)) < self.noise_frac
        lr = lr + sig * self.rng.standard_normal(lr.shape).astype(np.float32)
        return (torch.from_numpy(np.ascontiguousarray(lr)),
                torch.from_numpy(np.ascontiguousarray(hr)))

    def state(self):
        return self.rng.bit_generator.state

    def set_state(self, st):
        self.rng.bit_generator.state = st


def fixed_set(split, scale, size, n_images, channels=(0, 1, 2), sources=SOURCES):
    """Deterministic evaluation planes: centre crops of the first n_images of a
    split (sorted by source, name), every listed channel. Returns (lr, hr, names)
    with lr N x 1 x size/s x size/s and hr N x 1 x size x size, float32 [0,1]."""
    imgs = astrodata.Packed(split, sources=sources)
    order = sorted(range(len(imgs)), key=lambda i: (imgs.sources[i], imgs.names[i]))
    # spread the picks over the sources instead of taking only the first one
    by_src = {}
    for i in order:
        by_src.setdefault(imgs.sources[i], []).append(i)
    picks, k = [], 0
    while len(picks) < min(n_images, len(order)):
        for src in sorted(by_src):
            if k < len(by_src[src]) and len(picks) < n_images:
                picks.append(by_src[src][k])
        k += 1
    hr, names = [], []
    for i in picks:
        c = astrodata.center_crop(imgs[i], size).astype(np.float32) / 255.0
        for ch in channels:
            hr.append(c[:, :, ch])
            names.append("%s/%s[%d]" % (imgs.sources[i], imgs.names[i], ch))
    hr = np.stack(hr)[:, None]
    lr = box_down_np(hr, scale)
    return torch.from_numpy(np.ascontiguousarray(lr)), torch.from_numpy(hr), names


def psnr(a, b):
    """Per-image PSNR (dB) of N x 1 x H x W tensors in [0,1]."""
    mse = ((a.clamp(0, 1) - b) ** 2).flatten(1).mean(1)
    return 10 * torch.log10(1.0 / mse.clamp(min=1e-12))
