#!/usr/bin/env python3
"""rdn_golden.py - PyTorch reference data for tests/test_rdn.c.

  python3 scripts/rdn_golden.py          # writes tests/golden/rdn_*.safetensors

Writes tiny random-weight RDNs (scripts/rdn.py; F32, with the __metadata__
src/models/rdn.c reads) and their inputs/outputs:
  rdn_tiny_x2.safetensors  scale 2, C=2 D=3 G=4 G0=8, 1 plane in/out, up_mid 6,5, up_channels 1
  rdn_tiny_x4.safetensors  scale 4, C=1 D=2 G=3 G0=6, RGB in/out, up_mid 5,4, up_channels 3
  rdn_io.safetensors       tiny_x2.{x,y} (1x1x10x12), tiny_x4.{x,y} (1x3x7x9), x in [-1,1],
                           y = RDN.forward(x) (the 0..255 mapping included)
  fast_shipped_io.safetensors  fast_x2.{x,y}: the shipped models/fast_x2, RDN or EDSR-like
                           (fp16 weights read as float32), on a smooth 1x1x16x20 test image;
                           metadata model_sha256 and arch say which file it was made from
                           (tests/test_rdn.c or tests/test_srfast.c compare, by arch)
  python3 scripts/rdn_golden.py --shipped   # only fast_shipped_io (after a new fast_x2)
Also asserts the single-plane fold (rdn.to_single_plane) equals the RGB
network on a replicated plane (mean and luma of its outputs).
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export  # noqa: E402
import rdn  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CASES = {
    "tiny_x2": dict(scale=2, C=2, D=3, G=4, G0=8, cin=1, cout=1, up_mid=(6, 5), up_ch=1),
    "tiny_x4": dict(scale=4, C=1, D=2, G=3, G0=6, cin=3, cout=3, up_mid=(5, 4), up_ch=3),
}
SHAPES = {"tiny_x2": (1, 1, 10, 12), "tiny_x4": (1, 3, 7, 9)}


def check_fold(net, g):
    """The 1-plane fold of an RGB net = the RGB net on the replicated plane, mean / luma."""
    x = torch.rand(2, 1, 9, 11, generator=g) * 2 - 1
    for w in ((1 / 3,) * 3, rdn.LUMA):
        one = rdn.to_single_plane(net, w).eval()
        y3 = net(x.repeat(1, 3, 1, 1))
        ref = (y3 * torch.tensor(w).view(1, 3, 1, 1)).sum(1, keepdim=True)
        err = float((one(x) - ref).abs().max())
        assert err < 1e-4, "fold error %g" % err
        print("rdn golden: single-plane fold %s max |diff| %.2g" % ("mean" if w[0] == w[1] else "luma", err))


def generate(out_dir):
    torch.manual_seed(4242)
    g = torch.Generator().manual_seed(4243)
    io = {}
    for name, cfg in CASES.items():
        net = rdn.RDN(**cfg).eval()
        with torch.no_grad():
            for p in net.parameters():   # biases too: the default init leaves them near 0
                p.mul_(1.0 + torch.rand(p.shape, generator=g))
        x = torch.rand(*SHAPES[name], generator=g) * 2 - 1
        with torch.no_grad():
            io[name + ".x"], io[name + ".y"] = x, net(x)
            if cfg["cin"] == 3:
                check_fold(net, g)
        arrays = {k: v.numpy() for k, v in net.state_dict().items()}
        export.write_safetensors(os.path.join(out_dir, "rdn_%s.safetensors" % name), arrays, rdn.metadata(cfg))
    export.write_safetensors(os.path.join(out_dir, "rdn_io.safetensors"),
                             {k: v.contiguous().numpy() for k, v in io.items()},
                             {"generator": "scripts/rdn_golden.py"})
    print("rdn golden: wrote %s" % ", ".join("rdn_%s" % n for n in list(CASES) + ["io"]))


def shipped(out_dir):
    import hashlib
    import numpy as np
    path = os.path.join(REPO, "models", "fast_x2.safetensors")
    arrays, meta = export.read_safetensors(path)
    if meta.get("arch") == "rdn":
        net = rdn.RDN(**rdn.cfg_from_metadata(meta)).eval()
        net.load_state_dict({k: torch.from_numpy(v.astype(np.float32)) for k, v in arrays.items()})
    else:
        import sr_golden
        net = sr_golden.load_shipped(path)[0]
    yy, xx = torch.meshgrid(torch.arange(16.0), torch.arange(20.0), indexing="ij")
    x = (0.6 * torch.sin(xx / 3.0) * torch.cos(yy / 4.0) + 0.1 * torch.cos(xx * yy / 7.0)).view(1, 1, 16, 20)
    with torch.no_grad():
        y = net(x)
    sha = hashlib.sha256(open(path, "rb").read()).hexdigest()
    export.write_safetensors(os.path.join(out_dir, "fast_shipped_io.safetensors"),
                             {"fast_x2.x": x.contiguous().numpy(), "fast_x2.y": y.contiguous().numpy()},
                             {"generator": "scripts/rdn_golden.py --shipped", "model_sha256": sha,
                              "arch": meta.get("arch", "")})
    print("rdn golden: wrote fast_shipped_io (models/fast_x2.safetensors %s..., %s)" % (sha[:16], meta.get("arch")))


if __name__ == "__main__":
    out = os.path.join(REPO, "tests", "golden")
    if "--shipped" not in sys.argv:
        generate(out)
    shipped(out)
