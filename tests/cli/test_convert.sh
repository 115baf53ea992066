#!/usr/bin/env bash
# test_convert.sh - convert between FITS, PNG and JPEG: stretch, orientation,
# header and provenance, bit depth, the IN OUT form, --format.
source "$(dirname "$0")/lib.sh"

HH="$SAMPLES/horsehead_dss_crop.fits"

ae convert "$HH" -o "$T/hh.png"
check_rc "FITS -> PNG" 0
ae info --json "$T/hh.png"
check_out "FITS -> PNG: a PNG of the same size" '"format": "PNG", "width": 160, "height": 160, "channels": 1'
check "FITS -> PNG: auto stretch spans [0,1]" grep -q '"min": 0,.*"max": 1}' "$T/out"

ae convert --stretch linear "$HH" "$T/hh-lin.png"
check_rc "convert IN OUT form with --stretch linear" 0
check "--stretch linear differs from auto" bash -c "! cmp -s '$T/hh.png' '$T/hh-lin.png'"

ae convert "$HH" -o "$T/hh.fits"
check_rc "FITS -> FITS" 0
ae info "$T/hh.fits"
check_out "FITS -> FITS keeps BITPIX 16 and the WCS" "FITS, 160 x 160, 1 channel, bit depth 16, WCS yes"
"$ASTROENH" info "$HH" | sed 's/^[^:]*: //' >"$T/a.txt"
sed 's/^[^:]*: //' "$T/out" >"$T/b.txt"
check "FITS -> FITS keeps the data (same statistics)" cmp -s "$T/a.txt" "$T/b.txt"
check "FITS -> FITS keeps the source HISTORY" grep -aq "HISTORY astroenh sample: 160x160 crop" "$T/hh.fits"
check "FITS -> FITS adds provenance HISTORY" grep -aq "HISTORY astroenh 0\.[0-9.]* convert" "$T/hh.fits"

# Orientation: a FITS written by astropy (bottom row first) and the PNG of
# how it displays; both written again by astroenh must be the same bytes.
ae convert --stretch none --bit-depth 8 "$FIXTURES/cli_orient.fits" -o "$T/orient-from-fits.png"
check_rc "orientation fixture FITS -> PNG" 0
ae convert --bit-depth 8 "$FIXTURES/cli_orient.png" -o "$T/orient-from-png.png"
check "FITS -> PNG puts the FITS bottom row at the bottom" cmp -s "$T/orient-from-fits.png" "$T/orient-from-png.png"

# PNG -> FITS -> PNG keeps orientation and values (float32 FITS in between)
ae convert "$FIXTURES/cli_asym.png" -o "$T/asym.fits"
check_rc "PNG -> FITS" 0
ae info "$T/asym.fits"
check_out "PNG -> FITS is float32" "FITS, 12 x 8, 3 channels, bit depth -32"
ae convert --stretch none --bit-depth 8 "$T/asym.fits" -o "$T/asym-back.png"
ae convert --bit-depth 8 "$FIXTURES/cli_asym.png" -o "$T/asym-direct.png"
check "PNG -> FITS -> PNG equals PNG -> PNG" cmp -s "$T/asym-back.png" "$T/asym-direct.png"

ae convert --bit-depth 16 "$SAMPLES/decals_grz_crop.fits" -o "$T/grz16.png"
ae info "$T/grz16.png"
check_out "--bit-depth 16 writes a 16-bit colour PNG" "PNG, 128 x 128, 3 channels, bit depth 16"
ae convert --bit-depth 8 "$SAMPLES/decals_grz_crop.fits" -o "$T/grz8.png"
ae info "$T/grz8.png"
check_out "--bit-depth 8 writes an 8-bit PNG" "bit depth 8"

ae convert --quality 30 "$SAMPLES/decals_J000411.19+020924.0.png" -o "$T/q30.jpg"
check_rc "PNG -> JPEG --quality 30" 0
ae convert --quality 95 "$SAMPLES/decals_J000411.19+020924.0.png" -o "$T/q95.jpg"
check "higher --quality gives a larger JPEG" test "$(stat -c %s "$T/q95.jpg")" -gt "$(stat -c %s "$T/q30.jpg")"
ae info "$T/q95.jpg"
check_out "the JPEG reads back" "JPEG, 256 x 256, 3 channels"

ae convert --json "$HH" -o "$T/j.png"
check "--json: exactly one line" test "$(wc -l <"$T/out")" -eq 1
check_out "--json: status ok" '"status": "ok"'
check_out "--json: output named" "\"output\": \"$T/j.png\""
check_out "--json: stretch recorded" '"stretch": "mtf"'

# directory mode with --format replaces the extension
mkdir -p "$T/in"
cp "$SAMPLES/m51_B_gray.png" "$SAMPLES/horsehead_dss_crop.fits" "$T/in/"
ae convert --format fits "$T/in" -o "$T/outdir"
check_rc "--format fits over a directory" 0
check "--format fits: m51_B_gray.fits written" test -s "$T/outdir/m51_B_gray.fits"
check "--format fits: horsehead_dss_crop.fits written" test -s "$T/outdir/horsehead_dss_crop.fits"
check "--format: no other files" test "$(ls "$T/outdir" | wc -l)" -eq 2
ae convert --format png "$SAMPLES/m51_B_gray.png" -o "$T/x.fits"
check_rc "--format that contradicts the output name -> 2" 2

finish
