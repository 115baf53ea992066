#!/usr/bin/env bash
# test_eval.sh - `astroenh eval`: --metrics/--pairs against the scikit-image
# values of tests/data/metrics_ref.txt, --bicubic, --fid (with and without --inception), and its errors.
source "$(dirname "$0")/lib.sh"
M="$FIXTURES/metrics"

ae eval --help
check_rc "eval --help exits 0" 0
check_out "eval --help lists --metrics" "--metrics PRED TRUTH"

ae eval
check_rc "eval without a mode -> usage error 2" 2
check_err "eval without a mode says so" "no mode given"

ae eval --bogus
check_rc "eval --bogus -> 2" 2

# one pair against the reference line (skimage SSIM/PSNR, per-channel L1)
ae eval --metrics "$M/col_noise.png" "$M/col_ref.png"
check_rc "eval --metrics exits 0" 0
ref=$(grep '^pair col_noise col_ref' "$FIXTURES/metrics_ref.txt")
check "one JSON line" test "$(wc -l <"$T/out")" -eq 1
agree() { # agree KEY FIELD TOL: the JSON value of KEY is within TOL of field FIELD of the ref line
    local got want
    got=$(sed -E "s/.*\"$1\": ([-0-9.eE+]+).*/\1/" "$T/out")
    want=$(echo "$ref" | awk -v f="$2" '{print $f}')
    awk -v g="$got" -v w="$want" -v t="$3" 'BEGIN { d = g - w; if (d < 0) d = -d; exit !(d <= t) }'
}
check "ssim = skimage's" agree ssim 5 1e-5
check "psnr = skimage's" agree psnr 6 1e-3
check "l1_R = reference" agree l1_R 7 1e-6
check_out "Lab errors reported for colour" '"l1_a*": '

printf '%s\t%s\n%s\t%s\n' "$M/grey_noise.png" "$M/grey_ref.png" "$M/col_blur.png" "$M/col_ref.png" >"$T/pairs"
ae eval --pairs "$T/pairs"
check_rc "eval --pairs exits 0" 0
check "two JSON lines" test "$(wc -l <"$T/out")" -eq 2
check_out "grey pair: one channel" '"channels": 1'

printf '%s\t%s\n' "$M/col_ref.png" "$M/grey_ref.png" >"$T/bad"
ae eval --pairs "$T/bad"
check_rc "size mismatch -> 1" 1
check_err "size mismatch named" "differ in size"
ae eval --metrics "$T/missing.png" "$M/col_ref.png"
check_rc "missing file -> 1" 1
check_err "missing file named" "missing.png"

printf '%s\t%s\n' "$M/grey_ref.png" "$T/up.png" >"$T/bic"
ae eval --bicubic 2 "$T/bic"
check_rc "eval --bicubic exits 0" 0
ae info "$T/up.png"
check_out "bicubic x2 doubles the size" "PNG, 180 x 144, 1 channel, bit depth 16"

ls "$M"/*.png >"$T/all"
ls "$M"/col_*.png >"$T/col"
ae eval --threads 1 --feature-net "$ROOT/models/fast_x2_v1.safetensors" --fid "$T/all" "$T/col" "$T/all"
check_rc "eval --fid exits 0" 0
check "one line per list" test "$(wc -l <"$T/out")" -eq 2
check_out "fid labelled not comparable" '"comparable_with_published_fid": false'
check "fid of a set to itself is ~0" grep -qE '"list": "[^"]*/all", .*"fid": -?0\.0000' "$T/out"
ae eval --fid "$T/all"
check_rc "--fid without a list -> 2" 2

# InceptionV3 features (the width/8 random test network: the code path of --inception)
ae eval --threads 1 --inception "$ROOT/tests/golden/inception_tiny.safetensors" --fid "$T/all" "$T/col" "$T/all"
check_rc "eval --fid --inception exits 0" 0
check "inception: one line per list" test "$(wc -l <"$T/out")" -eq 2
check_out "inception features used" '"inception": true'
check_out "inception: 2048/8 features" '"dim": 256'
check_out "random inception weights labelled not comparable" '"comparable_with_published_fid": false'
check "inception: fid of a set to itself is ~0" grep -qE '"list": "[^"]*/all", .*"fid": -?0\.0000' "$T/out"
printf 'PK\003\004' >"$T/pt_inception.pth"
ae eval --inception "$T/pt_inception.pth" --fid "$T/all" "$T/col"
check_rc "--inception with a .pth -> 1" 1
check_err "a .pth is sent to the converter" "scripts/convert_inception.py"

finish
