#!/usr/bin/env bash
# train_rdn_all.sh - the RDN runs of issue 16, in the order they are meant to run
# (each is resumable: rerunning a line continues it until its --time-budget of
# counted training minutes is used up; logs in runs/rdn_*.log, checkpoints and
# log.csv in runs/rdn_*/).
#
#   scripts/train_rdn_all.sh fetch        # npm pack + convert (runs/npm, runs/rdn)
#   scripts/train_rdn_all.sh x2|x4        # fine-tune from the pretrained medium weights
#   scripts/train_rdn_all.sh x2-random|x4-random   # same architecture and budget from random weights
#   scripts/train_rdn_all.sh export       # EMA (best by val) of each finished run -> runs/rdn/*.safetensors
#
# Everything runs niced in the background with one thread (the machine is shared).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
BUDGET=${BUDGET:-150}
bg() { local log=$1; shift; nohup nice -n 10 "$@" >> "$log" 2>&1 & echo "started pid $! -> $log"; }

case "${1:-}" in
fetch)
    mkdir -p runs/npm runs/rdn
    (cd runs/npm && npm pack @upscalerjs/esrgan-slim@1.0.0 @upscalerjs/esrgan-medium@1.0.0 >/dev/null)
    for p in slim medium; do for s in 2 4; do
        $PY scripts/convert_upscalerjs.py runs/npm/upscalerjs-esrgan-$p-1.0.0.tgz --scale $s --planes rgb \
            runs/rdn/${p}_x${s}_rgb.safetensors
    done; done ;;
x2|x4)
    s=${1#x}
    bg runs/rdn_x$s.log $PY scripts/train_rdn.py --scale $s --init runs/rdn/medium_x${s}_rgb.safetensors \
        --run runs/rdn_x$s --threads 1 --time-budget "$BUDGET" ;;
x2-random|x4-random)
    s=${1:1:1}
    bg runs/rdn_x${s}_random.log $PY scripts/train_rdn.py --scale $s --init random \
        --arch-of runs/rdn/medium_x${s}_rgb.safetensors --run runs/rdn_x${s}_random --threads 1 --time-budget "$BUDGET" ;;
export)
    for r in rdn_x2 rdn_x4 rdn_x2_random rdn_x4_random; do
        [[ -f runs/$r/best.pt ]] && $PY scripts/train_rdn.py --run runs/$r --export runs/rdn/$r.safetensors --best
    done ;;
*)
    sed -n '2,14p' "$0"; exit 2 ;;
esac
