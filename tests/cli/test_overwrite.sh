#!/usr/bin/env bash
# test_overwrite.sh - no file a run writes (main output, mask, catalogue)
# may replace an input of the run, whatever path leads there: same base
# name from two folders, two extensions of one stem under --format, side
# outputs naming another input or another output (issue 18, item 1).
source "$(dirname "$0")/lib.sh"

same() { cmp -s "$1" "$2"; }

# ---- two inputs with the same base name, -o one of their folders
mkdir -p "$T/n1" "$T/n2"
cp "$SAMPLES/horsehead_dss_crop.fits" "$T/n1/m13.fits"
cp "$SAMPLES/m51_B_gray.png" "$T/n2/keep.png"
cp "$SAMPLES/horsehead_dss_crop.fits" "$T/n2/m13.fits"
cp "$T/n2/m13.fits" "$T/orig_m13.fits"
ae denoise --method bilateral "$T/n1/m13.fits" "$T/n2/m13.fits" -o "$T/n2"
check_rc "same base name into the folder of one of them -> 1" 1
check "n2/m13.fits (an input) is unchanged" same "$T/n2/m13.fits" "$T/orig_m13.fits"
check_err "the refusal names the input" "it is the input file $T/n2/m13.fits"
check "no temp files left in n2" no_temp_files "$T/n2"

# ---- in place, two extensions of one stem
mkdir -p "$T/d"
cp "$SAMPLES/horsehead_dss_crop.fits" "$T/d/field.fit"
cp "$SAMPLES/m51_B_gray.png" "$T/d/other.png"
cp "$SAMPLES/horsehead_dss_crop.fits" "$T/d/field.fits"
cp "$SAMPLES/m51_B_gray.png" "$T/orig_other.png"
ae denoise --method bilateral "$T/d" -o "$T/d" --format fits
check_rc "field.fit + field.fits in place with --format fits -> 1" 1
check "d/field.fits (an input) is unchanged" same "$T/d/field.fits" "$T/orig_m13.fits"
check "d/field.fit (an input) is unchanged" same "$T/d/field.fit" "$T/orig_m13.fits"
check "d/other.png (an input) is unchanged" same "$T/d/other.png" "$T/orig_other.png"

mkdir -p "$T/e"
cp "$SAMPLES/m51_B_gray.png" "$T/e/a.png"
cp "$SAMPLES/horsehead_dss_crop.fits" "$T/e/a.fits"
ae convert "$T/e" -o "$T/e" --format png
check_rc "a.fits + a.png in place with --format png -> 1" 1
check "e/a.png (an input) is unchanged" same "$T/e/a.png" "$T/orig_other.png"

# ---- side outputs naming another input, or another output of the run
mkdir -p "$T/i/b"
cp "$SAMPLES/decals_J000411.19+020924.0.png" "$T/i/a.png"
cp "$SAMPLES/decals_J000411.19+020924.0.png" "$T/i/b/x.png"
cp "$T/i/b/x.png" "$T/orig_x.png"
ae denoise --method all -r --mask-out "$T/i/b/x.png" "$T/i" -o "$T/o"
check_rc "--mask-out naming another input -> 1" 1
check "i/b/x.png (an input) is unchanged" same "$T/i/b/x.png" "$T/orig_x.png"
check "no main output written for a refused side output" test ! -e "$T/o/a.png"
ae denoise --method all -r --catalog "$T/i/a.png" "$T/i" -o "$T/o"
check_rc "--catalog naming another input -> 1" 1
check "i/a.png (an input) is unchanged" same "$T/i/a.png" "$T/orig_x.png"
ae denoise --method all -r --mask-out "$T/o/{}.png" "$T/i" -o "$T/o"
check_rc "--mask-out naming another output of the run -> 1" 1
check_err "the refusal says it is an output of this run" "it is an output of this run"

# ---- and the legitimate uses still work
ae denoise --method all -r --mask-out "$T/m/{}_mask.png" "$T/i" -o "$T/o3"
check_rc "--mask-out into a new folder -> 0" 0
check "mask written" test -s "$T/m/a_mask.png"
check "output written" test -s "$T/o3/b/x.png"

finish
