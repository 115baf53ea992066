#!/usr/bin/env python3
"""Writes the tiny PNG fixtures of tests/test_png.c (run once; outputs are committed).

Every fixture is 5x3 and its samples follow the formulas in tests/test_png.c:
  8-bit  v(x,y,c)  = (37*x + 71*y + 50*c + 5) % 256
  16-bit v(x,y,c)  = (4099*x + 13001*y + 20000*c + 7) % 65536
  palette index    = (x + 2*y) % 4 into PALETTE below (with a tRNS chunk)
  1-bit gray       = (x + y) % 2
rgb16 and interlaced (Adam7, gray8's pixels) are written by hand (PIL writes
neither); the rest by PIL.
"""
import os, struct, sys, zlib
import numpy as np
from PIL import Image

W, H = 5, 3
PALETTE = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (10, 20, 30)]
out = os.path.dirname(os.path.abspath(__file__))


def v8(c):
    y, x = np.mgrid[0:H, 0:W]
    return ((37 * x + 71 * y + 50 * c + 5) % 256).astype(np.uint8)


def v16(c):
    y, x = np.mgrid[0:H, 0:W]
    return ((4099 * x + 13001 * y + 20000 * c + 7) % 65536).astype(np.uint16)


def chunk(tag, data):
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def write_rgb16(path):
    px = np.stack([v16(c) for c in range(3)], axis=-1).astype(">u2")
    raw = b"".join(b"\0" + px[y].tobytes() for y in range(H))
    ihdr = struct.pack(">IIBBBBB", W, H, 16, 2, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def write_interlaced_gray8(path):
    px = v8(0)
    raw = b""
    for x0, y0, dx, dy in ADAM7:
        sub = px[y0::dy, x0::dx]
        if sub.size:
            raw += b"".join(b"\0" + sub[y].tobytes() for y in range(sub.shape[0]))
    ihdr = struct.pack(">IIBBBBB", W, H, 8, 0, 0, 0, 1)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def main():
    Image.fromarray(v8(0), "L").save(os.path.join(out, "gray8.png"))
    Image.fromarray(v16(0).astype(np.uint16), "I;16").save(os.path.join(out, "gray16.png"))
    Image.fromarray(np.stack([v8(0), v8(1)], -1), "LA").save(os.path.join(out, "graya.png"))
    Image.fromarray(np.stack([v8(c) for c in range(3)], -1), "RGB").save(os.path.join(out, "rgb8.png"))
    Image.fromarray(np.stack([v8(c) for c in range(4)], -1), "RGBA").save(os.path.join(out, "rgba.png"))
    write_rgb16(os.path.join(out, "rgb16.png"))
    write_interlaced_gray8(os.path.join(out, "interlaced.png"))
    y, x = np.mgrid[0:H, 0:W]
    p = Image.fromarray(((x + 2 * y) % 4).astype(np.uint8), "P")
    p.putpalette([v for rgb in PALETTE for v in rgb])
    p.save(os.path.join(out, "palette.png"), transparency=bytes([255, 0, 128, 255]))
    Image.fromarray(((x + y) % 2).astype(bool)).save(os.path.join(out, "gray1.png"))
    for n in sorted(os.listdir(out)):
        if n.endswith(".png"):
            im = Image.open(os.path.join(out, n))
            print(n, im.mode, im.size, os.path.getsize(os.path.join(out, n)), file=sys.stderr)


if __name__ == "__main__":
    main()
