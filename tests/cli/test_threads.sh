#!/usr/bin/env bash
# test_threads.sh - the thread rule, applied in one place (issue 17):
# --threads N, else a Slurm task's SLURM_CPUS_PER_TASK, else OpenMP's default
# (OMP_NUM_THREADS, else all cores); `-v` says which gave the count. And the
# count does not change what is written.
source "$(dirname "$0")/lib.sh"
for v in $(compgen -e | grep '^SLURM_'); do unset "$v"; done
PNG="$SAMPLES/m51_B_gray.png"

ae info -v --threads 3 "$PNG"
check_err "--threads 3 -> 3 threads" "info: 3 threads (--threads)"
SLURM_CPUS_PER_TASK=4 run "$ASTROENH" info -v "$PNG"
check_err "SLURM_CPUS_PER_TASK=4 -> 4 threads" "info: 4 threads (SLURM_CPUS_PER_TASK)"
SLURM_CPUS_PER_TASK=4 run "$ASTROENH" info -v --threads 2 "$PNG"
check_err "--threads wins over SLURM_CPUS_PER_TASK" "info: 2 threads (--threads)"
SLURM_CPUS_PER_TASK=bogus OMP_NUM_THREADS=5 run "$ASTROENH" info -v "$PNG"
check_err "a bad SLURM_CPUS_PER_TASK is ignored; OMP_NUM_THREADS=5 -> 5" "info: 5 threads (OpenMP default)"
ae info -v --threads 0 "$PNG"
check_rc "--threads 0 -> 2 (1..1024)" 2

# the same file from 1 thread, 2 threads and 2 jobs of 1 thread each
mkdir -p "$T/in" && cp "$PNG" "$SAMPLES/horsehead_dss_crop.fits" "$T/in/"
ae denoise --threads 1 "$T/in" -o "$T/t1"
check_rc "denoise --threads 1 -> 0" 0
ae denoise --threads 2 "$T/in" -o "$T/t2"
check_rc "denoise --threads 2 -> 0" 0
ae denoise --threads 2 --jobs 2 "$T/in" -o "$T/j2"
check_rc "denoise --threads 2 --jobs 2 -> 0" 0
for f in m51_B_gray.png horsehead_dss_crop.fits; do
    check "$f: --threads 1 and 2 write the same bytes" cmp -s "$T/t1/$f" "$T/t2/$f"
    check "$f: --jobs 2 writes the same bytes" cmp -s "$T/t1/$f" "$T/j2/$f"
done

finish
