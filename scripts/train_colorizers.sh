#!/bin/sh
# train_colorizers.sh - trains the three colorizer variants one after the other, niced, on one
# CPU thread (the shipped run: lab for $LAB_MIN minutes, then rgb and basic for $SMALL_MIN each).
# The L1 pretraining phase ends at --pretrain-steps or at PRETRAIN_FRAC of the time budget,
# whichever comes first; the cGAN phase follows.
# Usage: scripts/train_colorizers.sh [PYTHON]   (logs in runs/<variant>.log; RESUME=1 resumes)
set -e
cd "$(dirname "$0")/.."
PY=${1:-/usr/bin/python3}
LAB_MIN=${LAB_MIN:-75}
SMALL_MIN=${SMALL_MIN:-12}
PRETRAIN_FRAC=${PRETRAIN_FRAC:-0.6}
DEVICE=${DEVICE:-cpu}
CROP=${CROP:-64}
R=${RESUME:+--resume}
mkdir -p runs
nice -n 19 "$PY" scripts/train_colorizer.py --variant lab --steps 100000 --pretrain-steps 2000 \
    --pretrain-frac "$PRETRAIN_FRAC" --crop "$CROP" --batch 16 --val-every 50 --ckpt-every 50 --time-budget "$LAB_MIN" --device "$DEVICE" \
    $R >> runs/lab.log 2>&1
for v in rgb basic; do
    nice -n 19 "$PY" scripts/train_colorizer.py --variant $v --steps 100000 --pretrain-steps 2000 \
        --pretrain-frac "$PRETRAIN_FRAC" --crop "$CROP" --batch 16 --val-every 25 --ckpt-every 25 --time-budget "$SMALL_MIN" \
        --device "$DEVICE" $R >> runs/$v.log 2>&1
done
echo "all done" >> runs/lab.log
