#!/usr/bin/env python3
"""plot_curves.py - training curves of the colorizer runs (runs/<variant>/log.csv).

Writes eval/train_colorizer.csv (all variants' rows with a "variant" column, the committed copy of
the logs) and eval/train_colorizer.png: training L1 (a*b*/110 or sRGB*2-1 units), the cGAN losses,
and the validation L1 in a*b* (Lab units) and PSNR (sRGB) against step, per variant, with the step
where the cGAN phase began marked.
  python3 scripts/plot_curves.py [--runs runs] [--variants lab,rgb,basic]
"""
import argparse
import csv
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read(path):
    return list(csv.DictReader(open(path))) if os.path.exists(path) else []


def num(rows, key):
    xs, ys = [], []
    for r in rows:
        if r.get(key):
            xs.append(int(r["step"]))
            ys.append(float(r[key]))
    return xs, ys


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", default=os.path.join(REPO, "runs"))
    ap.add_argument("--variants", default="lab,rgb,basic")
    ap.add_argument("--out", default=os.path.join(REPO, "eval", "train_colorizer"))
    a = ap.parse_args()
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    logs = {v: read(os.path.join(a.runs, v, "log.csv")) for v in a.variants.split(",")}
    logs = {v: r for v, r in logs.items() if r}
    if not logs:
        print("plot_curves: no logs under %s" % a.runs, file=sys.stderr)
        return 1
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    fields = ["variant"] + list(next(iter(logs.values()))[0].keys())
    with open(a.out + ".csv", "w", newline="") as f:
        w = csv.DictWriter(f, fields)
        w.writeheader()
        for v, rows in logs.items():
            for r in rows:
                w.writerow(dict(r, variant=v))
    fig, ax = plt.subplots(2, 2, figsize=(11, 7))
    panels = [("loss_l1", "train L1 (network units)"), ("loss_d", "cGAN: D loss (solid), G adv (dashed)"),
              ("val_l1_ab", "val L1 in a*b* (Lab units)"), ("val_psnr", "val PSNR sRGB (dB)")]
    for (key, title), axis in zip(panels, ax.flat):
        for v, rows in logs.items():
            x, y = num(rows, key)
            line, = axis.plot(x, y, label=v)
            if key == "loss_d":
                x2, y2 = num(rows, "loss_g_adv")
                axis.plot(x2, y2, "--", color=line.get_color())
            gan = [int(r["step"]) for r in rows if r["phase"] == "gan"]
            if gan and key != "loss_d":
                axis.axvline(gan[0], color=line.get_color(), lw=0.6, ls=":")
        axis.set_title(title, fontsize=10)
        axis.set_xlabel("step")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    fig.suptitle("colorizer training (CPU, 1 thread; dotted: first logged cGAN step)", fontsize=11)
    fig.tight_layout()
    fig.savefig(a.out + ".png", dpi=90)
    print("wrote %s.csv and %s.png" % (a.out, a.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
