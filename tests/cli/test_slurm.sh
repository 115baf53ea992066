#!/usr/bin/env bash
# test_slurm.sh - one batch split across a job array: --shard I/N and auto,
# shard locks, --skip-existing after a crash, SLURM_CPUS_PER_TASK, the
# `slurm` script and `slurm-summary`; then the same on a real single-node
# Slurm 22.05 (controller, node and munge started here under $T, stopped by
# their PIDs): an array over sample files equals a one-machine run bit for
# bit, a task killed half-way leaves the summary "NOT done", and submitting
# the same command again finishes only what is missing.
source "$(dirname "$0")/lib.sh"
# run inside a Slurm job or on a login node, the caller's cluster must not leak in
for v in $(compgen -e | grep '^SLURM_'); do unset "$v"; done

IN="$T/in"
mkdir -p "$IN/fits" "$IN/png"
cp "$SAMPLES"/* "$IN/"
cp "$FIXTURES"/fits/{decals_crop,horsehead_crop,m13_crop,m51_crop,saao_crop}.fits "$IN/fits/"
cp "$FIXTURES"/fits/horsehead_crop_rice.fits.fz "$IN/fits/"
cp "$FIXTURES"/png/{gray8,rgb8,gray16,rgb16,palette,graya}.png "$IN/png/"
NFILES=$(find "$IN" -type f | wc -l)
CMD=convert
stage_available denoise && CMD=denoise

# json_files LOG: the input files named by the per-file lines of LOG, sorted.
json_files() { sed -n 's/^{"file": "\([^"]*\)".*/\1/p' "$1" | sort; }
# count_status LOG STATUS
count_status() { grep -c "\"status\": \"$2\"" "$1"; }

# ---- --shard I/N: the shards partition the files; together they equal a plain run
ae "$CMD" -r -q "$IN" -o "$T/plain"
check_rc "plain run -> 0" 0
: >"$T/all_shards"
for i in 0 1 2; do
    ae "$CMD" -r --json --shard "$i/3" "$IN" -o "$T/sharded"
    check_rc "shard $i/3 -> 0" 0
    cp "$T/out" "$T/shard$i.json"
    json_files "$T/shard$i.json" >>"$T/all_shards"
done
check "each file in exactly one of 3 shards" \
    test "$(sort "$T/all_shards" | uniq | wc -l)" -eq "$NFILES" -a "$(wc -l <"$T/all_shards")" -eq "$NFILES"
check "no shard is empty or takes everything" \
    bash -c "for i in 0 1 2; do n=\$(grep -c '\"status\": \"ok\"' '$T/shard'\$i.json); ((n > 0 && n < $NFILES)) || exit 1; done"
check "3 shards' outputs == plain run, bit for bit" diff -r "$T/plain" "$T/sharded"
check "start line: shard, shards, files" grep -q '^{"event": "start", "command": "'"$CMD"'", "shard": 0, "shards": 3, "files": [0-9]' "$T/shard0.json"
check "end line with the counts" grep -q '^{"event": "end", "shard": 0, "shards": 3, "ok": [0-9]*, "failed": 0, "skipped": 0' "$T/shard0.json"
check "no lock files left" test -z "$(find "$T/sharded" -name '.astroenh*lock')"

# ---- shards of one array run at once into one tree
pids=()
for i in 0 1 2 3; do
    "$ASTROENH" "$CMD" -r -q --shard "$i/4" "$IN" -o "$T/parallel" 2>"$T/par$i.err" &
    pids+=($!)
done
prc=0
for p in "${pids[@]}"; do wait "$p" || prc=1; done
check "4 shards at once: all succeed" test "$prc" -eq 0
check "4 shards at once == plain run" diff -r "$T/plain" "$T/parallel"

# ---- --shard auto reads the Slurm array variables
SLURM_ARRAY_TASK_ID=5 SLURM_ARRAY_TASK_MIN=4 SLURM_ARRAY_TASK_COUNT=3 \
    run "$ASTROENH" info -r --json --shard auto "$IN"
