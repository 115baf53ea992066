"""rdn.py - the Residual Dense Network of UpscalerJS's esrgan-* packages, in PyTorch.

RDN (Zhang et al. 2018, "Residual Dense Network for Image Super-Resolution")
as idealo's image-super-resolution implements it and UpscalerJS ships it
(`rdn-C?-D?-G?-G0?-x?` models, upsampling by UpSampling2D):

  sfe1 (F_m1) 3x3 cin->G0, sfe2 (F_0) 3x3 G0->G0
  D residual dense blocks, block d: x = in; C times x = cat(x, relu(conv3x3 x -> G));
      lff (LFF_d) 1x1 -> G0; out = lff + in
  gff.0 (GFF_1) 1x1 cat(all block outputs) -> G0, gff.1 (GFF_2) 3x3, + sfe1 (FDF)
  upn.0 (UPN1) 5x5 G0->64, ReLU, upn.2 (UPN2) 3x3 64->32, ReLU, upn.4 (UPN3) 3x3 32->3*s*s
  nearest upsampling by s, sr (SR) 3x3 -> cout

The Keras model takes and returns RGB in 0..255 (UpscalerJS inputRange/outputRange).
Here forward() takes the project's network values in [-1,1] (v*2-1 of display
values v) and maps them to 0..255 and back, so the module plugs into the same
pipeline as SRFast. cin/cout = 1 is the single-plane form: the RGB network run
on a grey plane replicated to 3 channels, with the output averaged (or a luma
of it) is the same function as a 1-channel network whose first kernel is the
sum of the RGB kernels over input channels and whose last kernel and bias are
the chosen weighted sum over output channels (zero padding is identical on the
three replicated planes, so the fold is exact). src/models/rdn.c mirrors this.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

VALUE_RANGE = 255.0   # the Keras model's input/output units


class DenseBlock(nn.Module):
    def __init__(self, g0, g, c):
        super().__init__()
        self.layers = nn.ModuleList([nn.Conv2d(g0 + i * g, g, 3, padding=1) for i in range(c)])
        self.lff = nn.Conv2d(g0 + c * g, g0, 1)

    def forward(self, x):
        h = x
        for conv in self.layers:
            h = torch.cat([h, F.relu(conv(h))], dim=1)
        return self.lff(h) + x


class RDN(nn.Module):
    def __init__(self, scale=2, C=1, D=10, G=64, G0=64, cin=3, cout=3, up_mid=(64, 32), up_ch=3):
        super().__init__()
        self.cfg = dict(scale=scale, C=C, D=D, G=G, G0=G0, cin=cin, cout=cout,
                        up_mid=tuple(up_mid), up_ch=up_ch)
        self.scale = scale
        self.sfe1 = nn.Conv2d(cin, G0, 3, padding=1)
        self.sfe2 = nn.Conv2d(G0, G0, 3, padding=1)
        self.rdbs = nn.ModuleList([DenseBlock(G0, G, C) for _ in range(D)])
        self.gff = nn.Sequential(nn.Conv2d(D * G0, G0, 1), nn.Conv2d(G0, G0, 3, padding=1))
        m1, m2 = up_mid
        self.upn = nn.Sequential(nn.Conv2d(G0, m1, 5, padding=2), nn.ReLU(),
                                 nn.Conv2d(m1, m2, 3, padding=1), nn.ReLU(),
                                 nn.Conv2d(m2, up_ch * scale * scale, 3, padding=1))
        self.sr = nn.Conv2d(up_ch * scale * scale, cout, 3, padding=1)

    def forward_255(self, x):
        """The Keras graph: x and result in 0..255, N x cin x H x W."""
        f1 = self.sfe1(x)
        h = self.sfe2(f1)
        outs = []
        for blk in self.rdbs:
            h = blk(h)
            outs.append(h)
        h = self.gff(torch.cat(outs, dim=1)) + f1
        h = F.interpolate(self.upn(h), scale_factor=self.scale, mode="nearest")
        return self.sr(h)

    def forward(self, x):
        """x in [-1,1] (network units of sr_data.to_net); result in the same units."""
        y = self.forward_255((x + 1.0) * (0.5 * VALUE_RANGE))
        return y * (2.0 / VALUE_RANGE) - 1.0


LUMA = (0.299, 0.587, 0.114)


def to_single_plane(rgb, out_weights=(1 / 3, 1 / 3, 1 / 3)):
    """The exact 1-in/1-out fold of an RGB RDN (see the module docstring).
    out_weights: (1/3,)*3 = mean of the output channels, LUMA = Rec.601 luma."""
    cfg = dict(rgb.cfg, cin=1, cout=1)
    net = RDN(**cfg)
    sd = {k: v.clone() for k, v in rgb.state_dict().items()}
    sd["sfe1.weight"] = sd["sfe1.weight"].sum(dim=1, keepdim=True)
    w = torch.tensor(out_weights, dtype=sd["sr.weight"].dtype)
    sd["sr.weight"] = (sd["sr.weight"] * w.view(3, 1, 1, 1)).sum(dim=0, keepdim=True)
    sd["sr.bias"] = (sd["sr.bias"] * w).sum().view(1)
    net.load_state_dict(sd)
    return net


def metadata(cfg):
    """The __metadata__ strings src/models/rdn.c reads."""
    return {"arch": "rdn", "architecture": "rdn", "scale": str(cfg["scale"]), "C": str(cfg["C"]),
            "D": str(cfg["D"]), "G": str(cfg["G"]), "G0": str(cfg["G0"]),
            "in_channels": str(cfg["cin"]), "out_channels": str(cfg["cout"]),
            "up_mid": ",".join(str(m) for m in cfg["up_mid"]), "up_channels": str(cfg["up_ch"]),
            "value_range": "%g" % VALUE_RANGE,
            "io": "network values x in [-1,1] (2v-1 of display values v) are fed as (x+1)*127.5 "
                  "(0..255); the output y (0..255) is returned as y/127.5-1; no bicubic skip"}


def cfg_from_metadata(meta):
    return dict(scale=int(meta["scale"]), C=int(meta["C"]), D=int(meta["D"]), G=int(meta["G"]),
                G0=int(meta["G0"]), cin=int(meta["in_channels"]), cout=int(meta["out_channels"]),
                up_mid=tuple(int(v) for v in meta["up_mid"].split(",")),
                up_ch=int(meta["up_channels"]))
