#!/usr/bin/env python3
"""convert_upscalerjs.py - UpscalerJS RDN weights (TF.js layers format) -> fp16 safetensors.

  npm pack @upscalerjs/esrgan-medium            # in a git-ignored folder, e.g. runs/npm/
  python3 scripts/convert_upscalerjs.py runs/npm/upscalerjs-esrgan-medium-1.0.0.tgz --scale 2 \
      --planes mean runs/rdn/medium_x2_mean.safetensors [--check-node runs/npm]

Reads package/models/x<s>/model.json (Keras topology + weightsManifest) and its
shards from the npm tarball, checks that the graph is exactly the RDN of
scripts/rdn.py (layer by layer: class, name, inputs, filters, kernel size,
padding, activation), renames the weights to PyTorch-style state_dict names
(Keras F_m1 -> sfe1, F_0 -> sfe2, F_d_c -> rdbs.{d-1}.layers.{c-1},
LFF_d -> rdbs.{d-1}.lff, GFF_1/2 -> gff.0/1, UPN1/2/3 -> upn.0/2/4, SR -> sr),
transposes kernels HWIO -> OIHW and writes fp16 with __metadata__: the
architecture and hyper-parameters src/models/rdn.c reads, the source package
name@version, its licence, and the SHA-256 of the tarball, model.json and shards.

--planes rgb keeps 3 in/3 out channels (the original function); mean / luma
fold it exactly into the 1-plane network the upscale stage runs per plane
(rdn.to_single_plane).

--check-node DIR runs scripts/upscalerjs_check.js with node (DIR/node_modules
must hold @tensorflow/tfjs) on a fixed 3 x 23 x 29 input in 0..255 and reports
the largest difference between tfjs and the PyTorch port (fp32 and fp16 weights).
"""
import argparse
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export  # noqa: E402
import rdn  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def sha256(b):
    return hashlib.sha256(b).hexdigest()


def read_package(tgz, scale):
    """-> (model.json dict, {shard name: bytes}, package.json dict, {label: sha256})."""
    with open(tgz, "rb") as f:
        raw = f.read()
    sums = {"tarball": sha256(raw)}
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:gz") as tf:
        def member(p):
            try:
                return tf.extractfile("package/" + p).read()
            except KeyError:
                raise SystemExit("%s: no package/%s in the tarball" % (tgz, p))
        pkg = json.loads(member("package.json"))
        mj_raw = member("models/x%d/model.json" % scale)
        sums["model.json"] = sha256(mj_raw)
        mj = json.loads(mj_raw)
        shards = {}
        for group in mj.get("weightsManifest", []):
            for p in group["paths"]:
                shards[p] = member("models/x%d/%s" % (scale, p))
                sums[p] = sha256(shards[p])
    return mj, shards, pkg, sums


def keras_weights(mj, shards):
    """{keras name 'F_0/kernel': float32 array} from the manifest (groups in order, each
    group's shards concatenated, weights packed back to back)."""
    out = {}
    for group in mj["weightsManifest"]:
        buf = b"".join(shards[p] for p in group["paths"])
        off = 0
        for w in group["weights"]:
            if w.get("dtype") != "float32" or "quantization" in w:
                raise SystemExit("weight %s: only unquantised float32 is handled" % w["name"])
            n = int(np.prod(w["shape"])) if w["shape"] else 1
            out[w["name"]] = np.frombuffer(buf, dtype="<f4", count=n, offset=off).reshape(w["shape"]).copy()
            off += 4 * n
        if off != len(buf):
            raise SystemExit("weights manifest covers %d of %d shard bytes" % (off, len(buf)))
    return out


def layers_of(mj):
    topo = mj["modelTopology"]
    cfg = topo.get("model_config", topo)["config"]
    return cfg["layers"]


