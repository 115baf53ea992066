"""colornet.py - the colorizer networks (PyTorch), mirrored 1:1 by src/models/colorizer.c.

Generator: a U-Net whose encoder is ResNet-18-shaped (He et al. 2016: 7x7 stride-2 stem, 3x3
stride-2 max pool, BasicBlocks [2,2,2,2]) with widths divided by 64/base (base 32 -> 32,64,128,256
instead of 64..512, so that it trains on a CPU and stays small), or a plain conv encoder ("basic":
two 3x3 conv-BN-ReLU per level, the first with stride 2). Decoder: 5 up blocks, each nearest x2
upsampling -> 3x3 conv-BN-ReLU -> concat skip -> 3x3 conv-BN-ReLU, then a 1x1 conv and tanh.
Input: L/50-1 (1 x H x W, H and W multiples of 32). Output: a*b*/110 (lab) or sRGB*2-1 (rgb).

Discriminator: the pix2pix PatchGAN (Isola et al. 2017, 70x70 receptive field) on (L, colour),
widths base..8*base, BatchNorm, LeakyReLU 0.2.

State_dict names are what the C side loads: enc.stem.conv, enc.stem.bn, enc.layer1.0.conv1 ...,
dec.up4.conv1, dec.up4.bn1, dec.up4.conv2, dec.up4.bn2, ..., dec.out.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


def conv3(cin, cout, stride=1):
    return nn.Conv2d(cin, cout, 3, stride, 1, bias=False)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1, self.bn1 = conv3(cin, cout, stride), nn.BatchNorm2d(cout)
        self.conv2, self.bn2 = conv3(cout, cout), nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


class ConvBNReLU2(nn.Module):
    """conv1(stride)-bn1-relu-conv2-bn2-relu: a plain encoder level."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1, self.bn1 = conv3(cin, cout, stride), nn.BatchNorm2d(cout)
        self.conv2, self.bn2 = conv3(cout, cout), nn.BatchNorm2d(cout)

    def forward(self, x):
        return F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))))


class Stem(nn.Module):
    def __init__(self, cin, cout, k):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, 2, k // 2, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class ResNetEncoder(nn.Module):
    """ResNet-18 shape: returns skips at 1/2 (stem), 1/4, 1/8, 1/16 and the 1/32 bottleneck."""

    def __init__(self, cin, b):
        super().__init__()
        self.stem = Stem(cin, b, 7)
        w = [b, 2 * b, 4 * b, 8 * b]
        self.layer1 = nn.Sequential(BasicBlock(b, w[0], 1), BasicBlock(w[0], w[0], 1))
        self.layer2 = nn.Sequential(BasicBlock(w[0], w[1], 2), BasicBlock(w[1], w[1], 1))
        self.layer3 = nn.Sequential(BasicBlock(w[1], w[2], 2), BasicBlock(w[2], w[2], 1))
        self.layer4 = nn.Sequential(BasicBlock(w[2], w[3], 2), BasicBlock(w[3], w[3], 1))

    def forward(self, x):
        s1 = self.stem(x)
        s2 = self.layer1(F.max_pool2d(s1, 3, 2, 1))
        s3 = self.layer2(s2)
        s4 = self.layer3(s3)
        return [s1, s2, s3, s4, self.layer4(s4)]


class PlainEncoder(nn.Module):
    """The basic U-Net encoder: the same skip shapes from plain conv levels."""

    def __init__(self, cin, b):
        super().__init__()
        self.stem = Stem(cin, b, 3)
        self.layer1 = ConvBNReLU2(b, b, 2)
        self.layer2 = ConvBNReLU2(b, 2 * b, 2)
        self.layer3 = ConvBNReLU2(2 * b, 4 * b, 2)
        self.layer4 = ConvBNReLU2(4 * b, 8 * b, 2)

    def forward(self, x):
        s1 = self.stem(x)
        s2 = self.layer1(s1)
        s3 = self.layer2(s2)
        s4 = self.layer3(s3)
        return [s1, s2, s3, s4, self.layer4(s4)]


class Up(nn.Module):
    """nearest x2 -> conv1-bn1-relu -> concat(skip) -> conv2-bn2-relu."""

    def __init__(self, cin, cskip, cout):
        super().__init__()
        self.conv1, self.bn1 = conv3(cin, cout), nn.BatchNorm2d(cout)
        self.conv2, self.bn2 = conv3(cout + cskip, cout), nn.BatchNorm2d(cout)

    def forward(self, x, skip):
        x = F.relu(self.bn1(self.conv1(F.interpolate(x, scale_factor=2, mode="nearest"))))
        return F.relu(self.bn2(self.conv2(torch.cat([x, skip], 1))))