check_rc "--shard auto in task 5 of 4-6 -> 0" 0
check "--shard auto = shard 1/3" diff <(json_files "$T/out") <(json_files "$T/shard1.json")
SLURM_ARRAY_TASK_ID=8 SLURM_ARRAY_TASK_MIN=0 SLURM_ARRAY_TASK_COUNT=3 SLURM_ARRAY_TASK_STEP=4 \
    run "$ASTROENH" info -r --json --shard auto "$IN"
check "--shard auto with a step: task 8 of 0-8:4 = shard 2/3" diff <(json_files "$T/out") <(json_files "$T/shard2.json")
env -u SLURM_ARRAY_TASK_ID "$ASTROENH" info --shard auto "$IN" >"$T/out" 2>"$T/err"
RC=$?
check_rc "--shard auto outside an array task -> 2" 2
check_err "--shard auto explains" "not a Slurm array task"
for bad in 3/3 1/0 -1/2 x 1/ /2 1/2x; do
    ae info --shard "$bad" "$IN"
    check_rc "--shard $bad -> 2" 2
done

# ---- the lock: shards together, not the same shard twice, not beside a plain run
mkdir -p "$T/lk"
flock -o "$T/lk/.astroenh.shard-1-of-3.lock" sleep 5 &
HOLDER=$!
for _ in $(seq 100); do flock -n "$T/lk/.astroenh.shard-1-of-3.lock" true 2>/dev/null || break; sleep 0.05; done
ae "$CMD" -r --shard 1/3 "$IN" -o "$T/lk"
check_rc "a second run of shard 1/3 -> 1" 1
check_err "it names the shard" "$T/lk is locked by another run of shard 1/3"
ae "$CMD" -r -q --shard 2/3 "$IN" -o "$T/lk"
check_rc "shard 2/3 runs beside shard 1/3 -> 0" 0
kill "$HOLDER" 2>/dev/null
wait "$HOLDER" 2>/dev/null
flock -o -s "$T/lk/.astroenh.lock" sleep 5 &
HOLDER=$!
for _ in $(seq 100); do flock -n "$T/lk/.astroenh.lock" true 2>/dev/null || break; sleep 0.05; done
ae "$CMD" -r "$IN" -o "$T/lk"
check_rc "an unsharded run while shards hold the tree -> 1" 1
check_err "it is told why" "$T/lk is locked by another astroenh run"
kill "$HOLDER" 2>/dev/null
wait "$HOLDER" 2>/dev/null

# ---- --skip-existing redoes an empty output (what a node crash can leave)
ae convert -q "$SAMPLES/m51_B_gray.png" -o "$T/skip/a.png"
cp "$T/skip/a.png" "$T/a.ref"
: >"$T/skip/a.png"
ae convert --skip-existing --json "$SAMPLES/m51_B_gray.png" -o "$T/skip/a.png"
check "--skip-existing: an empty output is written again" cmp -s "$T/skip/a.png" "$T/a.ref"
ae convert --skip-existing --json "$SAMPLES/m51_B_gray.png" -o "$T/skip/a.png"
check_out "--skip-existing: a complete one is skipped" '"status": "skipped"'

# ---- threads from SLURM_CPUS_PER_TASK unless --threads
SLURM_CPUS_PER_TASK=3 run "$ASTROENH" info -v "$SAMPLES/m51_B_gray.png"
check_err "SLURM_CPUS_PER_TASK=3 -> 3 threads" "info: 3 threads (SLURM_CPUS_PER_TASK)"
SLURM_CPUS_PER_TASK=3 run "$ASTROENH" info -v --threads 1 "$SAMPLES/m51_B_gray.png"
check "--threads wins over SLURM_CPUS_PER_TASK" bash -c "! grep -q SLURM_CPUS_PER_TASK '$T/err'"

