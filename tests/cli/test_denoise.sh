#!/usr/bin/env bash
# test_denoise.sh - `astroenh denoise` on real files: a DECaLS FITS crop with NaN
# pixels and a hot pixel (tests/data/denoise/decals_nan.fits), the int16 KPNO
# M51 crop, and a DECaLS PNG: header/WCS kept, HISTORY added, NaN kept (or
# filled with --fill-nan), mask and catalogue written (FITS and CSV), batch
# side-file names, option errors.
source "$(dirname "$0")/lib.sh"

if ! stage_available denoise; then
    echo "denoise is not in this build: nothing to test"
    finish
fi

DN="$FIXTURES/denoise/decals_nan.fits"
M51="$FIXTURES/fits/m51_crop.fits"
PNG="$SAMPLES/decals_J000411.19+020924.0.png"

# FITS in, FITS out, with both side files as FITS
ae denoise --method all "$DN" -o "$T/dn.fits" --mask-out "$T/mask.fits" --catalog "$T/cat.fits" --json
check_rc "denoise FITS" 0
check_out "json: noise sigma per channel" '"noise_sigma": ['
check_out "json: the injected hot pixel is found" '"hot_pixel": 1'
check_out "json: method all" '"method": "all"'
ae info --json "$T/dn.fits"
check_out "output keeps size, channels, float32 and the WCS" \
    '"width": 128, "height": 128, "channels": 3, "bit_depth": -32, "unsigned": false, "wcs": true'
check_out "NaN pixels stay NaN (13 pixels x 3 planes)" '"nan": 39'
check "header cards kept (SURVEY)" grep -aq "SURVEY  = " "$T/dn.fits"
check "the fixture's own HISTORY kept" grep -aq "HISTORY astroenh test fixture" "$T/dn.fits"
check "denoise HISTORY added with parameters" grep -aq "HISTORY astroenh 0\.[0-9.]* denoise method=all noise_sigma=" "$T/dn.fits"
ae info --json "$T/mask.fits"
check_out "mask: FITS, same size, one plane, 0/1" '"width": 128, "height": 128, "channels": 1, "bit_depth": 8'
check_out "mask marks something, not everything" '"min": 0, "median": 0, "max": 1'
check "catalogue is a FITS binary table" grep -aq "XTENSION= 'BINTABLE'" "$T/cat.fits"
check "catalogue names its columns" grep -aq "TTYPE8  = 'KIND" "$T/cat.fits"
check "catalogue has FITS-convention coordinates" grep -aq "TTYPE10 = 'Y_FITS" "$T/cat.fits"
check "catalogue lists the hot pixel" grep -aq "hot_pixel" "$T/cat.fits"
check "no temp files left" no_temp_files "$T"

# the hot pixel (x=100, y=15 from the top, +5 in plane 1) is gone
cmp_hot() {
    "$ASTROENH" denoise --method artifacts --catalog "$T/hot.csv" "$DN" -o "$T/art.fits" >/dev/null 2>&1 &&
        grep -q '^100.00,15.00,.*,hot_pixel$' "$T/hot.csv"
}
check "CSV catalogue: hot pixel at (100, 15)" cmp_hot
check "CSV catalogue header" grep -qx "x,y,scale,peak,flux,snr,radius,kind" "$T/hot.csv"

# --fill-nan inpaints the NaN pixels
ae denoise --method all --fill-nan "$DN" -o "$T/filled.fits"
check_rc "denoise --fill-nan" 0
ae info --json "$T/filled.fits"
check_out "--fill-nan leaves no NaN" '"nan": 0,'

# --method bilateral changes pixels but keeps NaN; artifacts alone keeps most pixels
ae denoise --method bilateral --strength 2 "$DN" -o "$T/bil.fits" --json
check_rc "denoise --method bilateral" 0
check_out "bilateral json has sigma_r" '"sigma_r": ['
ae info --json "$T/bil.fits"
check_out "bilateral keeps NaN" '"nan": 39'
check "bilateral output differs from the input" bash -c "! cmp -s '$DN' '$T/bil.fits'"

