#!/usr/bin/env bash
# summarize.sh DIR... - add up the test results of several runs: a DIR with a
# `summary` file (from run_tests.sh) gives its passed/failed/skipped counts; a
# DIR without one (build/fuzz-results) counts its lines starting with PASS or
# FAIL. A DIR that does not exist counts as one failure. The last line is
# exactly "N passed, N failed, N skipped"; exits 1 when failed > 0.
set -u
passed=0 failed=0 skipped=0
for d in "$@"; do
    if [[ -f "$d/summary" ]]; then
        p=$(awk '$1 == "passed" { print $2 }' "$d/summary")
        f=$(awk '$1 == "failed" { print $2 }' "$d/summary")
        s=$(awk '$1 == "skipped" { print $2 }' "$d/summary")
        echo "$d: ${p:-0} passed, ${f:-0} failed, ${s:-0} skipped"
        passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0})); skipped=$((skipped + ${s:-0}))
    elif [[ -d "$d" ]]; then
        p=$(cat "$d"/* 2>/dev/null | grep -c '^PASS')
        f=$(cat "$d"/* 2>/dev/null | grep -c '^FAIL')
        echo "$d: $p passed, $f failed"
        passed=$((passed + p)); failed=$((failed + f))
    else
        echo "$d: no results (missing), counted as a failure"
        failed=$((failed + 1))
    fi
done
echo "$passed passed, $failed failed, $skipped skipped"
((failed == 0))
