#!/usr/bin/env bash
# test_upscale.sh - `astroenh upscale` end to end on a real FITS frame (the
# DSS Horsehead crop in tests/data/fits, int16 with a CD-matrix WCS): output
# size, WCS rescaled (CRPIX, CD), provenance HISTORY with the model's
# SHA-256, flux consistency in --json, 4x, SR3 with --samples (UNCERT
# extension / side file) and --seed reproducibility, bad options.
# The shipped models/fast_x{2,4}.safetensors are used; SR3 runs use the tiny
# golden model (tests/golden/sr_tiny_sr3.safetensors) to stay fast.
source "$(dirname "$0")/lib.sh"

HH="$FIXTURES/fits/horsehead_crop.fits"   # 240 x 220, CRPIX1 146, CD1_1 -0.0002802651
SMALL="$FIXTURES/fits/sr_horsehead_40x32.fits"  # a 40 x 32 cut of it (SR3 runs)
PNG="$FIXTURES/cli_asym.png"              # 12 x 8 RGB
TINY="$ROOT/tests/golden/sr_tiny_sr3.safetensors"
cd "$ROOT"

# card KEY FILE: the value of the first header card KEY of a FITS file
card() { grep -ao "$1 *= *[^/]*" "$2" | head -1 | sed 's/^[^=]*= *//; s/ *$//'; }
near() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= t) }'; }

if ! stage_available upscale; then
    echo "FAIL - the upscale stage is not in this build"
    echo "0 passed, 1 failed"
    exit 1
fi

ae upscale --json "$HH" -o "$T/hh2.fits"
check_rc "fast 2x on the DSS crop" 0
check_out "--json reports flux consistency on for FITS" '"flux_consistency": true'
err=$(sed -n 's/.*"flux_max_block_err": \([^,}]*\).*/\1/p' "$T/out")
check "flux_max_block_err is float rounding of ~1e4 counts (got $err)" near "${err:-1}" 0 0.005
ae info "$T/hh2.fits"
check_out "output is 480 x 440 with a WCS" "480 x 440, 1 channel"
check_out "output keeps a WCS" "WCS yes"
check "CRPIX1 146 -> 291.5" near "$(card CRPIX1 "$T/hh2.fits")" 291.5 1e-9
check "CD1_1 halved" near "$(card CD1_1 "$T/hh2.fits")" -0.00014013255 1e-12
check "CD2_2 halved" near "$(card CD2_2 "$T/hh2.fits")" "$(awk -v v="$(card CD2_2 "$HH")" 'BEGIN{printf "%.15g", v/2}')" 1e-12
check "HISTORY names the stage and parameters" grep -aq "HISTORY astroenh [0-9.]* upscale scale=2 model=fast flux=on" "$T/hh2.fits"
check "HISTORY has the model's SHA-256" grep -aq "HISTORY sha256=$(sha256sum models/fast_x2.safetensors | cut -c1-20)" "$T/hh2.fits"
# linear data stays inside the input's range (each pixel inside its 3x3 input neighbourhood's,
# test_flux.c; the previous stretch and unbounded correction gave 3986..22967 here)
ae info "$T/hh2.fits"
range=$(sed -n 's/.* min \([-0-9.e+]*\) median .* max \([-0-9.e+]*\)$/\1 \2/p' "$T/out")
check "output range $range inside the input's 4035..22849" awk -v r="$range" 'BEGIN{split(r,a," "); exit !(a[1] != "" && a[1] >= 4035 && a[2] <= 22849)}'
check "FLUXCONS says pixel values keep surface brightness" grep -aq "FLUXCONS= 'SURFBRI '" "$T/hh2.fits"
check "UPSCALE records the factor" near "$(card UPSCALE "$T/hh2.fits")" 2 0

ae upscale --json --no-flux-consistency "$HH" -o "$T/hh2n.fits"
check_rc "--no-flux-consistency" 0
check_out "--json says flux consistency off" '"flux_consistency": false'

ae upscale --scale 4 "$HH" -o "$T/hh4.fits"
check_rc "fast 4x" 0
ae info "$T/hh4.fits"
check_out "4x output is 960 x 880" "960 x 880, 1 channel"
check "4x CRPIX1 146 -> 582.5" near "$(card CRPIX1 "$T/hh4.fits")" 582.5 1e-9

ae upscale --model sr3 --weights "$TINY" --steps 2 --samples 2 --seed 7 --json "$SMALL" -o "$T/s1.fits"
check_rc "sr3 --samples 2 on FITS" 0
check_out "--json reports the sampler settings" '"steps": 2, "sampler": "ddpm", "samples": 2, "seed": 7'
check "the UNCERT HDU is an 80 x 64 float image" grep -aq "XTENSION= 'IMAGE   '.*BITPIX  = *-32.*NAXIS1  = *80 .*NAXIS2  = *64 " "$T/s1.fits"
check "the UNCERT HDU records the number of samples" grep -aq "NSAMPLES= *2 " "$T/s1.fits"
check "the extension is EXTNAME UNCERT" grep -aq "EXTNAME = 'UNCERT *'" "$T/s1.fits"
ae upscale --model sr3 --weights "$TINY" --steps 2 --samples 2 --seed 7 "$SMALL" -o "$T/s2.fits"
ae upscale --model sr3 --weights "$TINY" --steps 2 --samples 2 --seed 8 "$SMALL" -o "$T/s3.fits"
strip_hist() { grep -av "HISTORY\|DATE" "$1" | md5sum; }
check "same --seed gives the same data" cmp -s <(strip_hist "$T/s1.fits") <(strip_hist "$T/s2.fits")
check "another --seed gives other data" bash -c "! cmp -s <(grep -av HISTORY '$T/s1.fits') <(grep -av HISTORY '$T/s3.fits')"

ae upscale --model sr3 --sampler ddim --weights "$TINY" --steps 2 --samples 2 "$PNG" -o "$T/p.png"
check_rc "sr3 ddim on a PNG" 0
ae info "$T/p.png"
check_out "PNG output is 24 x 16 RGB" "24 x 16, 3 channels"
check "PNG uncertainty goes to a side file" test -s "$T/p_uncert.fits"

ae upscale --scale 3 "$HH" -o "$T/bad.fits"
check_rc "--scale 3 is a usage error" 2
check_err "--scale 3 message" "--scale"
ae upscale --weights "$T/none.safetensors" "$HH" -o "$T/bad.fits"
check_no_crash "missing model file fails cleanly"
check_err "missing model file is named" "none.safetensors"
ae upscale --samples 3 "$HH" -o "$T/bad.fits"
check_rc "--samples with the fast net is a usage error" 2
check "no output left by failed runs" test ! -e "$T/bad.fits"
# ---- --quiet: only error lines on stderr (cron mails anything else), also
# no "--device auto: running on the CPU" notice where a CUDA build finds no GPU
ae upscale --quiet --scale 2 "$SAMPLES/m51_B_gray.png" -o "$T/quiet.png"
check_rc "--quiet upscale -> 0" 0
check "--quiet: nothing on stderr" test ! -s "$T/err"

finish