def infer_cfg(layers):
    by = {l["name"]: l for l in layers}
    need = ("F_m1", "F_0", "F_1_1", "GFF_1", "UPN1", "UPN2", "UPN3", "UPsample", "SR")
    missing = [n for n in need if n not in by]
    if missing:
        raise SystemExit("not an UpscalerJS RDN graph: no layer(s) %s" % ", ".join(missing))
    D = sum(1 for l in layers if l["name"].startswith("LFF_"))
    C = sum(1 for l in layers if l["class_name"] == "Conv2D" and l["name"].startswith("F_1_"))
    s = by["UPsample"]["config"]["size"][0]
    up3 = by["UPN3"]["config"]["filters"]
    return dict(scale=s, C=C, D=D, G=by["F_1_1"]["config"]["filters"], G0=by["F_0"]["config"]["filters"],
                cin=3, cout=by["SR"]["config"]["filters"],
                up_mid=(by["UPN1"]["config"]["filters"], by["UPN2"]["config"]["filters"]),
                up_ch=up3 // (s * s))


def expected_graph(cfg):
    """[(class, name, inputs, filters, kernel, padding)] of the RDN with these hyper-parameters."""
    g = [("InputLayer", "LR", [], None, None, None)]

    def conv(name, inp, f, k, pad="same"):
        g.append(("Conv2D", name, [inp], f, k, pad))
    conv("F_m1", "LR", cfg["G0"], 3)
    conv("F_0", "F_m1", cfg["G0"], 3)
    prev, lrls = "F_0", []
    for d in range(1, cfg["D"] + 1):
        x = prev
        for c in range(1, cfg["C"] + 1):
            conv("F_%d_%d" % (d, c), x, cfg["G"], 3)
            g.append(("Activation", "F_%d_%d_Relu" % (d, c), ["F_%d_%d" % (d, c)], None, None, None))
            g.append(("Concatenate", "RDB_Concat_%d_%d" % (d, c), [x, "F_%d_%d_Relu" % (d, c)], None, None, None))
            x = "RDB_Concat_%d_%d" % (d, c)
        conv("LFF_%d" % d, x, cfg["G0"], 1, "valid")
        g.append(("Add", "LRL_%d" % d, ["LFF_%d" % d, prev], None, None, None))
        prev = "LRL_%d" % d
        lrls.append(prev)
    g.append(("Concatenate", "LRLs_Concat", lrls, None, None, None))
    conv("GFF_1", "LRLs_Concat", cfg["G0"], 1)
    conv("GFF_2", "GFF_1", cfg["G0"], 3)
    g.append(("Add", "FDF", ["GFF_2", "F_m1"], None, None, None))
    conv("UPN1", "FDF", cfg["up_mid"][0], 5)
    g.append(("Activation", "UPN1_Relu", ["UPN1"], None, None, None))
    conv("UPN2", "UPN1_Relu", cfg["up_mid"][1], 3)
    g.append(("Activation", "UPN2_Relu", ["UPN2"], None, None, None))
    conv("UPN3", "UPN2_Relu", cfg["up_ch"] * cfg["scale"] ** 2, 3)
    g.append(("UpSampling2D", "UPsample", ["UPN3"], None, None, None))
    conv("SR", "UPsample", cfg["cout"], 3)
    return g


def check_graph(layers, cfg):
    exp = expected_graph(cfg)
    if len(exp) != len(layers):
        raise SystemExit("graph has %d layers, the RDN with %s has %d" % (len(layers), cfg, len(exp)))
    for e, l in zip(exp, layers):
        c = l["config"]
        inputs = [n[0] for node in l["inbound_nodes"] for n in node]
        got = (l["class_name"], l["name"], inputs, c.get("filters"),
               c["kernel_size"][0] if "kernel_size" in c else None, c.get("padding"))
        if got != e:
            raise SystemExit("layer mismatch: expected %s, found %s" % (e, got))
        if l["class_name"] == "Conv2D":
            if (c["strides"] != [1, 1] or c["dilation_rate"] != [1, 1] or not c["use_bias"]
                    or c["activation"] != "linear" or c["kernel_size"][0] != c["kernel_size"][1]):
                raise SystemExit("layer %s: unexpected conv options %s" % (l["name"], c))
        if l["class_name"] == "Activation" and c["activation"] != "relu":
            raise SystemExit("layer %s: activation %s" % (l["name"], c["activation"]))
        if l["class_name"] == "Concatenate" and c["axis"] not in (3, -1):
            raise SystemExit("layer %s: concat axis %s" % (l["name"], c["axis"]))
        if l["class_name"] == "UpSampling2D" and (c.get("interpolation", "nearest") != "nearest"
                                                  or c["size"] != [cfg["scale"]] * 2):
            raise SystemExit("layer %s: %s" % (l["name"], c))


def torch_name(keras):
    if keras == "F_m1":
        return "sfe1"
    if keras == "F_0":
        return "sfe2"
    if keras.startswith("F_"):
        d, c = keras[2:].split("_")
        return "rdbs.%d.layers.%d" % (int(d) - 1, int(c) - 1)
    if keras.startswith("LFF_"):
        return "rdbs.%d.lff" % (int(keras[4:]) - 1)
    return {"GFF_1": "gff.0", "GFF_2": "gff.1", "UPN1": "upn.0", "UPN2": "upn.2", "UPN3": "upn.4",
            "SR": "sr"}[keras]


def to_state_dict(kw):
    sd = {}
    for k, v in kw.items():
        layer, kind = k.split("/")
        t = torch_name(layer)
        if kind == "kernel":
            sd[t + ".weight"] = torch.from_numpy(np.ascontiguousarray(v.transpose(3, 2, 0, 1)))
        elif kind == "bias":
            sd[t + ".bias"] = torch.from_numpy(v)
        else:
            raise SystemExit("unexpected weight %s" % k)
    return sd


def convert(tgz, scale):
    mj, shards, pkg, sums = read_package(tgz, scale)
    layers = layers_of(mj)
    cfg = infer_cfg(layers)
    if cfg["scale"] != scale:
        raise SystemExit("models/x%d has UpSampling2D size %d" % (scale, cfg["scale"]))
    check_graph(layers, cfg)
    net = rdn.RDN(**cfg)
    net.load_state_dict(to_state_dict(keras_weights(mj, shards)))  # strict: every name and shape
    return net.eval(), mj, shards, pkg, sums


def fixed_input(h=23, w=29):
    """A deterministic 1 x 3 x h x w test image in 0..255: gradients, a few stars, noise."""
    rng = np.random.default_rng(20261207)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([40 + 3 * x, 60 + 4 * y, 120 + 2 * (x - y)])
    for _ in range(4):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        base += 150 * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / 2.0)[None]
    base += rng.normal(0, 8, base.shape)
    return np.clip(base, 0, 255).astype(np.float32)[None]


