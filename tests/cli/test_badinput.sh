#!/usr/bin/env bash
# test_badinput.sh - each kind of bad input gives one clear message naming the
# file, a non-zero status (1), no crash and no output; the batch goes on.
source "$(dirname "$0")/lib.sh"

B="$T/bad"
mkdir -p "$B"
# truncated: the bundled cube cut in the middle of its pixel data
head -c 100000 "$SAMPLES/decals_grz_crop.fits" >"$B/truncated.fits"
: >"$B/empty.fits"
: >"$B/empty.png"
for i in $(seq 200); do printf 'garbage line %d %s\n' "$i" "xxxxxxxxxxxxxxxxxxxxxxxxxxxx"; done >"$B/garbage.fits"
cp "$B/garbage.fits" "$B/garbage.jpg"
head -c 40 "$SAMPLES/m51_B_gray.png" >"$B/cut.png"
fits_file "$B/absurd.fits" 2880 "SIMPLE  =                    T" "BITPIX  =                   16" \
    "NAXIS   =                    2" "NAXIS1  =            100000000" "NAXIS2  =            100000000"
fits_file "$B/naxis4.fits" 2880 "SIMPLE  =                    T" "BITPIX  =                  -32" \
    "NAXIS   =                    4" "NAXIS1  =                    4" "NAXIS2  =                    4" \
    "NAXIS3  =                    2" "NAXIS4  =                    2"
fits_file "$B/bitpix12.fits" 2880 "SIMPLE  =                    T" "BITPIX  =                   12" \
    "NAXIS   =                    2" "NAXIS1  =                    4" "NAXIS2  =                    4"
fits_file "$B/negative.fits" 2880 "SIMPLE  =                    T" "BITPIX  =                   16" \
    "NAXIS   =                    2" "NAXIS1  =                   -5" "NAXIS2  =                    4"

for f in truncated empty garbage absurd naxis4 bitpix12 negative; do
    ae convert "$B/$f.fits" -o "$T/out-$f.png"
    check_no_crash "$f.fits: clean failure"
    check_rc "$f.fits: exit 1" 1
    check_err "$f.fits: message names the file" "astroenh: $B/$f.fits: "
    check "$f.fits: no output" test ! -e "$T/out-$f.png"
    ae info "$B/$f.fits"
    check_rc "info $f.fits: exit 1" 1
done
for f in empty.png cut.png garbage.jpg; do
    ae convert "$B/$f" -o "$T/out-$f.fits"
    check_no_crash "$f: clean failure"
    check_err "$f: message names the file" "astroenh: $B/$f: "
    check "$f: no output" test ! -e "$T/out-$f.fits"
done

ae convert "$B/truncated.fits" -o "$T/x.png"
check_err "truncated: says so" "truncated"
ae convert "$B/naxis4.fits" -o "$T/x.png"
check "NAXIS=4: names the problem" grep -qi "naxis" "$T/err"
ae convert "$B/bitpix12.fits" -o "$T/x.png"
check "BITPIX 12: names the problem" grep -qi "bitpix" "$T/err"

# all of them in one batch: one line each, the good file still written
cp "$SAMPLES/m51_B_gray.png" "$B/good.png"
ae convert "$B" -o "$T/all"
check_rc "batch of bad files -> 1" 1
check "batch: one error line per bad file" test "$(grep -c "^astroenh: $B/" "$T/err")" -eq "$(($(ls "$B" | wc -l) - 1))"
check "batch: the good file written" test -s "$T/all/good.png"
check "batch: only the good file written" test "$(ls "$T/all" | wc -l)" -eq 1
check "batch: no temp files" no_temp_files "$T/all"

# unwritable output paths
ae convert "$SAMPLES/m51_B_gray.png" -o "$B/good.png/x.fits"
check_rc "output below a file -> 1" 1
check_err "unwritable output: message" "astroenh: $SAMPLES/m51_B_gray.png: "
ae convert "$SAMPLES/m51_B_gray.png" "$SAMPLES/horsehead_dss_crop.fits" -o "$B/good.png"
check_rc "output directory that is a file -> 1" 1
check_no_crash "output directory that is a file: clean"

finish
