#!/usr/bin/python3
"""inception_fid_check.py - FID of two image lists in torch + scipy, to check `astroenh eval --inception`.

  /usr/bin/python3 scripts/inception_fid_check.py WEIGHTS.pth REF_LIST LIST [--bin ./astroenh --st X.safetensors]

Features: scripts/fid_inception.py with the state_dict WEIGHTS.pth (pytorch-fid's, or a random one
from scripts/inception_golden.py --pth), images read as 8-bit RGB / 255 as pytorch-fid does;
Frechet distance as pytorch-fid's calculate_frechet_distance (scipy.linalg.sqrtm). With --bin and
--st (the converted file) it also runs `astroenh eval --fid` and prints both.
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np
import scipy.linalg
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fid_inception import FIDInception  # noqa: E402


def features(model, list_path):
    import skimage.io
    out = []
    for p in open(list_path).read().split():
        a = skimage.io.imread(p)
        if a.dtype == np.uint16:
            a = np.round(a / 257.0)
        a = a.astype(np.uint8)
        if a.ndim == 2:
            a = np.stack([a] * 3, -1)
        x = torch.from_numpy(a[..., :3].transpose(2, 0, 1).astype(np.float32) / 255.0)[None]
        out.append(model(x)[0].numpy().astype(np.float64))
    return np.stack(out)


def frechet(f1, f2):
    m1, m2 = f1.mean(0), f2.mean(0)
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    covmean, _ = scipy.linalg.sqrtm(s1.dot(s2), disp=False)
    covmean = covmean.real
    return float(((m1 - m2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pth")
    ap.add_argument("ref")
    ap.add_argument("list")
    ap.add_argument("--bin")
    ap.add_argument("--st")
    a = ap.parse_args()
    torch.set_grad_enabled(False)
    model = FIDInception(1).eval()
    res = model.load_state_dict(torch.load(a.pth, map_location="cpu"), strict=False)
    bad = [k for k in res.missing_keys + res.unexpected_keys if not k.endswith("num_batches_tracked")]
    if bad:
        sys.exit("%s: tensors missing or unexpected: %s" % (a.pth, ", ".join(bad[:5])))
    fid = frechet(features(model, a.ref), features(model, a.list))
    print("torch + scipy FID: %.6f" % fid)
    if a.bin and a.st:
        r = subprocess.run([a.bin, "eval", "--inception", a.st, "--kid-size", "2", "--fid", a.ref, a.list],
                           check=True, capture_output=True, text=True)
        c = json.loads(r.stdout.splitlines()[0])["fid"]
        print("astroenh FID:      %.6f  (abs diff %.3g, rel %.3g)" % (c, abs(c - fid), abs(c - fid) / max(abs(fid), 1e-12)))


if __name__ == "__main__":
    main()