# ---- slurm-summary over local shard logs: a failure by file, a killed shard
L0="$T/logs0"
mkdir -p "$L0" "$T/inbad"
cp "$IN"/*.png "$T/inbad/"
cp "$FIXTURES/fits/decals_truncated.fits" "$T/inbad/"
for i in 0 1; do
    "$ASTROENH" convert --json --shard "$i/2" "$T/inbad" -o "$T/obad" >"$L0/shard-$i.1.json" 2>/dev/null
done
ae slurm-summary "$L0"
check_rc "summary with a failed file -> 1" 1
check_out "the failed file and its error" "$T/inbad/decals_truncated.fits: "
check_out "counts" "files: 2 done (2 written by these jobs, 0 found done), 1 failed, 0 not reached"
check_out "shards" "shards: 2, 2 finished, 0 unfinished"
ae slurm-summary --files "$L0"
check "--files: each file with its state and time" \
    test "$(grep -cE "^  ok +[0-9]+\.[0-9]{3}  $T/inbad/.*\.png$" "$T/out")" -eq 2 -a \
         "$(grep -cE "^  error +-  $T/inbad/decals_truncated.fits$" "$T/out")" -eq 1
grep -v '"event": "end"' "$L0/shard-0.1.json" | head -n 2 >"$L0/shard-0.2.json"
ae slurm-summary "$L0"
check_out "a log without its end line: the shard is unfinished" "shard 0/2: unfinished: shard-0.2.json reports 1 of its"
rm "$L0/shard-0.2.json" "$T/inbad/decals_truncated.fits"
"$ASTROENH" convert --json --skip-existing --shard 0/2 "$T/inbad" -o "$T/obad" >"$L0/shard-0.3.json" 2>/dev/null
"$ASTROENH" convert --json --skip-existing --shard 1/2 "$T/inbad" -o "$T/obad" >"$L0/shard-1.3.json" 2>/dev/null
ae slurm-summary "$L0"
check_rc "after the bad file is gone and a rerun: every file done -> 0" 0
check_out "counts after the rerun" "files: 2 done (2 written by these jobs, 0 found done), 0 failed, 0 not reached"
ae slurm-summary "$T/nologs-here"
check_rc "summary of a missing directory -> 2" 2

# ---- astroenh slurm --no-submit: the script and its manifest
ae slurm --shards 4 --no-submit --log-dir "$T/L1" -p short -- "$CMD" -r "$IN" -o "$T/arr"
check_rc "slurm --no-submit -> 0" 0
check_out "the sbatch command" "sbatch -p short $T/L1/astroenh-slurm.sh"
check "script: array of 4" grep -qx '#SBATCH --array=0-3' "$T/L1/astroenh-slurm.sh"
check "script: each task its shard, skip-existing, json log" \
    grep -q -- "--shard \"\$SLURM_ARRAY_TASK_ID/4\" --skip-existing --json '-r' '$IN'.*>\"$T/L1/shard-\$SLURM_ARRAY_TASK_ID.\$SLURM_ARRAY_JOB_ID.json\"" "$T/L1/astroenh-slurm.sh"
ae slurm --shards 4 --no-submit --log-dir "$T/L1" -- "$CMD" -r "$IN" -o "$T/other"
check_rc "a different command into the same log dir -> 2" 2
check_err "it says why" "holds the logs of another command"
ae slurm --shards 4 --array=0-3 --no-submit --log-dir "$T/L2" -- "$CMD" "$IN" -o "$T/arr"
check_rc "slurm with --array -> 2" 2
ae slurm --shards 4 --no-submit --log-dir "$T/L2" -- eval "$IN"
check_rc "slurm of a non-file command -> 2" 2
ae slurm --no-submit --log-dir "$T/L2" -- "$CMD" "$IN" -o "$T/arr"
check_rc "slurm without --shards -> 2" 2

# ---- what astroenh slurm hands to sbatch (a stand-in sbatch records it)
mkdir -p "$T/fakebin"
cat >"$T/fakebin/sbatch" <<EOF
#!/bin/sh
printf '%s\n' "\$@" >"$T/sbatch.args"
env >"$T/sbatch.env"
echo "Submitted batch job 77"
EOF
chmod +x "$T/fakebin/sbatch"
env -u OMP_WAIT_POLICY -u OPENBLAS_CORETYPE -u AE_REEXECED PATH="$T/fakebin:$PATH" \
    "$ASTROENH" slurm --shards 2 --log-dir "$T/L3" -p short --mem=1G -- "$CMD" "$IN" -o "$T/arr3" >"$T/out" 2>"$T/err"
RC=$?
check_rc "slurm with a stand-in sbatch -> 0" 0
check "sbatch gets the options in order, then the script" \
    test "$(tr '\n' ' ' <"$T/sbatch.args")" = "-p short --mem=1G $T/L3/astroenh-slurm.sh "
check "the jobs do not inherit this CPU's tuned OpenBLAS/OpenMP settings" \
    bash -c "! grep -q '^OPENBLAS_CORETYPE=\|^OMP_WAIT_POLICY=\|^AE_REEXECED=' '$T/sbatch.env'"
check_err "it says where the logs are and how to summarize" "astroenh slurm-summary $T/L3"

# ==== a real Slurm ====

have_slurm() { command -v slurmctld && command -v slurmd && command -v sbatch && command -v munged; } >/dev/null 2>&1
if ! have_slurm && [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    apt_install() {
        DEBIAN_FRONTEND=noninteractive timeout 240 apt-get install -y -q -o DPkg::Lock::Timeout=120 \
            --no-install-recommends slurmctld slurmd slurm-client munge >>"$T/apt.log" 2>&1
    }
    apt_install || { timeout 120 apt-get update -q >>"$T/apt.log" 2>&1 && apt_install; }
fi
if ! have_slurm; then
    echo "skip - real Slurm checks: slurmctld/slurmd/slurm-client/munge are not installed and could not be" \
         "($( [[ $(id -u) == 0 ]] && tail -1 "$T/apt.log" 2>/dev/null || echo 'not root'))"
    finish
    exit $?
fi

S="$T/slurm"
DAEMONS=()
stop_slurm() {
    # only our private controller's jobs: SLURM_CONF is named explicitly
    [[ -f "$S/slurm.conf" ]] && SLURM_CONF="$S/slurm.conf" timeout 5 scancel --quiet --full --user="$(id -un)" 2>/dev/null
    local p
    for p in "${DAEMONS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${DAEMONS[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    DAEMONS=()
}
trap 'stop_slurm; [[ -n "${HOLD:-}" ]] && kill "$HOLD" 2>/dev/null; rm -rf "$T"' EXIT

start_munge() {
    mkdir -p "$S/munge-key" "$S/munge-run" "$S/log"
    chmod 700 "$S/munge-key"
    chmod 755 "$S/munge-run"
    dd if=/dev/urandom of="$S/munge-key/munge.key" bs=1024 count=1 status=none
    chmod 400 "$S/munge-key/munge.key"
    munged -F -f --key-file="$S/munge-key/munge.key" --socket="$S/munge-run/munge.sock" \
        --pid-file="$S/munge-run/munged.pid" --log-file="$S/log/munged.log" \
        --seed-file="$S/munge-key/seed" --origin=127.0.0.1 >"$S/log/munged.out" 2>&1 &
    DAEMONS+=($!)
    for _ in $(seq 100); do [[ -S "$S/munge-run/munge.sock" ]] && return 0; sleep 0.05; done
    return 1
}

# write_conf PORT: one node "aenode" at 127.0.0.1 with 4 CPUs whatever the
# machine has (config_overrides), so that the 4 tasks run at once.
write_conf() {
    mkdir -p "$S/state" "$S/spool"
    cat >"$S/slurm.conf" <<EOF
ClusterName=astroenhtest
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$1
SlurmdPort=$(($1 + 1))
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$S/munge-run/munge.sock
StateSaveLocation=$S/state
SlurmdSpoolDir=$S/spool
SlurmctldPidFile=$S/slurmctld.pid
SlurmdPidFile=$S/slurmd.pid
SlurmctldLogFile=$S/log/slurmctld.log
SlurmdLogFile=$S/log/slurmd.log
ProctrackType=proctrack/pgid
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/builtin
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
SlurmdParameters=config_overrides
ReturnToService=2
MpiDefault=none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
KillWait=1
InactiveLimit=0
NodeName=aenode NodeAddr=127.0.0.1 CPUs=4 State=UNKNOWN
PartitionName=aetest Nodes=aenode Default=YES MaxTime=INFINITE State=UP
EOF
    printf 'CgroupPlugin=cgroup/v1\nIgnoreSystemd=yes\n' >"$S/cgroup.conf"
}

# start_slurm: controller and node on a free pair of ports (three tries).
start_slurm() {
    export SLURM_CONF="$S/slurm.conf"
    local try
    for try in 1 2 3; do
        write_conf $((20000 + RANDOM % 30000))
        slurmctld -D -i -f "$S/slurm.conf" >"$S/log/slurmctld.out" 2>&1 &
        local ctld=$!
        slurmd -D -N aenode -f "$S/slurm.conf" >"$S/log/slurmd.out" 2>&1 &
        local sd=$!
        DAEMONS+=("$ctld" "$sd")
        for _ in $(seq 100); do
            [[ "$(sinfo -h -n aenode -o %t 2>/dev/null)" == idle ]] && return 0
            kill -0 "$ctld" 2>/dev/null && kill -0 "$sd" 2>/dev/null || break
            sleep 0.1
        done
        kill "$ctld" "$sd" 2>/dev/null
        wait "$ctld" "$sd" 2>/dev/null
        DAEMONS=("${DAEMONS[0]}")
    done
    return 1
}

t_start=$(date +%s%N)
if ! start_munge || ! start_slurm; then
    fail "a private Slurm starts (munge, slurmctld, slurmd)" "$(tail -3 "$S"/log/*.log "$S"/log/*.out 2>/dev/null | tr '\n' ' ')"
    finish
    exit $?
fi
pass "a private Slurm starts ($(( ($(date +%s%N) - t_start) / 1000000 )) ms)"

# A file whose open() hangs in the kernel, as on a hung (hard-mounted) file
# server or a tape-backed (HSM) file system: an fanotify permission listener
# (root) leaves every open of $T/stuck/late.fits unanswered until it ends. The
# file is regular, so astroenh's refusal of FIFOs and devices does not apply.
# Its shard's task is killed while held there, its other files done.
mkdir -p "$T/stuck" "$T/probe"
cp "$SAMPLES/horsehead_dss_crop.fits" "$T/probe/late.fits"
K=
for i in 0 1 2 3; do
    "$ASTROENH" info --json --shard "$i/4" "$T/probe/late.fits" 2>/dev/null | grep -q '"file"' && K=$i
done
cp "$SAMPLES/horsehead_dss_crop.fits" "$T/stuck/late.fits"
cat >"$T/hold_open.py" <<'EOF'
# hold_open.py FILE READY PIDS: answers no FAN_OPEN_PERM event of FILE (each
# opener waits in open()) and appends the openers' pids to PIDS; the opens
# go through when this process ends (the kernel allows what is unanswered).
import ctypes, os, struct, sys
path, ready, pids = sys.argv[1:4]
libc = ctypes.CDLL(None, use_errno=True)
libc.fanotify_init.argtypes = [ctypes.c_uint, ctypes.c_uint]
libc.fanotify_mark.argtypes = [ctypes.c_int, ctypes.c_uint, ctypes.c_uint64, ctypes.c_int, ctypes.c_char_p]
fd = libc.fanotify_init(0x4 | 0x1, os.O_RDONLY)  # FAN_CLASS_CONTENT | FAN_CLOEXEC
if fd < 0 or libc.fanotify_mark(fd, 0x1, 0x10000, -100, path.encode()) != 0:  # FAN_MARK_ADD, FAN_OPEN_PERM, AT_FDCWD
    sys.exit("fanotify: " + os.strerror(ctypes.get_errno()))
open(ready, "w").close()
while True:
    buf, off = os.read(fd, 4096), 0
    while off + 24 <= len(buf):  # struct fanotify_event_metadata
        length, _, _, _, _, _, pid = struct.unpack_from("IBBHQii", buf, off)
        with open(pids, "a") as f:
            f.write("%d\n" % pid)
        off += length
EOF
python3 "$T/hold_open.py" "$T/stuck/late.fits" "$T/hold.ready" "$T/hold.pids" 2>"$T/hold.err" &
HOLD=$!
for _ in $(seq 100); do [[ -e "$T/hold.ready" ]] || ! kill -0 "$HOLD" 2>/dev/null && break; sleep 0.05; done
if [[ -e "$T/hold.ready" ]]; then pass "opens of late.fits can be held (fanotify, root)"
else fail "opens of late.fits can be held (fanotify, root)" "$(cat "$T/hold.err")"; fi
# term_pending PID: SIGTERM is queued for PID, not yet handled
term_pending() {
    local v
    for v in $(sed -n 's/^\(ShdPnd\|SigPnd\):\s*//p' "/proc/$1/status" 2>/dev/null); do
        ((0x$v & 0x4000)) && return 0
    done
    return 1
}
SHARD_LOCK="$T/arr/.astroenh.shard-$K-of-4.lock"
L="$T/L"
ae slurm --shards 4 --log-dir "$L" --cpus-per-task=1 -- "$CMD" -r -v "$IN" "$T/stuck/late.fits" -o "$T/arr"
check_rc "astroenh slurm submits -> 0" 0
JOB=$(sed -n 's/^Submitted batch job \([0-9]*\).*/\1/p' "$T/out")
check "sbatch's job id is shown" test -n "$JOB"
stalled=0
for _ in $(seq 300); do
    KFILES=$(sed -n 's/.*"shard": '"$K"', "shards": 4, "files": \([0-9]*\).*/\1/p' "$L"/shard-"$K".*.json 2>/dev/null)
    ends=$(cat "$L"/shard-*.json 2>/dev/null | grep -c '"event": "end"')
    kok=$(cat "$L"/shard-"$K".*.json 2>/dev/null | grep -c '"status": "ok"')
    TPID=$(head -n 1 "$T/hold.pids" 2>/dev/null)
    if [[ -n "$KFILES" && "$ends" == 3 && "$kok" == $((KFILES - 1)) && -n "$TPID" ]]; then stalled=1; break; fi
    sleep 0.1
