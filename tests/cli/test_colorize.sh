#!/usr/bin/env bash
# test_colorize.sh - `astroenh colorize` end to end on the real samples in
# data/samples (a mono PNG of M51, the DSS Horsehead FITS plate, a DECaLS
# colour PNG) with the shipped weights models/colorizer.safetensors:
# outputs are RGB, their luminance L* equals the input's (read back from the
# float FITS outputs and recomputed here in awk with the sRGB/Lab formulas of
# src/colorize/lab.c), FITS outputs keep the header and get HISTORY, the
# confidence map, and errors (missing model, bad options).
source "$(dirname "$0")/lib.sh"

if ! stage_available colorize; then
    echo "colorize not in this build: skipped"
    finish
    exit $?
fi
MODEL="$ROOT/models/colorizer.safetensors"
# the largest |L*(output) - L*(expected)| accepted on float FITS outputs
TOL_L=0.02

# fits_floats FILE: the data of a float32 FITS primary HDU (no extensions),
# one value per line, in file order.
fits_floats() {
    local f=$1 n
    n=$(fits_naxis_product "$f")
    local data=$((n * 4)) size
    size=$(stat -c %s "$f")
    local hdr=$((size - (data + 2879) / 2880 * 2880))
    od -An -v -t f4 --endian=big -j "$hdr" -N "$data" "$f" | tr -s ' ' '\n' | sed '/^$/d'
}

# fits_naxis_product FILE: NAXIS1*NAXIS2[*NAXIS3] from the header cards.
fits_naxis_product() {
    head -c 28800 "$1" | fold -w 80 | awk '
        /^NAXIS[123] *=/ { split($0, a, "="); split(a[2], b, "/"); p = (p ? p : 1) * (b[1] + 0) }
        /^END *$/ { exit } END { print p }'
}

# max_dl OUT_RGB_FITS EXPECTED_GREY_FITS: max |L*(rgb) - L*(grey)| over pixels.
max_dl() {
    local npix=$(($(fits_naxis_product "$2")))
    paste <(fits_floats "$1") <(fits_floats "$2"; fits_floats "$2"; fits_floats "$2") | awk -v n="$npix" '
        function dec(c) { if (c < 0) c = 0; if (c > 1) c = 1; return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ^ 2.4 }
        function lstar(y) { return 116 * (y > 0.00885645168 ? y ^ (1 / 3) : y / 0.12841854934 + 4 / 29) - 16 }
        { v[NR] = $1; g[NR] = $2 }
        END {
            m = 0
            for (i = 1; i <= n; i++) {
                y = 0.2126729 * dec(v[i]) + 0.7151522 * dec(v[n + i]) + 0.0721750 * dec(v[2 * n + i])
                d = lstar(y) - lstar(dec(g[i])); if (d < 0) d = -d; if (d > m) m = d
            }
            printf "%.5f\n", m
        }'
}

# ---- mono PNG -> PNG and FITS
ae colorize --model "$MODEL" "$SAMPLES/m51_B_gray.png" -o "$T/m51.png" --json
check_rc "colorize mono PNG -> PNG" 0
check_out "json: mono input" '"input": "mono"'
check_out "json: luminance kept (keep-l)" '"gamut": "keep-l"'
ae info "$T/m51.png"
check_out "PNG output is RGB, same size" "PNG, 256 x 256, 3 channels, bit depth 8"

ae colorize --model "$MODEL" "$SAMPLES/m51_B_gray.png" -o "$T/m51.fits"
check_rc "colorize mono PNG -> FITS" 0
ae convert "$SAMPLES/m51_B_gray.png" "$T/m51_in.fits"
dl=$(max_dl "$T/m51.fits" "$T/m51_in.fits")
echo "# m51 PNG: max |dL*| output vs input = $dl"
check "m51: output L* equals input L* (max $dl <= $TOL_L)" awk -v d="$dl" -v t="$TOL_L" 'BEGIN { exit !(d != "" && d <= t) }'

# ---- 16-bit linear FITS (DSS plate): stretched, header kept, HISTORY added
ae colorize --model "$MODEL" "$SAMPLES/horsehead_dss_crop.fits" -o "$T/hh.fits" --json \
    --confidence-map "$T/{}_conf.png"
check_rc "colorize FITS -> FITS with a confidence map" 0
check_out "json: the MTF stretch was applied" '"stretch": "mtf"'
check_out "json: 8-fold ensemble" '"tta": 8'
ae info "$T/hh.fits"
check_out "FITS output is a 3-plane cube" "FITS, 160 x 160, 3 channels, bit depth -32, WCS yes"
check "FITS output has a colorize HISTORY card" grep -qa "HISTORY astroenh [0-9.]* colorize" "$T/hh.fits"
check "HISTORY names the model's SHA-256" grep -qa "HISTORY.*$(sha256sum "$MODEL" | cut -c1-16)" "$T/hh.fits"
check "FITS output keeps the input's header (OBJECT/CRVAL1)" grep -qa "CRVAL1" "$T/hh.fits"
ae info "$T/hh_conf.png"
check_out "confidence map: mono, same size" "PNG, 160 x 160, 1 channel"
ae convert --stretch auto "$SAMPLES/horsehead_dss_crop.fits" "$T/hh_stretched.fits"
dl=$(max_dl "$T/hh.fits" "$T/hh_stretched.fits")
echo "# horsehead FITS: max |dL*| output vs stretched input = $dl"
check "horsehead: output L* equals the stretched input's (max $dl <= $TOL_L)" \
    awk -v d="$dl" -v t="$TOL_L" 'BEGIN { exit !(d != "" && d <= t) }'

# ---- RGB input: its luminance is used and the JSON says so
ae colorize --model "$MODEL" "$SAMPLES/decals_J000411.19+020924.0.png" -o "$T/dec.png" --json
check_rc "colorize an RGB PNG" 0
check_out "json: RGB input reduced to its luminance" "its luminance L* was used"

# ---- errors
ae colorize --model "$T/none.safetensors" "$SAMPLES/m51_B_gray.png" -o "$T/x.png"
check_no_crash "missing model: clean failure"
check_err "missing model: file named" "none.safetensors"
ae colorize --model "$SAMPLES/m51_B_gray.png" "$SAMPLES/m51_B_gray.png" -o "$T/x.png"
check_no_crash "a PNG as the model: clean failure"
ae colorize --model "$MODEL" --gamut sometimes "$SAMPLES/m51_B_gray.png" -o "$T/x.png"
check_rc "--gamut sometimes -> 2" 2
ae colorize --model "$MODEL" --overlap -3 "$SAMPLES/m51_B_gray.png" -o "$T/x.png"
check_rc "--overlap -3 -> 2" 2
check "failed runs wrote no output" test ! -e "$T/x.png"

finish
