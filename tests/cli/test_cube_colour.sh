#!/usr/bin/env bash
# test_cube_colour.sh - colour pictures of 3-plane FITS cubes (issue 18 item 5):
# the longest wavelength shows red, read from BANDn/FILTERn/BANDS or a
# spectral third axis; planes that are mostly exact 0 (no coverage) do not
# spoil the auto-stretch. Needs /usr/bin/python3 with astropy and PIL.
source "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3
if ! "$PY" -c 'import astropy.io.fits, PIL' 2>/dev/null; then
    echo "skip - astropy or PIL is not installed for $PY: cube colour checks not run"
    finish
    exit 0
fi
HERE=$(cd "$(dirname "$0")" && pwd)
CUBE="$HERE/py/cube_colour.py"
mkdir -p "$T/c"
"$PY" "$CUBE" make "$T/c" "$SAMPLES/decals_grz_crop.fits" || { fail "make the cubes"; finish; exit 1; }

# the blob is brightest in the reddest band: red > green > blue when mapped right
for v in band0 band1 filter bands hst wave freq zrg none; do
    ae convert --stretch linear "$T/c/$v.fits" -o "$T/$v.png"
    run "$PY" "$CUBE" order "$T/$v.png"
    check "$v: longest wavelength is red ($(cat "$T/out"))" grep -q '^RGB' "$T/out"
done
ae convert --stretch linear "$T/c/band0.fits" -o "$T/band0.jpg"
run "$PY" "$CUBE" order "$T/band0.jpg"
check "JPEG too: longest wavelength is red ($(cat "$T/out"))" grep -q '^RGB' "$T/out"

# the real DECaLS g/r/z sample: its published colour picture is redder than
# blue (R/B 1.10-1.24 over the brightest tenth for the three frames in
# ../shared/data/fits); the g -> red mapping made it blue (R/B < 1)
ae convert "$SAMPLES/decals_grz_crop.fits" -o "$T/decals.png"
run "$PY" "$CUBE" redblue "$T/decals.png"
check "DECaLS sample renders red over blue (R/B $(cat "$T/out") > 1)" \
    "$PY" -c "import sys; sys.exit(not float(open('$T/out').read()) > 1.0)"

# no coverage: exact zeros in 70 % of every plane; the covered part must look
# as it does when rendered alone (the zeros are no data)
ae convert "$T/c/cov_all.fits" -o "$T/cov_all.png"
ae convert "$T/c/cov_part.fits" -o "$T/cov_part.png"
run "$PY" "$CUBE" diff "$T/cov_all.png" "$T/cov_part.png" 90
check "no-coverage zeros in every plane: covered part as rendered alone (mean, max diff $(cat "$T/out"))" \
    test "$(cut -d' ' -f2 "$T/out")" -le 1
# zeros in two of three planes: against the render with full coverage
ae convert "$SAMPLES/decals_grz_crop.fits" -o "$T/full.png"
ae convert "$T/c/cov_gz.fits" -o "$T/cov_gz.png"
"$PY" -c "
from PIL import Image; import numpy as np
a = np.asarray(Image.open('$T/full.png')).astype(float)[:, 90:]
Image.fromarray(a.astype(np.uint8)).save('$T/full_part.png')"
run "$PY" "$CUBE" diff "$T/cov_gz.png" "$T/full_part.png" 90
check "no-coverage zeros in g and z: covered part close to the full render (mean diff $(cut -d' ' -f1 "$T/out") < 15)" \
    "$PY" -c "import sys; sys.exit(not float(open('$T/out').read().split()[0]) < 15)"
finish
