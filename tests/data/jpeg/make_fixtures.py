#!/usr/bin/env python3
"""Writes the tiny JPEG fixtures of tests/test_jpeg.c (run once; outputs are committed).

16x16 images whose left half (x < 8) and right half are flat colours, so the
decoded values are known to within a couple of codes:
  gray.jpg   left 30, right 220
  rgb.jpg    left (200,100,50), right (20,180,240)   quality 100, 4:4:4
  prog.jpg   rgb.jpg's pixels as a progressive JPEG
  cmyk.jpg   a CMYK JPEG (must be refused as unsupported)
"""
import os
import numpy as np
from PIL import Image

out = os.path.dirname(os.path.abspath(__file__))


def halves(left, right, ch):
    a = np.zeros((16, 16, ch), np.uint8)
    a[:, :8] = left
    a[:, 8:] = right
    return a


def main():
    Image.fromarray(halves(30, 220, 1)[:, :, 0], "L").save(os.path.join(out, "gray.jpg"), quality=100)
    rgb = Image.fromarray(halves((200, 100, 50), (20, 180, 240), 3), "RGB")
    rgb.save(os.path.join(out, "rgb.jpg"), quality=100, subsampling=0)
    rgb.save(os.path.join(out, "prog.jpg"), quality=100, subsampling=0, progressive=True)
    Image.fromarray(halves((10, 20, 30, 40), (200, 10, 10, 10), 4), "CMYK").save(os.path.join(out, "cmyk.jpg"), quality=90)


if __name__ == "__main__":
    main()
