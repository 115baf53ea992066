#!/usr/bin/env bash
# test_batch.sh - batch/cron behaviour: a bad file among good ones, no partial
# outputs, inputs never overwritten, --skip-existing, --jobs, the output
# directory lock, -r and relative paths, --json lines.
source "$(dirname "$0")/lib.sh"

IN="$T/in"
mkdir -p "$IN/sub/deeper"
cp "$SAMPLES/m51_B_gray.png" "$IN/a.png"
cp "$SAMPLES/horsehead_dss_crop.fits" "$IN/b.fits"
cp "$SAMPLES/decals_J000411.19+020924.0.png" "$IN/sub/c.png"
cp "$FIXTURES/cli_asym.png" "$IN/sub/deeper/d.png"
echo "not an image" >"$IN/notes.txt"
printf 'this is not a PNG at all, just text pretending to be one\n' >"$IN/bad.png"

# ---- one bad file: exit 1, the others written, one error line naming it
ae convert "$IN" -o "$T/o1"
check_rc "a bad file in a directory -> 1" 1
check "good file a.png written" test -s "$T/o1/a.png"
check "good file b.fits written" test -s "$T/o1/b.fits"
check "bad file not written" test ! -e "$T/o1/bad.png"
check_err "error line names the bad file" "astroenh: $IN/bad.png: "
check "exactly one error line" test "$(grep -c '^astroenh: .*bad.png' "$T/err")" -eq 1
check "non-image files are ignored" test ! -e "$T/o1/notes.txt"
check "without -r subdirectories are not read" test ! -e "$T/o1/sub"
check "no temp files left" no_temp_files "$T/o1"
check "lock file removed at exit" test ! -e "$T/o1/.astroenh.lock"

# ---- --json: one object per file
ae convert --json "$IN" -o "$T/o2"
check_rc "--json run with a bad file -> 1" 1
check "--json: one line per file" test "$(wc -l <"$T/out")" -eq 3
check "--json: two ok" test "$(grep -c '"status": "ok"' "$T/out")" -eq 2
check "--json: one error, named" grep -q "\"file\": \"$IN/bad.png\".*\"status\": \"error\", \"error\": \"" "$T/out"
check "--json: seconds member" grep -q '"seconds": [0-9]' "$T/out"

# ---- -r keeps relative paths
rm "$IN/bad.png"
ae convert -r "$IN" -o "$T/o3"
check_rc "-r over good files -> 0" 0
check "-r: sub/c.png" test -s "$T/o3/sub/c.png"
check "-r: sub/deeper/d.png" test -s "$T/o3/sub/deeper/d.png"
check "-r: top-level a.png" test -s "$T/o3/a.png"
check_err "plain progress lines" "[1/4] $IN/a.png -> $T/o3/a.png ("

# ---- --skip-existing
touch -d '2001-01-01' "$T/o3/a.png"
ae convert -r --skip-existing --json "$IN" -o "$T/o3"
check_rc "--skip-existing rerun -> 0" 0
check "--skip-existing: all four skipped" test "$(grep -c '"status": "skipped"' "$T/out")" -eq 4
check "--skip-existing: existing output untouched" test "$(stat -c %Y "$T/o3/a.png")" -lt 1000000000
rm "$T/o3/sub/c.png"
ae convert -r --skip-existing --json "$IN" -o "$T/o3"
check "--skip-existing: the missing one redone" grep -q "\"file\": \"$IN/sub/c.png\".*\"status\": \"ok\"" "$T/out"
ae convert -r "$IN" -o "$T/o3"
check "without --skip-existing outputs are rewritten" test "$(stat -c %Y "$T/o3/a.png")" -gt 1000000000

# ---- --jobs 2 gives the same outputs
ae convert -r --jobs 2 --threads 2 "$IN" -o "$T/o4"
check_rc "--jobs 2 -> 0" 0
check "--jobs 2: same files as --jobs 1" diff -r -q "$T/o3" "$T/o4"
ae convert -r --jobs 2 --format fits "$IN" -o "$T/o5"
ae convert -r --jobs 1 --format fits "$IN" -o "$T/o6"
check "--jobs 2: same FITS outputs" diff -r -q "$T/o5" "$T/o6"

# ---- inputs are never overwritten
cp "$IN/a.png" "$T/keep.png"
ae convert "$IN/a.png" -o "$IN/a.png"
check_rc "output == input -> 1" 1
check_err "refusal explained" "refusing to overwrite the input"
check "input unchanged" cmp -s "$IN/a.png" "$T/keep.png"
ln -s "$IN/a.png" "$T/link.png"
ae convert "$IN/a.png" -o "$T/link.png"
check_rc "output is a link to the input -> 1" 1
check "input unchanged through a link" cmp -s "$IN/a.png" "$T/keep.png"
ae convert "$IN" -o "$IN"
check_rc "directory converted onto itself -> 1" 1
check "inputs unchanged in place" cmp -s "$IN/a.png" "$T/keep.png"
check "no temp files in the input directory" no_temp_files "$IN"

# ---- missing inputs are per-file failures
ae convert "$T/nope.png" "$IN/a.png" -o "$T/o7"
check_rc "a missing input -> 1" 1
check_err "missing input named" "astroenh: $T/nope.png: no such file or directory"
check "the other input still written" test -s "$T/o7/a.png"

# ---- two inputs mapping to one output
mkdir -p "$T/x1" "$T/x2"
cp "$IN/a.png" "$T/x1/same.png"
cp "$IN/a.png" "$T/x2/same.png"
ae convert "$T/x1/same.png" "$T/x2/same.png" -o "$T/o8"
check_rc "two inputs, one output name -> 1" 1
check_err "collision explained" "is already written from"

# ---- the output directory lock (held by flock(1) for 3 s)
mkdir -p "$T/locked"
echo 424242 >"$T/locked/.astroenh.lock"
flock "$T/locked/.astroenh.lock" sleep 3 &
HOLDER=$!
for _ in $(seq 50); do
    flock -n "$T/locked/.astroenh.lock" true 2>/dev/null || break
    sleep 0.05
done
ae convert "$IN" -o "$T/locked"
check_rc "locked output directory -> 1" 1
check_err "lock message" "$T/locked is locked by another astroenh run (pid 424242)"
check "nothing written while locked" test ! -e "$T/locked/a.png"
ae convert --wait-lock "$IN" -o "$T/locked"
check_rc "--wait-lock waits for the holder -> 0" 0
check "--wait-lock: written after the wait" test -s "$T/locked/a.png"
wait "$HOLDER" 2>/dev/null

# ---- no partial output on failure: a write that fails half-way (file size limit)
mkdir -p "$T/o9"
run bash -c "ulimit -f 8; trap '' XFSZ; exec '$ASTROENH' convert '$SAMPLES/decals_grz_crop.fits' -o '$T/o9/big.fits'"
check_rc "a write failing half-way -> 1" 1
check "no output after a failed write" test ! -e "$T/o9/big.fits"
check "no temp file after a failed write" no_temp_files "$T/o9"
echo data >"$T/afile"
ae convert "$SAMPLES/m51_B_gray.png" -o "$T/afile/x.png"
check_rc "output under a regular file -> 1" 1
check_err "unwritable output explained" "Not a directory"
check "no temp files anywhere" no_temp_files "$T"

finish