# int16 CCD frame: stays int16, HISTORY added
ae denoise --method all "$M51" -o "$T/m51.fits" --mask-out "$T/m51_mask.png"
check_rc "denoise int16 FITS" 0
ae info "$T/m51.fits"
check_out "int16 input gives int16 output" "FITS, 160 x 150, 1 channel, bit depth 16"
ae info --json "$T/m51_mask.png"
check_out "PNG mask for a FITS input" '"format": "PNG", "width": 160, "height": 150, "channels": 1'

# PNG in, PNG out, CSV catalogue; two inputs with {} in the side-file names
cp "$PNG" "$T/a.png"
cp "$PNG" "$T/b.png"
ae denoise --method all "$T/a.png" "$T/b.png" -o "$T/outdir" --mask-out "$T/outdir/{}_mask.png" --catalog "$T/outdir/{}.csv"
check_rc "denoise two PNGs into a directory" 0
check "outputs and per-file side files" test -s "$T/outdir/a.png" -a -s "$T/outdir/b.png" -a \
    -s "$T/outdir/a_mask.png" -a -s "$T/outdir/b_mask.png" -a -s "$T/outdir/a.csv" -a -s "$T/outdir/b.csv"
check "same input, same catalogue (deterministic)" cmp -s "$T/outdir/a.csv" "$T/outdir/b.csv"
check "same input, same output (deterministic)" cmp -s "$T/outdir/a.png" "$T/outdir/b.png"
check "the PNG has detections" bash -c "[ \$(wc -l <'$T/outdir/a.csv') -gt 2 ]"

# defaults (issue 13): wavelet shrinkage; on a clean 8-bit render the noise gate leaves it unchanged;
# stars are removed only with --remove-stars; --keep-stars is still accepted
ae denoise --json "$PNG" -o "$T/def.png"
check_rc "default denoise of a PNG" 0
check_out "default method is wavelet" '"method": "wavelet"'
check_out "clean render: gate gives strength 0" '"strength": 0,'
ae convert "$PNG" -o "$T/conv.png"
check "clean render: output equals a plain conversion" cmp -s "$T/conv.png" "$T/def.png"
ae denoise --json --strength 1 "$PNG" -o "$T/forced.png"
check_out "--strength 1 forces the shrinkage" '"strength": 1,'
check "forced output differs" bash -c "! cmp -s '$T/def.png' '$T/forced.png'"
ae denoise --json --method all --catalog "$T/ks.csv" "$PNG" -o "$T/ks.png"
check_rc "--method all (stars kept by default)" 0
ae denoise --json --method all --keep-stars --catalog "$T/ks2.csv" "$PNG" -o "$T/ks2.png"
check_rc "--keep-stars still accepted" 0
check "--keep-stars is the default" cmp -s "$T/ks.csv" "$T/ks2.csv"
ae denoise --json --method all --remove-stars --catalog "$T/rs.csv" "$PNG" -o "$T/rs.png"
check_rc "--remove-stars" 0
check "--remove-stars finds stars" grep -q ',star$' "$T/rs.csv"
check "default keeps stars" bash -c "! grep -q ',star\$' '$T/ks.csv'"
ae denoise --json --method wavelet "$DN" -o "$T/wv.fits"
check_rc "wavelet on a FITS with NaN" 0
check_out "linear data: auto strength is 1" '"strength": 1,'
ae info --json "$T/wv.fits"
check_out "wavelet keeps NaN" '"nan": 39'
ae denoise --scales 9 "$DN" -o "$T/x.fits"
check_rc "--scales 9 is a usage error" 2

# errors
ae denoise --method median "$DN" -o "$T/x.fits"
check_rc "bad --method is a usage error" 2
check_err "bad --method is named" "bad value 'median' for --method"
ae denoise --strength -1 "$DN" -o "$T/x.fits"
check_rc "negative --strength is a usage error" 2
ae denoise --sigma-s "$DN" -o "$T/x.fits"
check_no_crash "--sigma-s swallowing the next argument does not crash"
ae denoise --method bilateral --mask-out "$T/m.png" "$DN" -o "$T/x.fits"
check "--mask-out without detection is refused" test "$RC" -ne 0
check_err "--mask-out without detection says why" "--mask-out and --catalog need --method artifacts or all"
ae denoise "$FIXTURES/fits/decals_truncated.fits" -o "$T/x.fits"
check_no_crash "truncated FITS: error, no crash"
check "truncated FITS: no output" test ! -e "$T/x.fits"

finish
