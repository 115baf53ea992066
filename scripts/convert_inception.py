#!/usr/bin/python3
"""convert_inception.py - pytorch-fid's InceptionV3 weights (.pth) to .safetensors for `astroenh eval`.

  /usr/bin/python3 scripts/convert_inception.py pt_inception-2015-12-05-6726825d.pth \\
      models/pt_inception-2015-12-05.safetensors [--f16]

IN is the torch state_dict that pytorch-fid downloads from
https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth
(torch.load on the CPU; nothing is executed beyond torch's unpickler). Every tensor that
pytorch-fid's FID InceptionV3 needs is checked by name and shape against scripts/fid_inception.py
(the channel widths are read from Conv2d_1a_3x3, so width-reduced test networks convert too);
BatchNorm's num_batches_tracked and the classifier fc.* (unused: features are the pool before fc)
are left out and listed in the metadata. Output: f32 (default) or f16, with metadata
  arch=fid_inception_v3, width_div, bn_eps=0.001, source, source_sha256,
  pytorch_fid_weights=true|false (sha256 starts with 6726825d, the hash in the release's name:
  only then are FIDs from it comparable with published ones).
"""
import argparse
import hashlib
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from export import write_safetensors  # noqa: E402

PYTORCH_FID_SHA256_PREFIX = "6726825d"
OMIT_SUFFIXES = ("num_batches_tracked",)
OMIT_PREFIXES = ("fc.",)


class ConvertError(Exception):
    pass


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_state_dict(path):
    import torch
    try:
        obj = torch.load(path, map_location="cpu")
    except Exception as e:  # torch raises many types for a bad file
        raise ConvertError("%s: not a torch file torch.load can read (%s: %s)" % (path, type(e).__name__, e))
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(hasattr(v, "shape") for v in obj.values()):
        raise ConvertError("%s: expected a state_dict (name -> tensor), found %s" % (path, type(obj).__name__))
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in obj.items()}


def width_div(sd, path):
    w = sd.get("Conv2d_1a_3x3.conv.weight")
    if w is None:
        raise ConvertError("%s: tensor Conv2d_1a_3x3.conv.weight missing: not an InceptionV3 state_dict" % path)
    c = int(w.shape[0])
    if c < 1 or 32 % c:
        raise ConvertError("%s: Conv2d_1a_3x3.conv.weight has %d output channels; 32 (or 32/div) expected"
                           % (path, c))
    return 32 // c


def expected_shapes(div):
    from fid_inception import FIDInception
    model = FIDInception(div)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()
            if not k.endswith(OMIT_SUFFIXES) and not k.startswith(OMIT_PREFIXES)}


def convert(src, dst, f16=False):
    sd = load_state_dict(src)
    div = width_div(sd, src)
    want = expected_shapes(div)
    missing = [k for k in want if k not in sd]
    if missing:
        raise ConvertError("%s: %d expected tensor(s) missing, e.g. %s" % (src, len(missing), ", ".join(missing[:5])))
    for k, shape in want.items():
        if tuple(sd[k].shape) != shape:
            raise ConvertError("%s: tensor %s has shape %s, expected %s" % (src, k, list(sd[k].shape), list(shape)))
    omitted = sorted(k for k in sd if k not in want)
    unknown = [k for k in omitted if not k.endswith(OMIT_SUFFIXES) and not k.startswith(OMIT_PREFIXES)]
    if unknown:
        raise ConvertError("%s: unexpected tensor(s) %s: not pytorch-fid's InceptionV3" % (src, ", ".join(unknown[:5])))
    dtype = np.float16 if f16 else np.float32
    tensors = {}
    for k in want:
        a = sd[k].detach().cpu().float().numpy()
        if not np.all(np.isfinite(a)):
            raise ConvertError("%s: tensor %s has non-finite values" % (src, k))
        tensors[k] = a.astype(dtype)
    digest = sha256_of(src)
    meta = {"arch": "fid_inception_v3", "width_div": str(div), "bn_eps": "0.001",
            "source": os.path.basename(src), "source_sha256": digest,
            "pytorch_fid_weights": "true" if digest.startswith(PYTORCH_FID_SHA256_PREFIX) and div == 1 else "false",
            "omitted": ",".join(o for o in omitted if not o.endswith(OMIT_SUFFIXES)) + " and num_batches_tracked"}
    write_safetensors(dst, tensors, meta)
    return meta, len(tensors)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("src", help="pytorch-fid's pt_inception-2015-12-05-6726825d.pth (a torch state_dict)")
    ap.add_argument("dst", help="output .safetensors")
    ap.add_argument("--f16", action="store_true", help="store float16 (half the size); default float32")
    a = ap.parse_args()
    if not os.path.isfile(a.src):
        sys.exit("convert_inception: %s: no such file" % a.src)
    try:
        meta, n = convert(a.src, a.dst, a.f16)
    except ConvertError as e:
        sys.exit("convert_inception: %s" % e)
    print("%s: %d tensors (%s), width_div %s, pytorch-fid weights: %s (sha256 %s...)"
          % (a.dst, n, "f16" if a.f16 else "f32", meta["width_div"], meta["pytorch_fid_weights"],
             meta["source_sha256"][:12]))


if __name__ == "__main__":
    main()