done
check "3 tasks end, task $K hangs opening late.fits after its other files" test "$stalled" -eq 1
check "the hung task is the one of shard $K" grep -q "\"pid\": $TPID," "$L/shard-$K.$JOB.json"
check "while it hangs, it holds its shard lock" bash -c "test -e '$SHARD_LOCK' && ! flock -n '$SHARD_LOCK' true"
scancel "${JOB}_$K"
# SIGTERM waits while open() is held (a killable wait, as on a hard NFS
# mount); once it is queued the listener ends, open() returns, the handler runs
term=0
for _ in $(seq 250); do term_pending "$TPID" && term=1 && break; sleep 0.02; done
kill "$HOLD" 2>/dev/null
wait "$HOLD" 2>/dev/null
HOLD=
check "scancel's SIGTERM reaches the hung task" test "$term" -eq 1
for _ in $(seq 100); do [[ -z "$(squeue -h -j "$JOB" 2>/dev/null)" ]] && break; sleep 0.1; done
check "the killed task has left the queue" test -z "$(squeue -h -j "$JOB" 2>/dev/null)"
check "task used SLURM_CPUS_PER_TASK (--cpus-per-task=1)" grep -q "$CMD: 1 threads (SLURM_CPUS_PER_TASK)" "$L/shard-0.$JOB.out"
ae slurm-summary "$L"
check_rc "summary after the kill -> 1" 1
check_out "it names the unfinished shard" "shard $K/4: unfinished: shard-$K.$JOB.json reports $((KFILES - 1)) of its $KFILES files"
check_out "the others done, the stalled file not reached" \
    "files: $NFILES done ($NFILES written by these jobs, 0 found done), 0 failed, 1 not reached"
