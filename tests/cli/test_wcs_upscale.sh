#!/usr/bin/env bash
# test_wcs_upscale.sh - upscale keeps every pixel's sky position (issue 18
# item 3), judged by astropy's pixel -> sky on the input and the output, for
# each WCS header form: CD, PC + CDELT, PC without CDELT, CDELT + CROTA2,
# a cube with a wavelength third axis,
# TAN-SIP, an alternate WCS 'A', a DSS plate solution alone, and the real
# DSS HorseHead sample; at 2x and 4x. Needs /usr/bin/python3 with astropy
# (skipped with a message without it).
source "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3
if ! "$PY" -c 'import astropy.wcs' 2>/dev/null; then
    echo "skip - astropy is not installed for $PY: WCS checks not run"
    finish
    exit 0
fi
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$T/in"
"$PY" "$HERE/py/wcs_forms.py" make "$T/in" "$SAMPLES/horsehead_dss_crop.fits" || { fail "make the WCS forms"; finish; exit 1; }

ae info "$T/in/dss_plate.fits"
check_out "info: a DSS plate solution alone is a WCS" "WCS yes"
ae info "$T/in/pc_only.fits"
check_out "info: PC without CDELT is a WCS" "WCS yes"

for s in 2 4; do
    ae upscale --scale "$s" "$T/in" -o "$T/x$s"
    check_rc "upscale x$s of every form" 0
    for f in "$T"/in/*.fits; do
        name=$(basename "$f" .fits)
        run "$PY" "$HERE/py/wcs_forms.py" check "$f" "$T/x$s/$name.fits" "$s"
        if ((RC == 0)); then
            pass "x$s $name: sky positions kept to < 0.01 pixel ($(sed 's/.*: //;s/ input.*//' "$T/out" | sort -g | tail -1))"
        else
            fail "x$s $name: sky positions moved" "$(tr '\n' ' ' <"$T/out")"
        fi
    done
done

# a form the rewrite does not cover (a Paper IV prior distortion in pixel
# units) is refused rather than written wrong
ae upscale "$T/tpd_prior.fits" -o "$T/tpd_x2.fits"
check_rc "upscale of a WCS it cannot carry over fails" 1
check_err "... saying so" "the WCS cannot be carried over the 2x resampling"
check "... and writes nothing" test ! -e "$T/tpd_x2.fits"
finish
