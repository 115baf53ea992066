#!/usr/bin/env bash
# demo.sh BIN - run astroenh on the bundled samples (data/samples/) into out/:
# info on each file, FITS -> PNG with the automatic stretch, then every stage
# the binary reports as built (`BIN --list-stages`), and the full chain when
# all three are there. Prints each command before running it.
set -uo pipefail
BIN=${1:?usage: scripts/demo.sh BIN}
case "$BIN" in /*) ;; *) BIN="$PWD/$BIN" ;; esac
cd "$(dirname "$0")/.."
SAMPLES=data/samples
OUT=out
mkdir -p "$OUT"
failed=0

step() {
    echo
    echo "\$ astroenh ${*:2}"
    "$BIN" "${@:2}" || { echo "demo: '$1' failed (exit $?)"; failed=$((failed + 1)); }
}

echo "astroenh demo: $("$BIN" --version)"
step info info "$SAMPLES"
step convert convert --format png "$SAMPLES"/*.fits -o "$OUT/convert"

stages=$("$BIN" --list-stages)
for st in denoise colorize upscale; do
    if grep -qx "$st" <<<"$stages"; then
        step "$st" "$st" "$SAMPLES" -o "$OUT/$st"
    else
        echo
        echo "(astroenh $st: not available in this build)"
    fi
done
if [[ $(grep -cxE 'denoise|colorize|upscale' <<<"$stages") -eq 3 ]]; then
    step run run --stages denoise,colorize,upscale "$SAMPLES/m51_B_gray.png" -o "$OUT/run/m51_B_gray.png"
fi

echo
echo "demo: outputs are in $OUT/:"
find "$OUT" -type f ! -name '.*' | sort | sed 's/^/  /'
if ((failed)); then
    echo "demo: $failed step(s) failed"
    exit 1
fi