def check_node(node_dir, tgz, scale, net, net16):
    x = fixed_input()
    with tempfile.TemporaryDirectory() as td:
        pkg_dir = os.path.join(td, "pkg")
        with tarfile.open(tgz) as tf:
            tf.extractall(pkg_dir, members=[m for m in tf.getmembers()
                                            if m.name.startswith("package/models/x%d/" % scale)])
        mdir = os.path.join(pkg_dir, "package", "models", "x%d" % scale)
        xin, yout = os.path.join(td, "x.f32"), os.path.join(td, "y.f32")
        np.ascontiguousarray(x[0].transpose(1, 2, 0)).astype("<f4").tofile(xin)  # NHWC
        env = dict(os.environ, NODE_PATH=os.path.join(os.path.abspath(node_dir), "node_modules"))
        r = subprocess.run(["node", os.path.join(HERE, "upscalerjs_check.js"), os.path.join(mdir, "model.json"),
                            xin, str(x.shape[2]), str(x.shape[3]), yout], env=env, capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit("node check failed:\n" + r.stdout + r.stderr)
        sys.stdout.write(r.stdout)
        ref = np.fromfile(yout, dtype="<f4").reshape(x.shape[2] * scale, x.shape[3] * scale, 3).transpose(2, 0, 1)
    with torch.no_grad():
        out = net.forward_255(torch.from_numpy(x))[0].numpy()
        out16 = net16.forward_255(torch.from_numpy(x))[0].numpy()
    e32, e16 = float(np.abs(out - ref).max()), float(np.abs(out16 - ref).max())
    print("tfjs vs PyTorch port, x%d, input 3x%dx%d in 0..255, output range %.1f..%.1f: max |diff| "
          "%.3g (fp32 weights), %.3g (fp16 weights), in 0..255 units" %
          (scale, x.shape[2], x.shape[3], ref.min(), ref.max(), e32, e16))
    return e32, e16


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("tarball", help="the npm pack tarball of an @upscalerjs/esrgan-* package")
    ap.add_argument("out", help="output .safetensors")
    ap.add_argument("--scale", type=int, required=True, choices=(2, 3, 4, 8))
    ap.add_argument("--planes", choices=("rgb", "mean", "luma"), default="mean",
                    help="rgb: 3->3 channels as shipped; mean/luma: exact 1-plane fold (default mean)")
    ap.add_argument("--check-node", metavar="DIR", help="compare against tfjs (DIR/node_modules)")
    a = ap.parse_args()
    net, mj, shards, pkg, sums = convert(a.tarball, a.scale)
    net16 = rdn.RDN(**net.cfg)
    net16.load_state_dict({k: v.half().float() for k, v in net.state_dict().items()})
    errs = check_node(a.check_node, a.tarball, a.scale, net, net16.eval()) if a.check_node else None
    if a.planes != "rgb":
        net = rdn.to_single_plane(net, rdn.LUMA if a.planes == "luma" else (1 / 3,) * 3)
    arrays, _ = export.state_dict_arrays(net.state_dict())
    meta = rdn.metadata(net.cfg)
    meta.update({
        "planes": {"rgb": "RGB in, RGB out (as shipped)",
                   "mean": "one plane: the RGB network on the plane replicated to 3 channels, mean of its 3 outputs "
                           "(folded exactly into sfe1 and sr)",
                   "luma": "one plane: the RGB network on the plane replicated to 3 channels, Rec.601 luma "
                           "of its outputs (folded exactly into sfe1 and sr)"}[a.planes],
        "source": "%s@%s models/x%d (npm), %s" % (pkg["name"], pkg["version"], a.scale,
                                                 mj.get("convertedBy") or ""),
        "source_license": pkg.get("license", "unknown"),
        "source_homepage": pkg.get("homepage", ""),
        "source_sha256_tarball": sums["tarball"],
        "source_sha256_model_json": sums["model.json"],
        "source_sha256_shards": ",".join("%s=%s" % (k, v) for k, v in sums.items()
                                         if k not in ("tarball", "model.json")),
        "converted_by": "scripts/convert_upscalerjs.py (Keras HWIO kernels -> OIHW), git %s" % export.git_revision(),
        "dtype": "F16 (source F32)",
        "training": "as shipped (pretrained on DIV2K by UpscalerJS); not fine-tuned",
    })
    if errs:
        meta["check_tfjs_max_abs_diff_0_255"] = "fp32 %.3g, fp16 %.3g" % errs
    export.write_safetensors(a.out, arrays, meta)
    print("wrote %s: %s, %d tensors, %d parameters, %.2f MB" % (
        a.out, meta["source"], len(arrays), sum(v.size for v in arrays.values()), os.path.getsize(a.out) / 1e6))


if __name__ == "__main__":
    main()
