"""astrodata.py - dataset helpers shared by the colorizer and super-resolution scripts.

What it does:
  - lists the committed object-level splits (data/splits/{train,val,test}.txt, lines
    "<source>\t<relative path>") and resolves them to files (stellarium images unpacked by
    scripts/make_data.py into data/cache/, decals256 and nasa under ../shared/data when present);
  - loads images as uint8 RGB (palette/alpha/grey PNGs converted; alpha composited over black);
  - packs a split into a compact cache (data/cache/<source>_<split>_<size>.npz: all images
    downscaled to longest side <= size, uint8, concatenated) so training never decodes PNGs;
  - samples random crops with flips and 90-degree rotations;
  - converts sRGB <-> CIE Lab (D65) in torch with the same formulas as src/color/lab.c:
    L in [0,100]; the networks see L/50-1 in [-1,1] and a*b*/110 in about [-1,1].

Used by scripts/train_colorizer.py, scripts/eval_colorizer.py, scripts/gen_golden.py and the SR
scripts. Needs numpy and PIL; torch only for the Lab functions.
"""
import os
import hashlib

import numpy as np
from PIL import Image

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.path.join(REPO, "data", "cache")
SPLITS = os.path.join(REPO, "data", "splits")
SHARED_DATA = os.path.normpath(os.path.join(REPO, "..", "shared", "data"))
STELLARIUM_DIR = os.path.join(CACHE, "stellarium", "usr", "share", "stellarium", "nebulae", "default")

SOURCE_DIRS = {
    "stellarium": STELLARIUM_DIR,
    "decals256": os.path.join(SHARED_DATA, "decals256"),
    "nasa": os.path.join(SHARED_DATA, "nasa"),
}
SPLIT_NAMES = ("train", "val", "test")

# scaling of the network inputs/outputs (mirrored in src/models/colorizer.c)
L_SCALE = 50.0     # L/50 - 1 -> [-1, 1]
AB_SCALE = 110.0   # a*b*/110 -> about [-1, 1]


def source_dir(source):
    if source not in SOURCE_DIRS:
        raise ValueError("unknown data source %r (known: %s)" % (source, ", ".join(SOURCE_DIRS)))
    return SOURCE_DIRS[source]


def source_available(source):
    return os.path.isdir(source_dir(source))


def split_bucket(group, fractions=(0.8, 0.1, 0.1)):
    """Deterministic split of an object/group name: sha256 -> [0,1) -> train/val/test."""
    h = int(hashlib.sha256(group.encode("utf-8")).hexdigest()[:8], 16) / 2.0 ** 32
    if h < fractions[0]:
        return "train"
    if h < fractions[0] + fractions[1]:
        return "val"
    return "test"


def list_split(split, sources=None):
    """[(source, relpath)] of a split from data/splits/<split>.txt, optionally only `sources`
    (a name or a list), and only those whose source folder exists here."""
    if split not in SPLIT_NAMES:
        raise ValueError("split must be one of %s, got %r" % (SPLIT_NAMES, split))
    if isinstance(sources, str):
        sources = [sources]
    path = os.path.join(SPLITS, split + ".txt")
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            src, rel = line.split("\t", 1)
            if sources is not None and src not in sources:
                continue
            if not source_available(src):
                continue
            out.append((src, rel))
    return out


def item_path(source, rel):
    return os.path.join(source_dir(source), rel)


