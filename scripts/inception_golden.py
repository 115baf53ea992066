#!/usr/bin/python3
"""inception_golden.py - reference data for src/models/inception.c (tests/test_inception.c).

A random-weight FID InceptionV3 (scripts/fid_inception.py, Kaiming-normal convs and random
BatchNorm statistics so that activations stay O(1) through the 94 layers) is saved with
torch.save as a pytorch-fid-style state_dict, converted with scripts/convert_inception.py (so the
converter is exercised too), and the converted file gets the torch reference added:
  golden.input     n x 3 x h x w in [0,1] (before the resize to 299x299 and the scaling to [-1,1])
  golden.Mixed_5d  golden.Mixed_6e   block outputs (n x C x 35 x 35, n x C x 17 x 17)
  golden.features  n x 2048/div pool3 features
and metadata golden_n.

  # committed tiny version (channels / 8, one 64x64 input): ~1.8 MB
  /usr/bin/python3 scripts/inception_golden.py --div 8 --out tests/golden/inception_tiny.safetensors
  # full-size check (not committed, ~100 MB): two real images
  /usr/bin/python3 scripts/inception_golden.py --div 1 --images A.png B.png \\
      --pth /tmp/pt_inception-random.pth --out /tmp/inception_full.safetensors
  AE_INCEPTION_GOLDEN=/tmp/inception_full.safetensors build/tests/test_inception
"""
import argparse
import os
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from convert_inception import convert  # noqa: E402
from export import read_safetensors, write_safetensors  # noqa: E402
from fid_inception import FIDInception, randomize_bn  # noqa: E402


def random_model(div, seed):
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    m = FIDInception(div).eval()
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(mod.weight, nonlinearity="relu")  # torch.manual_seed
        randomize_bn(m, gen)
    return m


def load_images(paths, size):
    import skimage.io
    out = []
    for p in paths:
        a = skimage.io.imread(p)
        a = a.astype(np.float64) / (65535.0 if a.dtype == np.uint16 else 255.0)
        if a.ndim == 2:
            a = np.stack([a] * 3, -1)
        out.append(a[..., :3].transpose(2, 0, 1))
    return np.stack(out).astype(np.float32)


def smooth_random_images(n, size, seed):
    """Blurred noise in [0,1]: structure at several scales, like an image, not white noise."""
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.rand(n, 3, size // 8, size // 8, generator=g)
    x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    x = 0.8 * x + 0.2 * torch.rand(n, 3, size, size, generator=g)
    return x.clamp(0, 1).numpy().astype(np.float32)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--div", type=int, default=8, help="channel width divisor (1 = the real network)")
    ap.add_argument("--size", type=int, default=64, help="side of the synthetic input images")
    ap.add_argument("--n", type=int, default=1, help="synthetic images")
    ap.add_argument("--images", nargs="*", help="use these image files as input instead")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pth", help="where to torch.save the random state_dict (default: a temp file)")
    ap.add_argument("--f16", action="store_true", help="convert to f16 weights")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    torch.set_grad_enabled(False)
    model = random_model(a.div, a.seed)
    x = load_images(a.images, a.size) if a.images else smooth_random_images(a.n, a.size, a.seed)
    if a.f16:  # the reference must use the weights the C side reads
        model = model.half().float()
    taps = {}
    feats = model(torch.from_numpy(x), taps=taps)
    tmpdir = None if a.pth else tempfile.mkdtemp()
    pth = a.pth or os.path.join(tmpdir, "inception_random.pth")  # fixed name: reproducible metadata
    sd = model.state_dict()
    sd["fc.weight"], sd["fc.bias"] = model.fc.weight, model.fc.bias  # as in pytorch-fid's file
    torch.save(sd, pth)
    meta, count = convert(pth, a.out, a.f16)
    if tmpdir:
        os.remove(pth)
        os.rmdir(tmpdir)
    tensors, meta = read_safetensors(a.out)
    tensors["golden.input"] = x
    tensors["golden.Mixed_5d"] = taps["Mixed_5d"].numpy()
    tensors["golden.Mixed_6e"] = taps["Mixed_6e"].numpy()
    tensors["golden.features"] = feats.numpy()
    meta["golden_n"] = str(x.shape[0])
    meta["golden_seed"] = str(a.seed)
    write_safetensors(a.out, tensors, meta)
    print("%s: %d weight tensors (div %d), input %s, features %s (|f| mean %.3g), %.2f MB"
          % (a.out, count, a.div, list(x.shape), list(feats.shape), float(feats.abs().mean()),
             os.path.getsize(a.out) / 1e6))


if __name__ == "__main__":
    main()
