#!/usr/bin/env bash
# test_precision.sh - --precision fp32|fp16, a global option (issue 17: the
# CUDA precision came only from an environment variable): a bad value is
# refused naming the option, before any output; on the CPU it changes nothing.
source "$(dirname "$0")/lib.sh"
PNG="$FIXTURES/cli_asym.png"

ae upscale --precision fp8 "$PNG" -o "$T/bad.png"
check_rc "--precision fp8 -> 2" 2
check_err "the message names the option and the values" "bad value 'fp8' for --precision (fp32 or fp16)"
check "no output from the refused run" test ! -e "$T/bad.png"
ae --precision=half info "$PNG"
check_rc "before the command too: --precision=half -> 2" 2
check_err "... named" "bad value 'half' for --precision"

ae upscale --device cpu --precision fp32 "$PNG" -o "$T/fp32.png"
check_rc "--precision fp32 -> 0" 0
ae upscale --device cpu --precision=fp16 "$PNG" -o "$T/fp16.png"
check_rc "--precision=fp16 -> 0" 0
check "on the CPU fp16 writes the same bytes as fp32" cmp -s "$T/fp32.png" "$T/fp16.png"

ae upscale --help
check_out "help lists it with its values" "--precision fp32|fp16"
check_out "help says it is the CUDA backend's" "arithmetic of the CUDA backend"
check_out "help shows the default" "(default fp32)"

finish
