#!/usr/bin/env bash
# test_basics.sh - --version/--help, info on real FITS and PNG, usage errors,
# stages and commands that are not in the build.
source "$(dirname "$0")/lib.sh"

ae --version
check_rc "--version exits 0" 0
check_out "--version names the version" "astroenh 0."
check "--version names the build" grep -qE '\(build: cpu(, cuda)?\)' "$T/out"

ae --help
check_rc "--help exits 0" 0
check_out "--help lists convert" "convert"
check_out "--help explains exit codes" "2 usage error"

for cmd in info convert run; do
    ae "$cmd" --help
    check_rc "$cmd --help exits 0" 0
    check_out "$cmd --help prints usage" "usage: astroenh $cmd"
done

ae
check_rc "no command -> usage error 2" 2

# ---- info
ae info "$SAMPLES/horsehead_dss_crop.fits"
check_rc "info on a FITS file" 0
check_out "info: FITS format and size" "FITS, 160 x 160, 1 channel, bit depth 16"
check_out "info: WCS found" "WCS yes"
check "info: min/median/max printed" grep -qE 'min -?[0-9.e+-]+ median -?[0-9.e+-]+ max -?[0-9.e+-]+' "$T/out"

ae info "$SAMPLES/decals_J000411.19+020924.0.png" "$SAMPLES/m51_B_gray.png"
check_rc "info on two PNG files" 0
check_out "info: colour PNG" "PNG, 256 x 256, 3 channels, bit depth 8, WCS no"
check_out "info: gray PNG" "PNG, 256 x 256, 1 channel, bit depth 8"

ae info --json "$SAMPLES/decals_grz_crop.fits" "$SAMPLES/m51_B_gray.png"
check_rc "info --json" 0
check "info --json: one line per file" test "$(wc -l <"$T/out")" -eq 2
check_out "info --json: cube shape" '"width": 128, "height": 128, "channels": 3, "bit_depth": -32'
check_out "info --json: wcs" '"wcs": true'
check "info --json: median member" grep -q '"median": ' "$T/out"

ae info "$SAMPLES"
check_rc "info on a directory" 0
check "info on a directory: one line per sample" test "$(wc -l <"$T/out")" -eq "$(ls "$SAMPLES" | grep -cE '\.(fits|png)$')"

ae info "$T/does-not-exist.fits" "$SAMPLES/m51_B_gray.png"
check_rc "info with a missing file -> 1" 1
check_err "info: missing file named" "does-not-exist.fits"
check_out "info: the other file still shown" "m51_B_gray.png"

# ---- usage errors
ae convert --no-such-option "$SAMPLES/m51_B_gray.png" -o "$T/x.png"
check_rc "unknown option -> 2" 2
check_err "unknown option named" "--no-such-option"
ae convert "$SAMPLES/m51_B_gray.png" "$SAMPLES/decals_J000411.19+020924.0.png" "$T/a.png"
check_rc "several inputs without -o -> 2" 2
check_err "missing -o explained" "missing -o"
ae convert --jobs 0 "$SAMPLES/m51_B_gray.png" -o "$T/x.png"
check_rc "--jobs 0 -> 2" 2
ae convert --jobs abc "$SAMPLES/m51_B_gray.png" -o "$T/x.png"
check_rc "--jobs abc -> 2" 2
ae convert --device tpu "$SAMPLES/m51_B_gray.png" -o "$T/x.png"
check_rc "--device tpu -> 2" 2
ae convert --bit-depth 12 "$SAMPLES/m51_B_gray.png" -o "$T/x.png"
check_rc "--bit-depth 12 -> 2" 2
ae convert --quality 101 "$SAMPLES/m51_B_gray.png" -o "$T/x.jpg"
check_rc "--quality 101 -> 2" 2
ae convert --stretch banana "$SAMPLES/m51_B_gray.png" -o "$T/x.png"
check_rc "--stretch banana -> 2" 2
ae convert "$SAMPLES/m51_B_gray.png" -o "$T/x.tiff"
check_rc "unknown output extension -> 2" 2
ae convert "$SAMPLES/m51_B_gray.png" -o
check_rc "-o without a value -> 2" 2
ae frobnicate x
check_rc "unknown command -> 2" 2
ae info
check_rc "info without files -> 2" 2
check "usage errors wrote nothing" test -z "$(ls "$T" | grep -v '^out$\|^err$\|^bin$')"

# ---- stages and commands missing from the build
for st in denoise colorize upscale; do
    if stage_available "$st"; then
        ae "$st" --help
        check_rc "$st is built: --help exits 0" 0
    else
        ae "$st" "$SAMPLES/m51_B_gray.png" -o "$T/$st.png"
        check_rc "$st not built -> 2" 2
        check_err "$st not built: message" "astroenh: $st: not available in this build"
        check "$st not built: no output" test ! -e "$T/$st.png"
        ae run --stages "$st" "$SAMPLES/m51_B_gray.png" -o "$T/run-$st.png"
        check_rc "run --stages $st not built -> 2" 2
        check_err "run: message names $st" "astroenh: $st: not available in this build"
    fi
done
ae run --stages denoise,nosuchstage "$SAMPLES/m51_B_gray.png" -o "$T/y.png"
check_rc "run with an unknown stage -> 2" 2
for cmd in eval bench; do
    if "$ASTROENH" --help | grep -qE "^  $cmd +\(not available"; then
        ae "$cmd"
        check_rc "$cmd not built -> 2" 2
        check_err "$cmd not built: message" "astroenh: $cmd: not available in this build"
    fi
done

# ---- a built stage through the runner: --json members, provenance, run chains
if stage_available denoise; then
    ae denoise --json "$SAMPLES/horsehead_dss_crop.fits" -o "$T/dn.fits"
    check_rc "denoise a FITS file -> 0" 0
    check_out "denoise --json: status ok" '"status": "ok"'
    check "denoise --json: the stage's members follow" grep -q '"seconds": [0-9.]*, "' "$T/out"
    check "denoise: provenance HISTORY in the FITS" grep -aq "HISTORY astroenh 0\.[0-9.]* denoise" "$T/dn.fits"
    check "denoise: source header kept" grep -aq "HISTORY astroenh sample: 160x160 crop" "$T/dn.fits"
    ae run --stages denoise --json "$SAMPLES/horsehead_dss_crop.fits" -o "$T/run-dn.png"
    check_rc "run --stages denoise -> 0" 0
    check_out "run --json: members keyed by stage" '"denoise": {'
    check "run: a PNG written" test -s "$T/run-dn.png"
    ae denoise --no-such-denoise-option "$SAMPLES/horsehead_dss_crop.fits" -o "$T/dn2.fits"
    check_rc "denoise with an unknown option -> 2" 2
fi

finish
