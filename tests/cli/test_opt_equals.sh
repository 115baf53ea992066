#!/usr/bin/env bash
# test_opt_equals.sh - every command takes `--opt=value` as well as `--opt value`
# (issue 17: `upscale --scale=4` was refused while `denoise --strength=3` was taken).
# Where a real run is cheap the value's effect is checked; elsewhere a bad value
# given with '=' must draw the option's own message, which shows the option was
# recognised and its value read.
source "$(dirname "$0")/lib.sh"

PNG="$FIXTURES/cli_asym.png"              # 12 x 8 RGB
FITS="$SAMPLES/horsehead_dss_crop.fits"
cd "$ROOT"

# ---- common options (every file command)
ae info --threads=1 --device=cpu "$PNG"
check_rc "info --threads=1 --device=cpu -> 0" 0
ae info --device=gpu "$PNG"
check_rc "info --device=gpu -> 2" 2
check_err "--device=gpu: the option's message" "bad value 'gpu' for --device"

# ---- convert
mkdir -p "$T/in" && cp "$FITS" "$T/in/"
ae convert --format=png --bit-depth=8 "$T/in" -o "$T/conv"
check_rc "convert --format=png --bit-depth=8 -> 0" 0
check "convert --format=png: PNG written" test -s "$T/conv/horsehead_dss_crop.png"
ae info "$T/conv/horsehead_dss_crop.png"
check_out "convert --bit-depth=8: 8-bit PNG" "bit depth 8"
ae convert --quality=0 "$PNG" "$T/q.jpg"
check_rc "convert --quality=0 -> 2" 2
check_err "--quality=0: the option's message" "--quality"

# ---- denoise
ae denoise --method=wavelet --strength=3 "$PNG" -o "$T/dn.png"
check_rc "denoise --method=wavelet --strength=3 -> 0" 0
ae denoise --method=bogus "$PNG" -o "$T/dn2.png"
check_rc "denoise --method=bogus -> 2" 2
check_err "--method=bogus: the option's message" "bad value 'bogus' for --method"

# ---- colorize
ae colorize --gamut=bogus "$PNG" -o "$T/col.png"
check_rc "colorize --gamut=bogus -> 2" 2
check_err "--gamut=bogus: the option's message" "bad value 'bogus' for --gamut"
ae colorize --overlap=-1 "$PNG" -o "$T/col.png"
check_rc "colorize --overlap=-1 -> 2" 2
check_err "--overlap=-1: the option's message" "--overlap"

# ---- upscale
ae upscale --scale=4 "$PNG" -o "$T/up4.png"
check_rc "upscale --scale=4 -> 0" 0
ae info "$T/up4.png"
check_out "upscale --scale=4: 48 x 32 output" "48 x 32"
ae upscale --scale 4 "$PNG" -o "$T/up4b.png"
check_rc "upscale --scale 4 -> 0" 0
check "--scale=4 and --scale 4 give the same file" cmp -s "$T/up4.png" "$T/up4b.png"
ae upscale --scale=3 "$PNG" -o "$T/up3.png"
check_rc "upscale --scale=3 -> 2" 2
check_err "--scale=3: the option's message" "bad value '3' for --scale (2 or 4)"
ae upscale --model=sr3 --steps=0 "$PNG" -o "$T/up5.png"
check_rc "upscale --steps=0 -> 2" 2
check_err "--steps=0: the option's message" "bad value '0' for --steps"
ae upscale --weights=/nonexistent/w.safetensors "$PNG" -o "$T/up6.png"
check "upscale --weights=PATH: taken as an option" test "$(grep -c 'unknown option' "$T/err")" = 0
check_err "upscale --weights=PATH: the path is used" "/nonexistent/w.safetensors"
ae upscale "$PNG" -o "$T/up7.png" --scale
check_rc "upscale --scale without a value -> 2" 2
check "no output from the refused runs" test ! -e "$T/up3.png" -a ! -e "$T/up5.png" -a ! -e "$T/up7.png"

# ---- run
ae run --stages=denoise "$PNG" -o "$T/run.png"
check_rc "run --stages=denoise -> 0" 0
check "run --stages=denoise: output written" test -s "$T/run.png"

# ---- eval, bench, slurm
ae eval --range=0 --metrics "$PNG" "$PNG"
check_rc "eval --range=0 -> 2" 2
check_err "--range=0: the option's message" "bad value for --range"
ae eval --range=255 --metrics "$SAMPLES/m51_B_gray.png" "$SAMPLES/m51_B_gray.png"
check_rc "eval --range=255 --metrics -> 0" 0
ae bench --reps=0
check_rc "bench --reps=0 -> 2" 2
check_err "--reps=0: read as a value" "invalid numeric option"
ae slurm --shards=2 --no-submit --log-dir="$T/L" -- denoise "$PNG" -o "$T/sl"
check_rc "slurm --shards=2 --log-dir=DIR --no-submit -> 0" 0
check "slurm --log-dir=DIR: the directory is made" test -d "$T/L"

finish
