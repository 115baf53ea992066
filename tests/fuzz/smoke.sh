#!/bin/sh
# smoke.sh - short libFuzzer runs of every fuzz target (make fuzz-smoke).
#
#   tests/fuzz/smoke.sh [SECONDS] BIN...
#
# Runs each BIN (build/fuzz/fuzz_<name>) for a fixed number of inputs
# (FUZZ_RUNS, default 40000) from a fixed seed (FUZZ_SEED, default 1), so a
# CI run repeats exactly what passed here; SECONDS (default 120) only caps a
# slow machine, which then runs a prefix of the same sequence (an empty or
# missing first argument means the default) on a scratch copy of
# tests/fuzz/seeds/<name>/ when that exists, with -rss_limit_mb=2048. Prints a
# PASS/FAIL line per fuzzer and writes build/fuzz-results ("PASS name",
# "FAIL name", or "SKIP name" when clang is missing). Crash inputs are kept as
# build/fuzz-artifacts/<name>-crash-*, logs as build/fuzz-logs/<name>.log.
# Exits non-zero when any fuzzer crashed, leaked, ran out of memory or time,
# or was not built.
set -u

secs=120
if [ $# -gt 0 ]; then
    case "$1" in
    '') shift ;;
    *[!0-9]*) ;;            # not a number: it is the first BIN
    *) secs=$1; shift ;;
    esac
fi

here=$(cd "$(dirname "$0")" && pwd)
results=build/fuzz-results
mkdir -p build build/fuzz-logs build/fuzz-artifacts
: > "$results"

if ! command -v clang >/dev/null 2>&1; then
    echo "fuzz: clang not found, skipped"
    for bin in "$@"; do
        name=$(basename "$bin")
        echo "SKIP ${name#fuzz_}" >> "$results"
    done
    exit 0
fi

if [ $# -eq 0 ]; then
    echo "fuzz: no fuzz targets given" >&2
    exit 2
fi

failed=0
for bin in "$@"; do
    name=$(basename "$bin")
    name=${name#fuzz_}
    log=build/fuzz-logs/$name.log
    if [ ! -x "$bin" ]; then
        echo "fuzz: FAIL $name ($bin not built)"
        echo "FAIL $name" >> "$results"
        failed=1
        continue
    fi
    corpus=$(mktemp -d "${TMPDIR:-/tmp}/ae-fuzz-$name.XXXXXX")
    if [ -d "$here/seeds/$name" ]; then
        cp -R "$here/seeds/$name/." "$corpus/"
    fi
    "$bin" -seed="${FUZZ_SEED:-1}" -runs="${FUZZ_RUNS:-40000}" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=60 -print_final_stats=1 \
        -artifact_prefix="build/fuzz-artifacts/$name-" "$corpus" > "$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rm -rf "$corpus"
    if [ "$rc" -eq 0 ]; then
        echo "fuzz: PASS $name (${secs}s, ${runs:-?} runs)"
        echo "PASS $name" >> "$results"
    else
        echo "fuzz: FAIL $name (exit $rc; log $log)"
        grep -E 'ERROR|SUMMARY|Test unit written' "$log" | head -n 5 | sed 's/^/    /'
        echo "FAIL $name" >> "$results"
        failed=1
    fi
done
exit $failed
