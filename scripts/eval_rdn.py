#!/usr/bin/env python3
"""eval_rdn.py - what RDN weights are worth on the validation (or test) split, in PyTorch.

  python3 scripts/eval_rdn.py --scale 2 --rgb runs/rdn/medium_x2_rgb.safetensors \
      [--plane runs/rdn/x2_finetuned.safetensors ...] [--n-images 60] [--split val] [--json out.json]

Planes as eval_sr.py and train_sr.py validate: centre crops (--size HR) of the
first N images of the split spread over decals256/nasa/stellarium
(sr_data.fixed_set), every colour plane a grey image, LR = box downsample.
PSNR in dB on [0,1] (outputs clipped), mean over planes, overall and per source.

Rows: bicubic; the EDSR-like fast net (models/fast_x<s>_v1); for every --rgb file
(an RGB RDN as convert_upscalerjs.py --planes rgb writes it):
  rgb    the three planes of an image upscaled together as one colour image
  mean   each plane alone, replicated to 3 channels, mean of the 3 outputs
  luma   the same, Rec.601 luma of the 3 outputs
and for every --plane file (1-plane RDN) the plane alone.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export  # noqa: E402
import rdn  # noqa: E402
import sr_data  # noqa: E402
import sr_golden  # noqa: E402
import sr_models as M  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_rdn(path):
    arrays, meta = export.read_safetensors(path)
    if meta.get("arch") != "rdn":
        raise SystemExit("%s: not an RDN file (arch=%s)" % (path, meta.get("arch")))
    net = rdn.RDN(**rdn.cfg_from_metadata(meta))
    net.load_state_dict({k: torch.from_numpy(v.astype(np.float32)) for k, v in arrays.items()})
    return net.eval(), meta


def psnr_planes(out, hr):
    mse = ((out.clamp(0, 1).double() - hr.double()) ** 2).flatten(1).mean(1)
    return (10 * torch.log10(1.0 / mse.clamp(min=1e-12))).numpy()


@torch.no_grad()
def batched(fn, x, bs=12):
    return torch.cat([fn(x[i:i + bs]) for i in range(0, len(x), bs)])


def summary(p, sources):
    d = {"all": float(p.mean()), "n": int(len(p))}
    for s in sorted(set(sources)):
        m = np.array([x == s for x in sources])
        d[s] = float(p[m].mean())
    return d


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=int, choices=(2, 4), required=True)
    ap.add_argument("--rgb", nargs="*", default=[], help="RGB RDN files (rgb / mean / luma rows)")
    ap.add_argument("--plane", nargs="*", default=[], help="1-plane RDN files")
    ap.add_argument("--n-images", type=int, default=60)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--split", default="val", choices=("val", "test"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    s = a.scale
    lr, hr, names = sr_data.fixed_set(a.split, s, a.size, a.n_images)
    sources = [n.split("/")[0] for n in names]
    rows = {}
    bic = M.bicubic_up(lr, s)
    p_bic = psnr_planes(bic, hr)
    rows["bicubic"] = summary(p_bic, sources)
    fast = sr_golden.load_shipped(os.path.join(REPO, "models", "fast_x%d_v1.safetensors" % s))[0]
    rows["fast (shipped EDSR-like)"] = summary(psnr_planes(batched(
        lambda x: sr_data.from_net(fast(sr_data.to_net(x))), lr), hr), sources)
    for path in a.rgb:
        net, _ = load_rdn(path)
        tag = os.path.basename(path).replace(".safetensors", "")
        rgb_lr = lr.view(-1, 3, *lr.shape[-2:])          # planes come in channel order per image
        out = batched(lambda x: sr_data.from_net(net(sr_data.to_net(x))), rgb_lr, 4)
        rows[tag + " rgb (3 planes together)"] = summary(psnr_planes(out.reshape(-1, 1, *out.shape[-2:]), hr), sources)
        for mode, w in (("mean", (1 / 3,) * 3), ("luma", rdn.LUMA)):
            one = rdn.to_single_plane(net, w).eval()
            out = batched(lambda x: sr_data.from_net(one(sr_data.to_net(x))), lr)
            rows["%s %s (plane alone)" % (tag, mode)] = summary(psnr_planes(out, hr), sources)
    for path in a.plane:
        net, _ = load_rdn(path)
        out = batched(lambda x: sr_data.from_net(net(sr_data.to_net(x))), lr)
        rows[os.path.basename(path).replace(".safetensors", "")] = summary(psnr_planes(out, hr), sources)
    srcs = sorted(set(sources))
    print("x%d, %s split, %d planes of %d px (%s), PSNR dB (gain over bicubic)" % (
        s, a.split, len(names), a.size, ", ".join("%s %d" % (x, sources.count(x)) for x in srcs)))
    b = rows["bicubic"]
    for k, r in rows.items():
        print("  %-48s all %6.2f (%+.2f)  %s" % (k, r["all"], r["all"] - b["all"], "  ".join(
            "%s %.2f (%+.2f)" % (x, r[x], r[x] - b[x]) for x in srcs)))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"scale": s, "split": a.split, "size": a.size, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
