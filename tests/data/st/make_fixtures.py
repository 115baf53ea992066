#!/usr/bin/env python3
"""make_fixtures.py - writes the small .safetensors fixtures of tests/test_safetensors.c.

The format is written by hand (numpy + json) so that no `safetensors` module is
needed: u64 little-endian header length, JSON header, data buffer. The values
are formulas that tests/test_safetensors.c recomputes; rerun this script only
if you change both. Usage: python3 tests/data/st/make_fixtures.py
"""
import json
import os
import struct

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def write(path, tensors, metadata=None, pad_header=True):
    header, chunks, off = {}, [], 0
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [off, off + len(raw)]}
        chunks.append(raw)
        off += len(raw)
    if metadata:
        header["__metadata__"] = metadata
    js = json.dumps(header, separators=(",", ":")).encode()
    if pad_header:
        js += b" " * (-len(js) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(js)) + js + b"".join(chunks))


def small():
    conv_w = ((np.arange(108, dtype=np.float32) - 50) * 0.125).reshape(4, 3, 3, 3)
    bias16 = np.array([1.0, -2.5, 2.0 ** -10, 65504.0], dtype=np.float16)
    special = np.array([0x0000, 0x8000, 0x0001, 0x03FF, 0x7C00, 0xFC00, 0x7E00, 0x3C00], dtype=np.uint16)
    bf_vals = np.array([1.0, -0.5, 3.140625, -1024.0, 2.0 ** -130, 0.0], dtype=np.float32)
    bf16 = (bf_vals.view(np.uint32) >> 16).astype(np.uint16).reshape(2, 3)
    unaligned = np.array([0.5, 1.5, -2.25, 1e10, -0.0], dtype=np.float32)
    tensors = [
        ("conv.weight", "F32", conv_w.shape, conv_w.tobytes()),
        ("conv.bias", "F16", bias16.shape, bias16.tobytes()),
        ("half.special", "F16", special.shape, special.tobytes()),
        ("bf.weight", "BF16", bf16.shape, bf16.tobytes()),
        ("odd.u8", "U8", (3,), bytes([1, 2, 3])),
        ("unaligned.f32", "F32", unaligned.shape, unaligned.tobytes()),
        ("steps", "I64", (2,), np.array([1, 2], dtype=np.int64).tobytes()),
        ("empty", "F32", (0, 4), b""),
        ("scalar", "F32", (), np.array(7.0, dtype=np.float32).tobytes()),
    ]
    meta = {"arch": "unet-test", "base_ch": "32", "bad_int": "3x", "format": "pt"}
    write(os.path.join(HERE, "small.safetensors"), tensors, meta)


def odd_header():
    # header length not a multiple of 8 and not padded: the f32 data is unaligned in the mapping
    x = (np.arange(6, dtype=np.float32) * 0.5 - 1).reshape(2, 3)
    js_probe = [("x", "F32", x.shape, x.tobytes())]
    write(os.path.join(HERE, "odd_header.safetensors"), js_probe, {"k": "v"}, pad_header=False)


if __name__ == "__main__":
    small()
    odd_header()
