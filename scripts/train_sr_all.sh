#!/bin/sh
# train_sr_all.sh - the CPU training run of the four SR models, one after the
# other, niced, resumable (rerun to continue): fast_x2, fast_x4 (10 min each),
# sr3_x2 (30 min), sr3_x4 (18 min); SR3X2_MIN/SR3X4_MIN/FAST_MIN override. Logs in runs/train_sr_all.log.
# SR3 diffuses the residual over bicubic (SRDiff; --target residual): on a
# CPU budget of ~10^3 steps the image-target SR3 stayed far below bicubic.
#   nohup nice -n 19 scripts/train_sr_all.sh [python] &
set -e
cd "$(dirname "$0")/.."
PY=${1:-/usr/bin/python3}
mkdir -p runs
T="$PY scripts/train_sr.py --device ${SR_DEVICE:-cpu} --threads ${SR_THREADS:-1}"
$T --model fast --scale 2 --minutes ${FAST_MIN:-10} --run runs/fast_x2 --seed 1
$T --model fast --scale 4 --minutes ${FAST_MIN:-10} --run runs/fast_x4 --seed 2
# SR3 on small patches: on a shared, loaded CPU a step must be cheap to get
# a useful number of them (--batch 8, 32 px HR patches at 2x, 48 px at 4x).
S="--target residual --lr 4e-4 --val-every 180"
$T --model sr3 --scale 2 --minutes ${SR3X2_MIN:-30} --run runs/sr3_x2 --seed 3 --batch ${SR3_BATCH:-8} --patch 32 $S
$T --model sr3 --scale 4 --minutes ${SR3X4_MIN:-18} --run runs/sr3_x4 --seed 4 --batch ${SR3_BATCH:-8} --patch 48 $S
echo "training done $(date -u)"