def load_rgb(path):
    """uint8 HxWx3 RGB. Palette/grey are expanded; alpha is composited over black (the
    stellarium textures are alpha-blended onto a black sky)."""
    im = Image.open(path)
    im.load()
    if im.mode in ("RGBA", "LA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        bg = Image.new("RGBA", im.size, (0, 0, 0, 255))
        im = Image.alpha_composite(bg, im)
    if im.mode == "I;16" or im.mode == "I":
        a = np.asarray(im, dtype=np.float64)
        a = np.clip(a / max(a.max(), 1.0) * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.stack([a] * 3, axis=-1)
    return np.ascontiguousarray(np.asarray(im.convert("RGB"), dtype=np.uint8))


def downscale(img, max_side):
    """Area-downscale so the longest side is <= max_side (never upscales)."""
    h, w = img.shape[:2]
    s = max(h, w)
    if s <= max_side:
        return img
    nh, nw = max(1, round(h * max_side / s)), max(1, round(w * max_side / s))
    return np.asarray(Image.fromarray(img).resize((nw, nh), Image.BOX), dtype=np.uint8)


# ---------------------------------------------------------------- packed cache
def pack_path(source, split, size):
    return os.path.join(CACHE, "%s_%s_%d.npz" % (source, split, size))


def pack(source, split, size=256, force=False, verbose=True):
    """Writes data/cache/<source>_<split>_<size>.npz: pixels (flat uint8), shapes (N,3),
    offsets (N,), names (N,). Returns the path, or None if the split has no such images here."""
    path = pack_path(source, split, size)
    items = list_split(split, source)
    if not items:
        return None
    if os.path.exists(path) and not force:
        with np.load(path) as z:
            if [str(n) for n in z["names"]] == [rel for _, rel in items]:
                return path
        if verbose:
            print("%s does not match data/splits/%s.txt: re-packing" % (path, split))
    chunks, shapes, offsets, names = [], [], [], []
    off = 0
    for src, rel in items:
        img = downscale(load_rgb(item_path(src, rel)), size)
        chunks.append(img.reshape(-1))
        shapes.append(img.shape)
        offsets.append(off)
        names.append(rel)
        off += img.size
    os.makedirs(CACHE, exist_ok=True)
    tmp = path + ".tmp.npz"
    np.savez(tmp, pixels=np.concatenate(chunks), shapes=np.array(shapes, dtype=np.int64),
             offsets=np.array(offsets, dtype=np.int64), names=np.array(names))
    os.replace(tmp, path)
    if verbose:
        print("packed %d images (%.1f MB) -> %s" % (len(items), off / 1e6, path))
    return path


class Packed:
    """Images of one or more packed caches: len(), [i] -> uint8 HxWx3 view, .names, .sources."""

    def __init__(self, split, sources=("stellarium", "decals256", "nasa"), size=256):
        self.images, self.names, self.sources = [], [], []
        for src in sources:
            if not source_available(src):
                continue
            p = pack(src, split, size)
            if p is None:
                continue
            z = np.load(p)
            pix, shapes, offs = z["pixels"], z["shapes"], z["offsets"]
            for (h, w, c), o, n in zip(shapes, offs, z["names"]):
                self.images.append(pix[o:o + h * w * c].reshape(h, w, c))
                self.names.append(str(n))
                self.sources.append(src)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i]


def augment(crop, rng):
    """Random flip and 90-degree rotation (the 8 dihedral transforms) of HxWxC."""
    k = int(rng.integers(4))
    crop = np.rot90(crop, k, axes=(0, 1))
    if rng.integers(2):
        crop = crop[:, ::-1]
    return np.ascontiguousarray(crop)


def random_crop(img, size, rng, aug=True):
    """A random size x size crop (images smaller than size are upscaled first)."""
    h, w = img.shape[:2]
    if min(h, w) < size:
        s = size / min(h, w)
        img = np.asarray(Image.fromarray(img).resize((max(size, round(w * s)), max(size, round(h * s))),
                                                     Image.BICUBIC))
        h, w = img.shape[:2]
    y = int(rng.integers(h - size + 1))
    x = int(rng.integers(w - size + 1))
    c = img[y:y + size, x:x + size]
    return augment(c, rng) if aug else np.ascontiguousarray(c)


def random_batch(images, batch, size, rng, weights=None, aug=True):
    """B x size x size x 3 uint8 from random images (optionally weighted) of a Packed/list."""
    n = len(images)
    idx = rng.choice(n, size=batch, p=weights) if weights is not None else rng.integers(n, size=batch)
    return np.stack([random_crop(images[int(i)], size, rng, aug) for i in idx])


def center_crop(img, size):
    """Central crop (upscaling small images first), for fixed validation/test sets."""
    h, w = img.shape[:2]
    if min(h, w) < size:
        s = size / min(h, w)
        img = np.asarray(Image.fromarray(img).resize((max(size, round(w * s)), max(size, round(h * s))),
                                                     Image.BICUBIC))
        h, w = img.shape[:2]
    y, x = (h - size) // 2, (w - size) // 2
    return np.ascontiguousarray(img[y:y + size, x:x + size])


# ---------------------------------------------------------------- colour (torch)
# sRGB (D65) <-> XYZ matrices and the white point, identical to src/color/lab.c
M_RGB2XYZ = ((0.4124564, 0.3575761, 0.1804375),
             (0.2126729, 0.7151522, 0.0721750),
             (0.0193339, 0.1191920, 0.9503041))
M_XYZ2RGB = ((3.2404542, -1.5371385, -0.4985314),
             (-0.9692660, 1.8760108, 0.0415560),
             (0.0556434, -0.2040259, 1.0572252))
WHITE = (0.95047, 1.0, 1.08883)
_EPS = (6.0 / 29.0) ** 3
_K = 3.0 * (6.0 / 29.0) ** 2


def _mat(x, m):
    import torch
    mm = torch.tensor(m, dtype=x.dtype, device=x.device)
    return torch.einsum("ij,bjhw->bihw", mm, x)


def srgb_to_linear(c):
    import torch
    return torch.where(c <= 0.04045, c / 12.92, ((c.clamp(min=0.04045) + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(c):
    import torch
    return torch.where(c <= 0.0031308, 12.92 * c, 1.055 * c.clamp(min=0.0031308) ** (1.0 / 2.4) - 0.055)


def rgb_to_lab(rgb):
    """B x 3 x H x W sRGB in [0,1] -> B x 3 x H x W (L in [0,100], a*, b* unscaled)."""
    import torch
    xyz = _mat(srgb_to_linear(rgb.clamp(0, 1)), M_RGB2XYZ)
    w = torch.tensor(WHITE, dtype=rgb.dtype, device=rgb.device).view(1, 3, 1, 1)
    t = xyz / w
    f = torch.where(t > _EPS, t.clamp(min=_EPS) ** (1.0 / 3.0), t / _K + 4.0 / 29.0)
    L = 116.0 * f[:, 1:2] - 16.0
    a = 500.0 * (f[:, 0:1] - f[:, 1:2])
    b = 200.0 * (f[:, 1:2] - f[:, 2:3])
    return torch.cat([L, a, b], 1)


def lab_to_rgb(lab, clip=True):
    """Inverse of rgb_to_lab; sRGB clipped to [0,1] unless clip=False."""
    import torch
    fy = (lab[:, 0:1] + 16.0) / 116.0
    fx = fy + lab[:, 1:2] / 500.0
    fz = fy - lab[:, 2:3] / 200.0
    f = torch.cat([fx, fy, fz], 1)
    t = torch.where(f > 6.0 / 29.0, f ** 3, _K * (f - 4.0 / 29.0))
    w = torch.tensor(WHITE, dtype=lab.dtype, device=lab.device).view(1, 3, 1, 1)
    rgb = linear_to_srgb(_mat(t * w, M_XYZ2RGB).clamp(min=0) if clip else _mat(t * w, M_XYZ2RGB))
    return rgb.clamp(0, 1) if clip else rgb


def grey_to_L(g):
    """sRGB-encoded grey value(s) in [0,1] -> L* (the luminance a mono input is given)."""
    import torch
    y = srgb_to_linear(g.clamp(0, 1))
    f = torch.where(y > _EPS, y.clamp(min=_EPS) ** (1.0 / 3.0), y / _K + 4.0 / 29.0)
    return 116.0 * f - 16.0


def uint8_to_tensor(batch, device="cpu"):
    """B x H x W x 3 uint8 -> B x 3 x H x W float in [0,1]."""
    import torch
    t = torch.from_numpy(np.array(batch, dtype=np.uint8, copy=True)).to(device)
    return t.permute(0, 3, 1, 2).float() / 255.0


def lab_split(rgb):
    """sRGB [0,1] -> (L_in in [-1,1], ab/110)."""
    lab = rgb_to_lab(rgb)
    return lab[:, :1] / L_SCALE - 1.0, lab[:, 1:] / AB_SCALE


def lab_join(l_in, ab):
    """(L_in in [-1,1], ab/110) -> sRGB [0,1]."""
    import torch
    return lab_to_rgb(torch.cat([(l_in + 1.0) * L_SCALE, ab * AB_SCALE], 1))


def chroma_p95(img):
    """95th percentile of the a*b* chroma of a uint8 HxWx3 image (about 0 for a grey image,
    whatever its sky background), for filtering out colourless images."""
    import torch
    lab = rgb_to_lab(uint8_to_tensor(downscale(img, 128)[None]))
    return float(torch.sqrt(lab[:, 1] ** 2 + lab[:, 2] ** 2).flatten().quantile(0.95))


def lab_to_rgb_keep_l(lab, iters=16):
    """Lab -> sRGB keeping L* exact, as ae_lab_to_srgb_keep_l in src/color/lab.c: out-of-gamut
    chroma is scaled towards the grey of the same L* (bisection on the factor)."""
    import torch

    def linear(l, a, b):
        fy = (l + 16.0) / 116.0
        f = torch.cat([fy + a / 500.0, fy, fy - b / 200.0], 1)
        t = torch.where(f > 6.0 / 29.0, f ** 3, _K * (f - 4.0 / 29.0))
        w = torch.tensor(WHITE, dtype=lab.dtype, device=lab.device).view(1, 3, 1, 1)
        return _mat(t * w, M_XYZ2RGB)

    def ok(lin):
        return ((lin >= -1e-6) & (lin <= 1.0 + 1e-6)).all(1, keepdim=True)

    l, a, b = lab[:, 0:1], lab[:, 1:2], lab[:, 2:3]
    inside = ok(linear(l, a, b))
    lo, hi = torch.zeros_like(l), torch.ones_like(l)
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        good = ok(linear(l, a * mid, b * mid))
        lo, hi = torch.where(good, mid, lo), torch.where(good, hi, mid)
    t = torch.where(inside, torch.ones_like(l), lo)
    return lab_to_rgb(torch.cat([l, a * t, b * t], 1))
