#!/usr/bin/env bash
# run_tests.sh BUILD_DIR BIN - run every BUILD_DIR/tests/test_* (cmocka) and
# every tests/cli/test_*.sh (with ASTROENH=BIN); logs go to
# BUILD_DIR/test-results/<name>.log, counts to BUILD_DIR/test-results/summary.
# A program that crashes or exits non-zero without a failed test counts as
# one failure. Exits 1 when anything failed. Run it from the repository root
# (the Makefile does), where the tests find tests/data/.
set -u
if [[ $# -ne 2 ]]; then
    echo "usage: tests/run_tests.sh BUILD_DIR BIN" >&2
    exit 2
fi
BUILD=$1
BIN=$2
HERE=$(cd "$(dirname "$0")" && pwd)
RES="$BUILD/test-results"
TEST_TIMEOUT=${TEST_TIMEOUT:-900}
mkdir -p "$RES"
rm -f "$RES"/*.log "$RES/summary"
passed=0 failed=0 skipped=0

# sum_matches LOG REGEX: adds up the first number of every matching line.
sum_matches() {
    sed -nE "s/$2/\1/p" "$1" | awk '{ s += $1 } END { print s + 0 }'
}

# record NAME RC P F S HAVE_SUMMARY
record() {
    local name=$1 rc=$2 p=$3 f=$4 s=$5 have=$6 note=""
    if ((!have)); then
        f=$((f + 1)); note=" (no summary; exit status $rc)"
    elif ((rc != 0 && f == 0)); then
        f=1; note=" (exit status $rc after the tests: crash, sanitizer or leak report)"
    fi
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
    printf '%-6s %-28s %4d passed, %d failed, %d skipped%s\n' \
        "$( ((f)) && echo FAIL || echo ok)" "$name" "$p" "$f" "$s" "$note"
}

for t in "$BUILD"/tests/test_*; do
    [[ -f "$t" && -x "$t" ]] || continue
    name=$(basename "$t")
    log="$RES/$name.log"
    timeout "$TEST_TIMEOUT" "$t" >"$log" 2>&1 </dev/null
    rc=$?
    p=$(sum_matches "$log" '^\[  PASSED  \] ([0-9]+) test\(s\)\..*')
    f=$(sum_matches "$log" '^\[  FAILED  \] ([0-9]+) test\(s\), listed below:.*')
    s=$(sum_matches "$log" '^\[  SKIPPED \] ([0-9]+) test\(s\).*')
    have=0
    grep -qE '^\[  (PASSED|FAILED|SKIPPED) *\] [0-9]+ test\(s\)|^\[==========\] [0-9]+ test\(s\) run\.' "$log" && have=1
    record "$name" "$rc" "$p" "$f" "$s" "$have"
done

for s in "$HERE"/cli/test_*.sh; do
    [[ -f "$s" ]] || continue
    name="cli/$(basename "$s" .sh)"
    log="$RES/cli_$(basename "$s" .sh).log"
    ASTROENH="$BIN" timeout "$TEST_TIMEOUT" bash "$s" >"$log" 2>&1 </dev/null
    rc=$?
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -1)
    if [[ -n "$line" ]]; then
        read -r p _ f _ <<<"$line"
        record "$name" "$rc" "$p" "$f" 0 1
    else
        record "$name" "$rc" 0 0 0 0
    fi
done

printf 'passed %d\nfailed %d\nskipped %d\n' "$passed" "$failed" "$skipped" >"$RES/summary"
echo "$BUILD: $passed passed, $failed failed, $skipped skipped (logs in $RES/)"
((failed == 0))
