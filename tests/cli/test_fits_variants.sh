#!/usr/bin/env bash
# test_fits_variants.sh - everyday archive forms of FITS input (issue 18 item 6):
# a RICE .fz written by astropy, "file.fits[N]" / "file.fits[EXTNAME]" HDU
# selection, gzip-ed .fits.gz; outputs named from them carry no "[N]" and no
# ".gz". Fixtures: tests/data/fits/make_variants.py.
source "$(dirname "$0")/lib.sh"

V="$FIXTURES/fits"

ae info "$V/variant_rice.fits.fz"
check_rc "astropy RICE_1 .fz (ZVAL3 = 16.0 NOISEBIT) is read" 0
check_out "RICE .fz: the ramp 1..192" "16 x 12, 1 channel, bit depth -32, WCS no, min 1 median 96.5 max 192"

ae info "$V/variant_mef.fits[2]"
check_rc "file.fits[2] selects HDU 2" 0
check_out "file.fits[2]: the ERR plane 1001..1048" "8 x 6, 1 channel, bit depth 16, WCS no, min 1001 median 1024.5 max 1048"
ae info "$V/variant_mef.fits[ERR]"
check_out "file.fits[ERR] selects by EXTNAME" "min 1001 median 1024.5 max 1048"
ae info "$V/variant_mef.fits"
check_out "without a selector the first image HDU is read" "min 1 median 24.5 max 48"
ae info "$V/variant_mef.fits[7]"
check_rc "file.fits[7] (no such HDU) fails" 1
check_err "file.fits[7]: the message names the file" "variant_mef.fits[7]"
ae info "$T/absent.fits[1]"
check_err "absent.fits[1]: no such file" "no such file"

ae info "$V/variant_plain.fits.gz"
check_rc ".fits.gz is read" 0
check_out ".fits.gz: values 1..48" "8 x 6, 1 channel, bit depth -32, WCS no, min 1 median 24.5 max 48"
gzip -c "$FIXTURES/cli_asym.png" >"$T/notfits.fits.gz"
ae info "$T/notfits.fits.gz"
check_rc "a gzip-ed PNG named .fits.gz fails" 1
check_err "gzip-ed non-FITS: says what is wrong" "not a FITS file"

# every command: outputs from the three forms, named without "[2]" or ".gz"
mkdir -p "$T/o1"
ae convert --stretch none "$V/variant_mef.fits[2]" "$V/variant_plain.fits.gz" "$V/variant_rice.fits.fz" -o "$T/o1"
check_rc "convert of [2], .gz and .fz into a folder" 0
check "output of file.fits[2] is o1/variant_mef.fits" test -f "$T/o1/variant_mef.fits"
check "output of .fits.gz is plain o1/variant_plain.fits" test -f "$T/o1/variant_plain.fits"
check "output of .fz is o1/variant_rice.fits.fz" test -f "$T/o1/variant_rice.fits.fz"
check "no output name carries [2] or .gz" bash -c "! ls '$T/o1' | grep -q '\[\|\.gz'"
ae info "$T/o1/variant_mef.fits"
check_out "convert of file.fits[2] wrote HDU 2's data" "min 1001 median 1024.5 max 1048"
ae convert "$V/variant_mef.fits[2]" -o "$T/o1" --format png
check "--format png of file.fits[2] is o1/variant_mef.png" test -f "$T/o1/variant_mef.png"

# a folder input picks up .fits.gz
mkdir -p "$T/in" "$T/out2"
cp "$V/variant_plain.fits.gz" "$T/in/"
ae convert --stretch none "$T/in" -o "$T/out2"
check_rc "a folder with a .fits.gz converts" 0
check "the folder's .fits.gz gives out2/variant_plain.fits" test -f "$T/out2/variant_plain.fits"

# the input named with a selector is still protected
cp "$V/variant_mef.fits" "$T/mef.fits"
before=$(md5sum <"$T/mef.fits")
ae convert "$T/mef.fits[2]" -o "$T/mef.fits"
check "file.fits[2] -o file.fits is refused" test "$RC" -ne 0
check "... and file.fits is unchanged" test "$before" = "$(md5sum <"$T/mef.fits")"

finish