check_out "it says what to do" "result: NOT done"
check "no temp files after the kill" no_temp_files "$T/arr"

check "SIGTERM removed the killed task's own (exclusive) shard lock" test ! -e "$SHARD_LOCK"
check "the shared lock file it leaves blocks no one" flock -n "$T/arr/.astroenh.lock" true

# the file server is back (the listener ended): the same command again finishes the rest
ae slurm --shards 4 --log-dir "$L" --cpus-per-task=1 --wait -- "$CMD" -r -v "$IN" "$T/stuck/late.fits" -o "$T/arr"
check_rc "resubmission with --wait: every file done -> 0" 0
check_out "its summary says so" "result: every file is done"
JOB2=$(sed -n 's/^Submitted batch job \([0-9]*\).*/\1/p' "$T/out")
cat "$L"/shard-*."$JOB2".json >"$T/second.json"
check "the resubmission wrote only the missing file" test "$(count_status "$T/second.json" ok)" -eq 1
check "and skipped the $NFILES done before" test "$(count_status "$T/second.json" skipped)" -eq "$NFILES"
check "the missing one was the stalled file" grep -q "\"file\": \"$T/stuck/late.fits\".*\"status\": \"ok\"" "$T/second.json"
# one task again by hand: the script names its shard, so --array=K alone is shard K/4, not 0/1
run sbatch --wait --array="$K" "$L/astroenh-slurm.sh"
check_rc "sbatch --array=$K of the script -> 0" 0
JOB3=$(sed -n 's/^Submitted batch job \([0-9]*\).*/\1/p' "$T/out")
check "task $K alone handles shard $K/4 only, all skipped" \
    test "$(count_status "$L/shard-$K.$JOB3.json" skipped)" -eq "$KFILES" -a "$(grep -c '"file"' "$L/shard-$K.$JOB3.json")" -eq "$KFILES"
