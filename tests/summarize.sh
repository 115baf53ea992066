#!/usr/bin/env bash
# summarize.sh DIR... - add up the test results of several runs: a DIR with a
# `summary` file (from run_tests.sh) gives its passed/failed/skipped counts; a
# plain file (build/fuzz-results) or a directory without a summary counts its
# lines starting with PASS, FAIL or SKIP. A name that does not exist counts as
# one failure. The last line is
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
    elif [[ -f "$d" || -d "$d" ]]; then
        if [[ -d "$d" ]]; then files=("$d"/*); else files=("$d"); fi
        p=$(cat "${files[@]}" 2>/dev/null | grep -c '^PASS')
        f=$(cat "${files[@]}" 2>/dev/null | grep -c '^FAIL')
        s=$(cat "${files[@]}" 2>/dev/null | grep -c '^SKIP')
        echo "$d: $p passed, $f failed, $s skipped"
        passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
    else
        echo "$d: no results (missing), counted as a failure"
        failed=$((failed + 1))
    fi
done
echo "$passed passed, $failed failed, $skipped skipped"
((failed == 0))
