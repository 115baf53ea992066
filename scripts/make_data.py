#!/usr/bin/env python3
"""make_data.py - fetches/unpacks the training images, writes the object-level splits, packs caches.

Steps (each skipped when its output exists; --force redoes them):
  1. `apt-get download stellarium-data` into data/cache/ and `dpkg -x` it (no root install);
     its nebulae/default/*.png (~555 colour textures of nebulae, clusters, galaxies) are one source.
  2. ../shared/data/decals256 (galaxy cutouts) and ../shared/data/nasa (NASA library images) are
     added when present; everything still works without them.
  3. Images are grouped by object (stellarium: the file name with credit suffixes and tile numbers
     removed; decals: one galaxy per file; nasa: a normalised title prefix / id block) and each group
     goes to train/val/test (80/10/10) by sha256 of "<source>:<group>" - so images of one object
     never straddle splits. Near-colourless images (95th percentile of Lab chroma < --min-chroma, e.g. DSS plates)
     teach nothing about colour: they are listed in data/splits/excluded.txt with the reason.
     When --write-splits is given (or no splits exist) data/splits/{train,val,test}.txt are written
     ("<source>\\t<relative path>", sorted); otherwise the committed splits are kept as they are.
  4. Packs data/cache/<source>_<split>_256.npz for the training scripts (scripts/astrodata.py).
"""
import argparse
import glob
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import astrodata as ad  # noqa: E402

CREDIT_SUFFIX = re.compile(r"(-(vasey|dss|sdss2?|trev|2mass|darkskies)|dumont|oleg|spano)$")


def fetch_stellarium(force=False):
    if os.path.isdir(ad.STELLARIUM_DIR) and not force:
        return True
    os.makedirs(ad.CACHE, exist_ok=True)
    debs = glob.glob(os.path.join(ad.CACHE, "stellarium-data_*.deb"))
    if not debs or force:
        r = subprocess.run(["apt-get", "download", "stellarium-data"], cwd=ad.CACHE)
        debs = glob.glob(os.path.join(ad.CACHE, "stellarium-data_*.deb"))
        if r.returncode != 0 or not debs:
            print("make_data: apt-get download stellarium-data failed; no stellarium source",
                  file=sys.stderr)
            return False
    subprocess.run(["dpkg", "-x", sorted(debs)[-1], os.path.join(ad.CACHE, "stellarium")], check=True)
    return os.path.isdir(ad.STELLARIUM_DIR)


def group_stellarium(name):
    """'m51-vasey.png' -> 'm51', 'lmc_07.png' -> 'lmc', 'sh2-1-2.png' -> 'sh2-1', 'rho-a10' -> 'rho'."""
    s = os.path.splitext(name)[0].lower()
    s = CREDIT_SUFFIX.sub("", s)
    m = re.match(r"^(sh2-\d+)", s)
    if m:
        return m.group(1)
    if s.startswith("rho-"):
        return "rho"
    s = re.sub(r"^((?:ic|n|u|p)\d+)h$", r"\1", s)       # ic883h, n3690h: same object
    s = re.sub(r"[-_]\d{1,2}$", "", s)                   # tiles: barnard_loop-1, lmc_01, smc29-3
    return s


def group_nasa(name):
    """A normalised title prefix: size suffix dropped, numbered parts joined, catalogue ids
    bucketed in blocks of 10 (neighbouring releases are often one object)."""
    s = os.path.splitext(name)[0]
    s = re.sub(r"_(medium|small|thumb|large|orig)$", "", s)
    s = re.sub(r"_\d{8,}_o$", "", s)                     # flickr ids
    s = s.lower()
    m = re.match(r"^pia(\d+)$", s)
    if m:
        return "pia%s" % m.group(1)[:-1]
    m = re.match(r"^gsfc_\d+_archive_e(\d+)$", s)
    if m:
        return "gsfc_e%s" % m.group(1)[:-1]
    if re.match(r"^\d{7}$", s):
        return "stsci%s" % s[:5]
    s = re.sub(r"[-_]\d{1,2}$", "", s)                   # ARC-...-0565-1 / -2 / -3
    s = re.sub(r"\d+[a-z]?$", "", s) if s.startswith("potw") or s.startswith("bedin") else s
    return re.sub(r"[^a-z0-9]+", "_", s).strip("_")


def list_source(source):
    d = ad.source_dir(source)
    if not os.path.isdir(d):
        return []
    exts = (".png", ".jpg", ".jpeg")
    return sorted(f for f in os.listdir(d) if f.lower().endswith(exts))


def group_of(source, name):
    if source == "stellarium":
        return group_stellarium(name)
    if source == "nasa":
        return group_nasa(name)
    return os.path.splitext(name)[0]


def build_splits(min_chroma):
    splits = {k: [] for k in ad.SPLIT_NAMES}
    excluded = []
    for src in ("stellarium", "decals256", "nasa"):
        files = list_source(src)
        if not files:
            print("make_data: source %s not present, skipped" % src)
            continue
        for f in files:
            try:
                img = ad.load_rgb(ad.item_path(src, f))
            except Exception as e:  # unreadable file: listed, not fatal
                excluded.append((src, f, "unreadable: %s" % e))
                continue
            if min(img.shape[:2]) < 64:
                excluded.append((src, f, "smaller than 64 px"))
                continue
            c = ad.chroma_p95(img)
            if c < min_chroma:
                excluded.append((src, f, "chroma p95 %.2f < %.1f (near-grey)" % (c, min_chroma)))
                continue
            splits[ad.split_bucket("%s:%s" % (src, group_of(src, f)))].append((src, f))
        print("make_data: %s: %d files" % (src, len(files)))
    return splits, excluded


def write_splits(splits, excluded):
    os.makedirs(ad.SPLITS, exist_ok=True)
    for k, items in splits.items():
        with open(os.path.join(ad.SPLITS, k + ".txt"), "w", encoding="utf-8") as f:
            for src, rel in sorted(items):
                f.write("%s\t%s\n" % (src, rel))
        print("make_data: %-5s %d images" % (k, len(items)))
    with open(os.path.join(ad.SPLITS, "excluded.txt"), "w", encoding="utf-8") as f:
        f.write("# source\tfile\treason (written by scripts/make_data.py)\n")
        for src, rel, why in sorted(excluded):
            f.write("%s\t%s\t%s\n" % (src, rel, why))
    print("make_data: excluded %d images (data/splits/excluded.txt)" % len(excluded))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--write-splits", action="store_true", help="rewrite data/splits/*.txt")
    ap.add_argument("--force", action="store_true", help="re-download and re-pack")
    ap.add_argument("--min-chroma", type=float, default=2.0)
    ap.add_argument("--size", type=int, default=256, help="longest side of the packed caches")
    a = ap.parse_args()
    fetch_stellarium(a.force)
    have = os.path.exists(os.path.join(ad.SPLITS, "train.txt"))
    if a.write_splits or not have:
        splits, excluded = build_splits(a.min_chroma)
        write_splits(splits, excluded)
    for src in ("stellarium", "decals256", "nasa"):
        if not ad.source_available(src):
            continue
        for k in ad.SPLIT_NAMES:
            ad.pack(src, k, a.size, force=a.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