ae slurm-summary "$L"
check_rc "summary still: every file done -> 0" 0
ae "$CMD" -r -q "$IN" "$T/stuck/late.fits" -o "$T/plain2"
check "array outputs == one-machine run, bit for bit" diff -r "$T/plain2" "$T/arr"
check "no lock or temp files left" test -z "$(find "$T/arr" -name '.astroenh*' -o -name '.*.tmp-*')"

# --shard auto in real array tasks, with a step: tasks 1,3,5,7 are shards 0..3 of 4
mkdir -p "$T/auto"
cat >"$T/auto.sh" <<EOF
#!/bin/bash
exec "$ASTROENH" info -r --json --shard auto "$IN" >"$T/auto/\$SLURM_ARRAY_TASK_ID.json"
EOF
run sbatch --wait --array=1-7:2 --output=/dev/null "$T/auto.sh"
check_rc "an array 1-7:2 of 'info --shard auto' -> 0" 0
auto_ok=1
for k in 0 1 2 3; do
    "$ASTROENH" info -r --json --shard "$k/4" "$IN" >"$T/auto/ref$k.json" 2>/dev/null
    diff -q <(json_files "$T/auto/$((2 * k + 1)).json") <(json_files "$T/auto/ref$k.json") >/dev/null || auto_ok=0
    grep -q "\"shard\": $k, \"shards\": 4," "$T/auto/$((2 * k + 1)).json" || auto_ok=0
done
check "task 2k+1 of 1-7:2 processed exactly shard k/4" test "$auto_ok" -eq 1

stop_slurm
check "the daemons are stopped" bash -c "! ps -eo args | grep -q '[s]lurmctld -D -i -f $S/slurm.conf'"
finish