class Decoder(nn.Module):
    def __init__(self, b, cin, cout):
        super().__init__()
        self.up4 = Up(8 * b, 4 * b, 4 * b)
        self.up3 = Up(4 * b, 2 * b, 2 * b)
        self.up2 = Up(2 * b, b, b)
        self.up1 = Up(b, b, b)
        self.up0 = Up(b, cin, b // 2)
        self.out = nn.Conv2d(b // 2, cout, 1)

    def forward(self, x, feats):
        s1, s2, s3, s4, s5 = feats
        y = self.up4(s5, s4)
        y = self.up3(y, s3)
        y = self.up2(y, s2)
        y = self.up1(y, s1)
        y = self.up0(y, x)
        return torch.tanh(self.out(y))


class Generator(nn.Module):
    def __init__(self, encoder="resnet18", base=32, in_ch=1, out_ch=2):
        super().__init__()
        self.encoder_kind, self.base, self.in_ch, self.out_ch = encoder, base, in_ch, out_ch
        self.enc = ResNetEncoder(in_ch, base) if encoder == "resnet18" else PlainEncoder(in_ch, base)
        self.dec = Decoder(base, in_ch, out_ch)

    def forward(self, x):
        return self.dec(x, self.enc(x))


class PatchD(nn.Module):
    """pix2pix 70x70 PatchGAN: C(b)-C(2b)-C(4b)-C(8b, stride 1)-conv(1), raw logits."""

    def __init__(self, in_ch=3, base=32):
        super().__init__()
        b = base
        self.net = nn.Sequential(
            nn.Conv2d(in_ch, b, 4, 2, 1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(b, 2 * b, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * b), nn.LeakyReLU(0.2, True),
            nn.Conv2d(2 * b, 4 * b, 4, 2, 1, bias=False), nn.BatchNorm2d(4 * b), nn.LeakyReLU(0.2, True),
            nn.Conv2d(4 * b, 8 * b, 4, 1, 1, bias=False), nn.BatchNorm2d(8 * b), nn.LeakyReLU(0.2, True),
            nn.Conv2d(8 * b, 1, 4, 1, 1))

    def forward(self, x):
        return self.net(x)


VARIANTS = {
    # name: (encoder, colour space, output channels)
    "lab": ("resnet18", "lab", 2),
    "rgb": ("resnet18", "rgb", 3),
    "basic": ("plain", "lab", 2),
}


def make_generator(variant, base=32):
    enc, _, out_ch = VARIANTS[variant]
    return Generator(enc, base, 1, out_ch)


def init_weights(m):
    """pix2pix init: N(0, 0.02) convs, N(1, 0.02) norm scales (Kaiming for the ResNet convs)."""
    if isinstance(m, nn.Conv2d):
        nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def init_generator(G):
    """init_weights everywhere, then a small output layer so training starts near grey
    (tanh unsaturated)."""
    G.apply(init_weights)
    nn.init.normal_(G.dec.out.weight, 0.0, 0.01)


def reflect_index(n, before, after):
    """Source indices of a reflect pad of n samples (folded again for pads longer than n - 1, as
    reflect() in src/models/colorizer.c; equal to torch's "reflect" where that applies)."""
    import numpy as np
    i = np.arange(-before, n + after)
    if n == 1:
        return np.zeros_like(i)
    period = 2 * (n - 1)
    i = np.mod(i, period)
    return np.where(i < n, i, period - i)


def pad_to_multiple(x, m=32):
    """Reflect-pads B x C x H x W to multiples of m, split (pad//2 before, rest after) as in
    src/models/colorizer.c; returns (padded, (top, left, h, w))."""
    h, w = x.shape[-2:]
    hp, wp = (h + m - 1) // m * m, (w + m - 1) // m * m
    top, left = (hp - h) // 2, (wp - w) // 2
    if hp == h and wp == w:
        return x, (0, 0, h, w)
    if top < h and hp - h - top < h and left < w and wp - w - left < w:
        return F.pad(x, (left, wp - w - left, top, hp - h - top), mode="reflect"), (top, left, h, w)
    iy = torch.from_numpy(reflect_index(h, top, hp - h - top))
    ix = torch.from_numpy(reflect_index(w, left, wp - w - left))
    return x[..., iy, :][..., ix], (top, left, h, w)


def predict_ab(G, L, space="lab", ab_down=1):
    """a*, b* (Lab units) for L* (B x 1 x H x W, 0..100) of any size, as ae_colorizer_predict_ab:
    reflect pad to a multiple of 32 x ab_down, average over ab_down^2 blocks, run, upsample the
    output bilinearly (half-pixel centres) by ab_down, crop; the rgb variant's output converted
    to Lab."""
    import astrodata as ad
    xp, (top, left, h, w) = pad_to_multiple(L / ad.L_SCALE - 1.0, 32 * ab_down)
    if ab_down > 1:
        y = F.interpolate(G(F.avg_pool2d(xp, ab_down)), scale_factor=ab_down, mode="bilinear",
                          align_corners=False)
    else:
        y = G(xp)
    y = y[..., top:top + h, left:left + w]
    if space == "lab":
        return y * ad.AB_SCALE
    return ad.rgb_to_lab(((y + 1.0) * 0.5).clamp(0, 1))[:, 1:]
