#!/usr/bin/env bash
# test_help_options.sh - help and parser agree (issue 17: one option table per
# stage, help generated from it). For each stage, `run` and `convert`:
#   - every option of its table(s) in the source appears in its --help;
#   - every --option its --help mentions is taken by its parser (as
#     `--option --help`: a flag shows the help, an option with a value takes
#     "--help" as its value and may refuse it, but none is "unknown").
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

# table_options FILE:TABLE...: the option names of the ae_opt array TABLE in FILE.
table_options() {
    local ft
    for ft in "$@"; do
        awk -v t="${ft#*:}" '$0 ~ "ae_opt " t "\\[\\] = " {on = 1} on {print} on && /\.name = NULL/ {on = 0}' "${ft%%:*}"
    done | grep -o '\.name = "--[a-z0-9-]*"' | sed 's/.*"\(--[a-z0-9-]*\)"/\1/' | sort -u
}

# check_command CMD FILE:TABLE...: both checks for `astroenh CMD`, whose
# options are those TABLEs and the common ones.
check_command() {
    local cmd=$1 opt missing="" unknown="" n=0
    shift
    ae "$cmd" --help
    check_rc "$cmd --help -> 0" 0
    cp "$T/out" "$T/help"
    for opt in $(table_options "$@" src/cli/options.c:k_io_options src/cli/options.c:k_global_options); do
        n=$((n + 1))
        grep -qE -- "(^|[ ,])$opt( |$)" "$T/help" || missing+=" $opt"
    done
    check "$cmd: the $n table options are all in --help${missing:+ (missing:$missing)}" test -z "$missing"
    n=0
    for opt in $(grep -o -- '--[a-z][a-z0-9-]*' "$T/help" | sort -u); do
        n=$((n + 1))
        ae "$cmd" "$opt" --help
        if grep -q "unknown option" "$T/err"; then unknown+=" $opt"; fi
    done
    check "$cmd: the $n options --help names all parse${unknown:+ (unknown:$unknown)}" test -z "$unknown"
}

n_stages=0
for st in $("$ASTROENH" --list-stages); do
    n_stages=$((n_stages + 1))
    check_command "$st" "src/$st/stage.c:k_options"
done
check "the three stages are built" test "$n_stages" = 3
check_command run src/denoise/stage.c:k_options src/colorize/stage.c:k_options src/upscale/stage.c:k_options \
    src/cli/cmd_process.c:k_run_options
check_command convert src/cli/cmd_process.c:k_convert_options

# the source scan itself finds the tables (so the checks above cannot pass on nothing)
check "the denoise table is read from the source" test "$(table_options src/denoise/stage.c:k_options | wc -l)" = 12
check "the common tables are read from the source" \
    test "$(table_options src/cli/options.c:k_io_options src/cli/options.c:k_global_options | wc -l)" = 17

finish
