#!/usr/bin/env python3
"""sr3_compare.py OUT.fits GOLDEN.safetensors KEY TOL - compares an
`astroenh upscale` FITS output (float32, written bottom row first) with the
PyTorch reference KEY (c x h x w, top row first) of scripts/sr_golden.py.
Prints the max abs error; exit 0 when it is <= TOL. numpy only."""
import json
import struct
import sys

import numpy as np


def read_fits(path):
    raw = open(path, "rb").read()
    cards, off = {}, 0
    while True:
        block = raw[off:off + 2880]
        off += 2880
        for i in range(0, 2880, 80):
            key, val = block[i:i + 8].decode().strip(), block[i + 10:i + 80].decode()
            if key == "END":
                axes = [int(cards["NAXIS%d" % k]) for k in range(int(cards["NAXIS"]), 0, -1)]
                if int(cards["BITPIX"]) != -32:
                    sys.exit("%s: BITPIX %s, want -32" % (path, cards["BITPIX"]))
                n = int(np.prod(axes))
                return np.frombuffer(raw[off:off + 4 * n], ">f4").reshape(axes).astype(np.float32)
            if block[i + 8:i + 10] == b"= ":
                cards[key] = val.split("/")[0].strip()


def read_safetensors(path, key):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    head = json.loads(raw[8:8 + n])
    t = head[key]
    a, b = t["data_offsets"]
    return np.frombuffer(raw[8 + n + a:8 + n + b], "<f4").reshape(t["shape"])


def main():
    out, golden, key, tol = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    ref = read_safetensors(golden, key)
    got = read_fits(out).reshape(ref.shape)[..., ::-1, :]
    err = float(np.abs(got - ref).max())
    print("max abs err %.3g (tol %g)" % (err, tol))
    return 0 if err <= tol else 1


if __name__ == "__main__":
    sys.exit(main())
