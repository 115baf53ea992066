#!/usr/bin/env bash
# test_upscale_rdn.sh - `astroenh upscale --model fast --weights F` where F is an
# RDN (metadata arch=rdn; scripts/convert_upscalerjs.py, scripts/train_rdn.py):
# the stage picks the RDN forward, works plane by plane on FITS and RGB PNG,
# names the model in HISTORY, and refuses the RGB (3-in/3-out) form and a
# scale mismatch with a message naming the file. Uses the tiny golden RDNs of
# scripts/rdn_golden.py so that it stays fast.
source "$(dirname "$0")/lib.sh"

SMALL="$FIXTURES/fits/sr_horsehead_40x32.fits"
PNG="$FIXTURES/cli_asym.png"              # 12 x 8 RGB
RDN2="$ROOT/tests/golden/rdn_tiny_x2.safetensors"   # 1 plane, x2
RDN4="$ROOT/tests/golden/rdn_tiny_x4.safetensors"   # RGB in/out, x4
cd "$ROOT"

ae upscale --json --weights "$RDN2" "$SMALL" -o "$T/r2.fits"
check_rc "RDN 2x on a FITS frame" 0
ae info "$T/r2.fits"
check_out "output is 80 x 64" "80 x 64, 1 channel"
check "HISTORY has the RDN file's SHA-256" grep -aq "HISTORY sha256=$(sha256sum "$RDN2" | cut -c1-20)" "$T/r2.fits"

ae upscale --weights "$RDN2" "$PNG" -o "$T/r2.png"
check_rc "RDN 2x on an RGB PNG (plane by plane)" 0
ae info "$T/r2.png"
check_out "PNG output is 24 x 16 RGB" "24 x 16, 3 channels"

ae upscale --scale 4 --weights "$RDN4" "$PNG" -o "$T/bad.png"
check_rc "the RGB form of an RDN is refused" 1
check_err "the message names the file" "rdn_tiny_x4.safetensors"
check_err "the message says what is needed" "--planes mean"
# a 2x RDN asked for 4x runs twice: the same as two 2x runs (16-bit PNG in
# between, so equal up to that rounding through the net)
ae convert --bit-depth 16 "$PNG" -o "$T/in16.png"
ae upscale --scale 4 --weights "$RDN2" "$T/in16.png" -o "$T/r4.png"
check_rc "a 2x RDN asked for 4x runs twice" 0
ae info "$T/r4.png"
check_out "4x output is 48 x 32 RGB" "48 x 32, 3 channels"
ae upscale --weights "$RDN2" "$T/in16.png" -o "$T/r2_16.png"
ae upscale --weights "$RDN2" "$T/r2_16.png" -o "$T/r22.png"
ae eval --metrics "$T/r4.png" "$T/r22.png"
check "... equal to 2x run twice (PSNR > 70 dB)" awk -v j="$(cat "$T/out")" 'BEGIN {
    if (match(j, /"psnr": *[0-9.]+/) && substr(j, RSTART + 8) + 0 > 70) exit 0; exit 1 }'
ae upscale --scale 4 --weights "$RDN2" "$SMALL" -o "$T/r4.fits"
check_rc "... on a FITS frame too" 0
check "HISTORY says the 2x net ran twice" grep -aq "2x net twice" "$T/r4.fits"
ae upscale --scale 4 --weights "$ROOT/tests/golden/sr_tiny_fast.safetensors" "$PNG" -o "$T/e4.png"
check_rc "a 2x EDSR-like net asked for 4x runs twice too" 0
ae upscale --scale 2 --weights "$ROOT/models/fast_x4_v1.safetensors" "$PNG" -o "$T/bad.png"
check_no_crash "a 4x network asked for 2x fails cleanly"
check_err "scale mismatch is reported" "scale 4, not 2"
check "no output left by failed runs" test ! -e "$T/bad.png"

finish
