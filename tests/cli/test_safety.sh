#!/usr/bin/env bash
# test_safety.sh - hostile or unusual input and interruptions (issue 18 item 7):
# `run --model sr3` reaching upscale, FITS->FITS keeping BSCALE int16 data
# exactly, output names of 243-255 bytes, symbolic links inside the output
# directory, FIFO inputs, a PNG decompression bomb, colorize dropping BUNIT /
# zero points, model files with NaN weights, the lock file after SIGTERM.
# Fixtures are made here with perl (core modules only).
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

MODEL="$ROOT/models/colorizer.safetensors"
TINY="$ROOT/tests/golden/sr_tiny_sr3.safetensors"
SMALL="$FIXTURES/fits/sr_horsehead_40x32.fits"
PNG="$SAMPLES/m51_B_gray.png"

# int16_fits PATH W H BSCALE BZERO [CARD...]: a BITPIX 16 image whose stored
# integers are a fixed pattern spanning -29000..29000, with BSCALE/BZERO.
int16_fits() {
    perl -e '
        my ($path, $w, $h, $bs, $bz, @extra) = @ARGV;
        my @c = ("SIMPLE  =                    T", "BITPIX  =                   16",
                 "NAXIS   =                    2", sprintf("NAXIS1  = %20d", $w),
                 sprintf("NAXIS2  = %20d", $h), sprintf("BSCALE  = %20s", $bs),
                 sprintf("BZERO   = %20s", $bz), @extra, "END");
        my $hdr = join("", map { sprintf("%-80s", $_) } @c);
        $hdr .= " " x ((2880 - length($hdr) % 2880) % 2880);
        my @v;
        for my $y (0 .. $h - 1) { for my $x (0 .. $w - 1) {
            push @v, (($x * 7919 + $y * 104729 + $x * $y * 31) % 58001) - 29000; } }
        my $data = pack("s>*", @v);
        $data .= "\0" x ((2880 - length($data) % 2880) % 2880);
        open(my $f, ">", $path) or die; binmode $f; print $f $hdr, $data; close $f;' "$@"
}

# fits_data PATH: the data unit of the primary HDU as hex (header skipped).
fits_data() {
    perl -e '
        open(my $f, "<", $ARGV[0]) or die; binmode $f; local $/; my $b = <$f>;
        my $i = 0; $i += 80 while substr($b, $i, 8) ne "END     "; $i += 80;
        $i += (2880 - $i % 2880) % 2880; print unpack("H*", substr($b, $i, 2 * $ARGV[1]));' "$1" "$2"
}

# card KEY FILE: the value of header card KEY of a FITS file (numbers normalised)
card() { grep -ao "$1 *= *[^/]*" "$2" | head -1 | sed 's/^[^=]*= *//; s/ *$//' | awk '{ printf "%.17g\n", $1 }'; }

# ---- 1. `run --model sr3` is upscale's option; colorize's file is --colorize-model
if stage_available colorize && stage_available upscale; then
    ae run --stages colorize,upscale --colorize-model "$MODEL" --model sr3 --weights "$TINY" --steps 2 \
        --json "$SMALL" -o "$T/run-sr3.fits"
    check_rc "run --model sr3 with --colorize-model" 0
    check_out "run --model sr3: upscale ran SR3" '"upscale": {"scale": 2, "model": "sr3"'
    check_out "run --colorize-model: colorize used that file" '"model": "colorizer.safetensors"'
    ae run --stages colorize,upscale --model sr3 --weights "$TINY" --steps 2 "$SMALL" -o "$T/run-sr3c.fits"
    check_rc "run --model sr3 with the default colorizer model" 0
    ae run --stages upscale --model sr3 --weights "$TINY" --steps 2 "$SMALL" -o "$T/run-sr3b.fits"
    check_rc "run --stages upscale --model sr3" 0
    ae run --stages colorize --model "$MODEL" "$PNG" -o "$T/run-col.png"
    check_rc "run --stages colorize --model FILE: usage error" 2
    check_err "... saying where --model goes" "--model goes to colorize only in 'astroenh colorize'"
    ae colorize --colorize-model "$MODEL" "$PNG" -o "$T/col-long.png"
    check_rc "colorize --colorize-model FILE" 0
else
    fail "colorize and upscale stages are in this build"
fi

