# lib.sh - check helpers for the CLI tests (sourced by tests/cli/test_*.sh).
#
# Each check prints "ok - NAME" or "FAIL - NAME" (with what went wrong);
# finish prints "N passed, N failed" and exits 1 when a check failed.
# ASTROENH names the binary under test; T is a fresh scratch directory.

: "${ASTROENH:?set ASTROENH to the astroenh binary}"
case "$ASTROENH" in /*) ;; *) ASTROENH="$PWD/$ASTROENH" ;; esac
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SAMPLES="$ROOT/data/samples"
FIXTURES="$ROOT/tests/data"
T=$(mktemp -d "${TMPDIR:-/tmp}/astroenh-cli.XXXXXX")
trap 'rm -rf "$T"' EXIT
# a private copy, so that a rebuild during the run cannot swap the binary under the checks
mkdir -p "$T/bin"
if [[ ! -x "$ASTROENH" ]] || ! cp "$ASTROENH" "$T/bin/astroenh"; then
    echo "FAIL - the binary under test, $ASTROENH, is missing"
    echo "0 passed, 1 failed"
    exit 1
fi
ASTROENH="$T/bin/astroenh"
PASS=0
FAIL=0
RC=0

# run CMD...: runs a command, keeps its status in RC, stdout in $T/out, stderr in $T/err.
run() {
    "$@" >"$T/out" 2>"$T/err"
    RC=$?
    return 0
}

# ae ARGS...: run astroenh.
ae() { run "$ASTROENH" "$@"; }

pass() { PASS=$((PASS + 1)); echo "ok - $1"; }
fail() {
    FAIL=$((FAIL + 1))
    echo "FAIL - $1${2:+: $2}"
    if [[ -s "$T/err" ]]; then sed 's/^/    stderr: /' "$T/err" | head -5; fi
}

# check NAME CMD...: passes when CMD succeeds.
check() {
    local name=$1
    shift
    if "$@"; then pass "$name"; else fail "$name" "($*) is false"; fi
}

# check_rc NAME EXPECTED: the last run's status.
check_rc() {
    if [[ "$RC" == "$2" ]]; then pass "$1"; else fail "$1" "exit status $RC, expected $2"; fi
}

# check_err NAME TEXT: the last run's stderr contains TEXT.
check_err() {
    if grep -qF -- "$2" "$T/err"; then pass "$1"; else fail "$1" "stderr lacks '$2'"; fi
}

# check_out NAME TEXT: the last run's stdout contains TEXT.
check_out() {
    if grep -qF -- "$2" "$T/out"; then pass "$1"; else fail "$1" "stdout lacks '$2'"; fi
}

# check_no_crash NAME: the last run ended by exit, not by a signal or sanitizer abort.
check_no_crash() {
    if ((RC > 0 && RC < 126)) && ! grep -q 'Sanitizer\|runtime error' "$T/err"; then pass "$1"
    else fail "$1" "exit status $RC"; fi
}

# no_temp_files DIR: no ".*.tmp-*" files left under DIR.
no_temp_files() { [[ -z "$(find "$1" -name '.*.tmp-*' 2>/dev/null)" ]]; }

# stage_available NAME: the binary lists the stage.
stage_available() { "$ASTROENH" --list-stages 2>/dev/null | grep -qx "$1"; }

# fits_file PATH DATA_BYTES CARD...: writes a FITS header of CARDs (+END),
# padded to 2880, then DATA_BYTES zero bytes (rounded up to 2880).
fits_file() {
    local path=$1 nbytes=$2
    shift 2
    {
        local c
        for c in "$@" END; do printf '%-80s' "$c"; done
        local n=$(( ($# + 1) * 80 ))
        local pad=$(( (2880 - n % 2880) % 2880 ))
        printf '%*s' "$pad" ''
        if ((nbytes > 0)); then head -c $(( (nbytes + 2879) / 2880 * 2880 )) /dev/zero; fi
    } >"$path"
}

finish() {
    echo "$PASS passed, $FAIL failed"
    ((FAIL == 0))
}