# ---- 2. FITS -> FITS keeps BSCALE int16 data: same stored integers, same BSCALE/BZERO
int16_fits "$T/bscale.fits" 37 23 0.0123 1234.5 "BUNIT   = 'MJy/sr  '"
ae convert "$T/bscale.fits" -o "$T/bscale-out.fits"
check_rc "convert BSCALE int16 FITS -> FITS" 0
check "BSCALE int16: stored integers bit-identical" \
    test "$(fits_data "$T/bscale.fits" $((37 * 23)))" = "$(fits_data "$T/bscale-out.fits" $((37 * 23)))"
check "BSCALE kept exactly" test "$(card BSCALE "$T/bscale-out.fits")" = "$(card BSCALE "$T/bscale.fits")"
check "BZERO kept exactly" test "$(card BZERO "$T/bscale-out.fits")" = "$(card BZERO "$T/bscale.fits")"
check "BUNIT kept on a plain convert" grep -aq "BUNIT   = 'MJy/sr" "$T/bscale-out.fits"
int16_fits "$T/bscale2.fits" 16 16 2 0
ae convert "$T/bscale2.fits" -o "$T/bscale2-out.fits"
check "BSCALE 2 (integral values over int16): stored integers kept" \
    test "$(fits_data "$T/bscale2.fits" 256)" = "$(fits_data "$T/bscale2-out.fits" 256)"

# ---- 3. output names of 243-255 bytes (the temp name must fit NAME_MAX too)
for len in 243 250 255; do
    name=$(printf 'n%.0s' $(seq $((len - 4)))).png
    mkdir -p "$T/long$len"
    ae convert "$PNG" -o "$T/long$len/$name"
    check_rc "output name of $len bytes" 0
    check "output name of $len bytes: written" test -s "$T/long$len/$name"
    check "output name of $len bytes: no temp file left" no_temp_files "$T/long$len"
done

# ---- 4. a symbolic link inside the output directory must not lead writes out of it
mkdir -p "$T/sin/sub" "$T/sout" "$T/elsewhere"
cp "$PNG" "$T/sin/a.png"
cp "$PNG" "$T/sin/sub/b.png"
ln -s "$T/elsewhere" "$T/sout/sub"
ae convert -r "$T/sin" -o "$T/sout"
check_rc "symlinked output subdirectory -> 1" 1
check_err "symlinked output subdirectory: names the file" "astroenh: $T/sin/sub/b.png: refusing to write"
check_err "symlinked output subdirectory: says why" "symbolic link"
check "nothing written through the link" test -z "$(ls -A "$T/elsewhere")"
check "the other file still written" test -s "$T/sout/a.png"
ln -s "$T/sout" "$T/sout-link"
ae convert -r "$T/sin" -o "$T/sout-link/viaroot"
check_rc "an output directory given through a link is fine" 0
check "output directory given through a link: written" test -s "$T/sout/viaroot/sub/b.png"

# ---- 5. a FIFO argument is refused at once, not waited on
mkfifo "$T/fifo.fits"
run timeout 20 "$ASTROENH" info "$T/fifo.fits"
check_rc "info FIFO -> 1 (no hang)" 1
check_err "info FIFO: says why" "$T/fifo.fits: not a regular file (a FIFO)"
run timeout 20 "$ASTROENH" convert "$T/fifo.fits" "$PNG" -o "$T/fifo-out"
check_rc "convert FIFO + good file -> 1 (no hang)" 1
check "convert FIFO: the good file written" test -s "$T/fifo-out/m51_B_gray.png"

# ---- 6. decompression bomb: 17000 x 17000 grey PNG of zeros (~290 KB) is refused
perl -MCompress::Zlib -e '
    my ($path, $w, $h) = @ARGV;
    my ($d, $s) = deflateInit(-Level => 9); my $z = ""; my $row = "\0" x ($w + 1);
    for (1 .. $h) { my ($o, $st) = $d->deflate($row); $z .= $o; }
    my ($o, $st) = $d->flush(); $z .= $o;
    sub chunk { my ($t, $b) = @_; pack("N", length $b) . $t . $b . pack("N", crc32($t . $b)) }
    open(my $f, ">", $path) or die; binmode $f;
    print $f "\x89PNG\r\n\x1a\n", chunk("IHDR", pack("NNCCCCC", $w, $h, 8, 0, 0, 0, 0)),
        chunk("IDAT", $z), chunk("IEND", ""); close $f;' "$T/bomb.png" 17000 17000
check "bomb fixture is small" test "$(stat -c %s "$T/bomb.png")" -lt 400000
run timeout 60 "$ASTROENH" info "$T/bomb.png"
check_rc "info on a PNG bomb -> 1 (refused, not decoded)" 1
check_err "PNG bomb: names the size and the limit" "declares 17000x17000 pixels x 1 channel, over the limit of 268435456 values"
ae convert "$T/bomb.png" -o "$T/bomb.fits"
check_rc "convert PNG bomb -> 1" 1
check "PNG bomb: no output" test ! -e "$T/bomb.fits"
run env ASTROENH_MAX_PIXELS=1000 "$ASTROENH" info "$PNG"
check_rc "ASTROENH_MAX_PIXELS=1000 refuses a larger PNG" 1
check_err "ASTROENH_MAX_PIXELS named in the message" "ASTROENH_MAX_PIXELS"
"$ASTROENH" convert "$PNG" -o "$T/m51.jpg" >/dev/null 2>&1
run env ASTROENH_MAX_PIXELS=1000 "$ASTROENH" info "$T/m51.jpg"
check_rc "ASTROENH_MAX_PIXELS=1000 refuses a larger JPEG" 1

# ---- 7. colorize output holds display values: no BUNIT or zero point on it
if stage_available colorize; then
    int16_fits "$T/units.fits" 48 40 0.5 100 "BUNIT   = 'ADU     '" "MAGZP   =                 25.1" \
        "EXPTIME =                 60.0"
    ae colorize --model "$MODEL" "$T/units.fits" -o "$T/units-col.fits"
    check_rc "colorize a FITS with BUNIT and MAGZP" 0
    check "colorize output: no BUNIT" bash -c "! grep -aq 'BUNIT   =' '$T/units-col.fits'"
    check "colorize output: no MAGZP" bash -c "! grep -aq 'MAGZP   =' '$T/units-col.fits'"
    check "colorize output: EXPTIME kept" grep -aq "EXPTIME =" "$T/units-col.fits"
    check "colorize output: HISTORY says the units were removed" \
        bash -c "grep -aq 'HISTORY colorize: the pixels are sRGB display values' '$T/units-col.fits' && grep -aq 'keywords BUNIT MAGZP' '$T/units-col.fits'"
    ae convert --stretch asinh "$T/units.fits" -o "$T/units-str.fits"
    check "convert --stretch to FITS: no BUNIT either" bash -c "! grep -aq 'BUNIT   =' '$T/units-str.fits'"
fi

# ---- 8. a model file with a NaN weight is refused at load, naming file and tensor
perl -e '
    my ($src, $dst) = @ARGV; open(my $f, "<", $src) or die; binmode $f; local $/; my $b = <$f>;
    my $n = unpack("Q<", substr($b, 0, 8));
    substr($b, 8 + $n + 4, 4) = pack("V", 0x7fc00000);   # second float of the first tensor
    open(my $g, ">", $dst) or die; binmode $g; print $g $b; close $g;' "$TINY" "$T/nan_sr3.safetensors"
ae upscale --model sr3 --weights "$T/nan_sr3.safetensors" --steps 2 "$SMALL" -o "$T/nan.fits"
check_rc "upscale with a NaN weight -> 1" 1
check_err "NaN weight: names the file and tensor" "$T/nan_sr3.safetensors: tensor 'downs.0.bias' holds a non-finite value (NaN"
check "NaN weight: no output" test ! -e "$T/nan.fits"

# ---- 9. SIGTERM during a batch removes the output-directory lock and temp files
mkdir -p "$T/lin"
for i in 1 2 3 4 5 6 7 8; do cp "$SMALL" "$T/lin/f$i.fits"; done
"$ASTROENH" upscale --model sr3 --weights "$TINY" --steps 2000 "$T/lin" -o "$T/lout" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 100); do [[ -e "$T/lout/.astroenh.lock" ]] && break; sleep 0.1; done
check "the lock file exists while the batch runs" test -e "$T/lout/.astroenh.lock"
sleep 0.5
kill -TERM "$pid"
wait "$pid"
rc=$?
check "the batch died of SIGTERM (status $rc)" test "$rc" -eq 143
check "lock file removed after SIGTERM" test ! -e "$T/lout/.astroenh.lock"
check "no temp files after SIGTERM" no_temp_files "$T/lout"

finish
