#!/usr/bin/env bash
# tools/slurm_sweep.sh on a real throwaway Slurm cluster: starts munged, slurmctld and slurmd
# (one node, this host, on free ports, everything in a temporary directory), sweeps a 10-run spec
# as a 3-task job array with the report as a dependent job, and checks that every run has a
# result, that each task ran its own shard, that REPORT.md was written and that the results equal
# a local `sgdbench run` of the same spec. Also: a 1-based array (--array=1-3, --shard
# $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT) gives the same results; a failing array task makes
# `slurm_sweep.sh --wait` exit non-zero; resubmitting runs only the missing runs. The daemons and
# every process they started are killed and the directory removed on any exit, Ctrl-C included.
# Needs root and the Debian packages slurm-wlm and munge (else it prints "SKIP: ..." and exits 0).
# About 40 s on 2 cores. Usage: slurm_test.sh path/to/sgdbench
set -u
export PATH="$PATH:/usr/sbin:/sbin"
[ $# -eq 1 ] || { echo "usage: slurm_test.sh path/to/sgdbench" >&2; exit 2; }
bin="$1"
[ -x "$bin" ] || { echo "FAIL: $bin: not an executable"; exit 1; }
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
src=$(cd "$(dirname "$0")/.." && pwd)
sweep="$src/tools/slurm_sweep.sh"
t0=$SECONDS

skip() { echo "SKIP: slurm_test: $*"; exit 0; }
[ "$(id -u)" -eq 0 ] || skip "needs root (slurmd must run as root to start jobs; this is uid $(id -u))"
for c in munged munge slurmctld slurmd sbatch sinfo squeue scontrol scancel; do
  command -v "$c" > /dev/null || skip "'$c' not found (Debian packages: munge slurm-wlm)"
done
[ -x /usr/bin/python3 ] || skip "/usr/bin/python3 not found"

# A Slurm array task sets SLURM_ARRAY_*, which sgdbench reads: none of the caller's may leak in.
while read -r v; do unset "$v"; done < <(compgen -e | grep '^SLURM_')

# Short and in /tmp: unix socket paths (munge, slurmd's spool) must stay under 108 bytes, and
# munged wants every directory above its socket to be searchable by all.
tmp=$(mktemp -d /tmp/slurm_test.XXXXXX) || { echo "FAIL: mktemp"; exit 1; }
chmod 755 "$tmp"
conf="$tmp/slurm.conf"
tag="SGDBENCH_SLURM_TEST=$tmp"  # in the environment of every process this test starts under Slurm
pids=() ctld=""
fails=0

sl() { env SLURM_CONF="$conf" "$tag" "$@"; }  # a Slurm client (or daemon) of our cluster
alive() { [ -e "/proc/$1" ] && ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$1/stat" 2> /dev/null; }
cleanup() {
  trap '' INT TERM
  # Cancel our jobs so that slurmd's steps end them cleanly: at most 10 s, and only while
  # slurmctld runs (a client of a dead controller retries for a long time).
  if [ -n "$ctld" ] && alive "$ctld"; then
    local end=$((SECONDS + 10))
    sl timeout 5 scancel --quiet --full --user=root > /dev/null 2>&1
    while [ "$SECONDS" -lt "$end" ] && alive "$ctld" &&
      [ -n "$(sl timeout 2 squeue -h -o %i 2> /dev/null)" ]; do sleep 0.2; done
  fi
  local p
  for p in "${pids[@]}"; do kill -TERM "$p" 2> /dev/null; done
  for _ in $(seq 1 50); do
    local any=0
    for p in "${pids[@]}"; do alive "$p" && any=1; done
    [ "$any" -eq 0 ] && break
    sleep 0.1
  done
  for p in "${pids[@]}"; do alive "$p" && kill -KILL "$p" 2> /dev/null; done
  # Whatever is left of ours (slurmstepd, job processes): found by the tag in their environment.
  for _ in 1 2; do
    for p in /proc/[0-9]*; do
      p=${p#/proc/}
      [ "$p" != $$ ] && grep -qzx "$tag" "/proc/$p/environ" 2> /dev/null && kill -KILL "$p" 2> /dev/null
    done
  done
  for p in "${pids[@]}"; do wait "$p" 2> /dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'echo "slurm_test: interrupted"; exit 130' INT TERM HUP

fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
logs() {
  local f
  for f in "$tmp"/log/*.log "$tmp"/log/*.stderr "$tmp"/*.out "$tmp"/out/slurmtest/slurm/*.out "$tmp"/other/*.out; do
    [ -s "$f" ] || continue
    echo "---- ${f#"$tmp"/} (last 15 lines)"; tail -n 15 "$f"
  done
}
fatal() { fail "$*"; logs; exit 1; }

# ---- the cluster --------------------------------------------------------------------------
host=$(hostname -s 2> /dev/null || hostname)
[ -n "$host" ] || fatal "no host name"
mkdir -p "$tmp/munge" "$tmp/run" "$tmp/log" "$tmp/state" "$tmp/spool" "$tmp/out" "$tmp/other"
chmod 700 "$tmp/munge" "$tmp/state" "$tmp/spool"
chmod 755 "$tmp/run"
if command -v mungekey > /dev/null; then
  mungekey --create --bits=1024 --keyfile="$tmp/munge/munge.key" || fatal "mungekey"
else
  dd if=/dev/urandom of="$tmp/munge/munge.key" bs=128 count=1 status=none || fatal "dd munge key"
fi
chmod 400 "$tmp/munge/munge.key"
sock="$tmp/run/munge.sock"
# The daemons run in their own session (setsid execs them, so $! is theirs): a Ctrl-C, sent to
# the terminal's process group, reaches this script, whose trap stops them in order.
sl setsid munged --foreground --force --socket="$sock" --key-file="$tmp/munge/munge.key" \
  --pid-file="$tmp/run/munged.pid" --log-file="$tmp/log/munged.log" --seed-file="$tmp/munge/seed" \
  > "$tmp/log/munged.stderr" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  munge -n -S "$sock" 2> /dev/null | unmunge -S "$sock" > /dev/null 2>&1 && break
  alive "${pids[0]}" || fatal "munged exited: $(cat "$tmp/log/munged.stderr")"
  sleep 0.1
done
munge -n -S "$sock" 2> /dev/null | unmunge -S "$sock" > /dev/null 2>&1 || fatal "munged: no credential after 10 s"

free_ports() {  # two TCP ports nobody listens on now
  /usr/bin/python3 -c '
import socket
ss = [socket.socket() for _ in range(2)]
for s in ss: s.bind(("", 0))
print(*[s.getsockname()[1] for s in ss])'
}
write_conf() {
  cat > "$conf" <<EOF
# A throwaway one-node cluster for tests/slurm_test.sh (Slurm 22.05, no systemd/cgroups needed).
ClusterName=sgdtest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$1
SlurmdPort=$2
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$sock
CredType=cred/munge
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/run/slurmctld.pid
SlurmdPidFile=$tmp/run/slurmd.pid
SlurmctldLogFile=$tmp/log/slurmctld.log
SlurmdLogFile=$tmp/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
PlugStackConfig=$tmp/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
ReturnToService=2
KillWait=2
InactiveLimit=0
MailProg=/bin/true
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=200 State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
}
: > "$tmp/plugstack.conf"
# Up to 3 tries: a port found free may be taken by someone else before slurmctld binds it.
up=0
for try in 1 2 3; do
  read -r p1 p2 < <(free_ports) || fatal "no free ports"
  write_conf "$p1" "$p2"
  sl setsid slurmctld -D -f "$conf" > "$tmp/log/slurmctld.stderr" 2>&1 &
  ctld=$!
  sl setsid slurmd -D -N "$host" -f "$conf" > "$tmp/log/slurmd.stderr" 2>&1 &
  sd=$!
  pids+=("$ctld" "$sd")
  for _ in $(seq 1 150); do  # 30 s
    { alive "$ctld" && alive "$sd"; } || break
    [ "$(sl timeout 5 sinfo -h -N -o %T 2> /dev/null)" = idle ] && { up=1; break; }
    sleep 0.2
  done
  [ "$up" -eq 1 ] && break
  if alive "$ctld" && alive "$sd"; then fatal "timed out (30 s) waiting for node $host to be idle in sinfo"; fi
  grep -qi "address already in use" "$tmp"/log/slurm*.log "$tmp"/log/slurm*.stderr 2> /dev/null ||
    fatal "slurmctld or slurmd exited at start (try $try)"
  echo "slurm_test: port clash on $p1/$p2, retrying"
  kill -TERM "$ctld" "$sd" 2> /dev/null; wait "$ctld" "$sd" 2> /dev/null
  pids=("${pids[0]}")  # munged only
  rm -rf "$tmp/state"/* "$tmp/spool"/*
done
[ "$up" -eq 1 ] || fatal "could not start slurmctld/slurmd in 3 tries"
echo "slurm_test: cluster up on $host (ports $p1, $p2) after $((SECONDS - t0)) s"

# ---- the sweep ----------------------------------------------------------------------------
spec="$tmp/spec.json"
cat > "$spec" <<'SPEC'
{"experiment": "slurmtest", "base": {"model": "lenet", "epochs": 1, "batch_size": 8, "data": {"name": "synthetic", "synthetic": {"shape": [1, 28, 28], "train": 1000, "test": 200}}}, "grid": {"lr": [0.01, 0.02, 0.03, 0.04, 0.05], "batch_size": [8, "full"]}}
SPEC
histories() { /usr/bin/python3 "$src/tests/histories.py" "$1"; }
nresults() { find "$1" -maxdepth 1 -name '*.json' 2> /dev/null | wc -l; }
"$bin" --threads 1 run "$spec" --out "$tmp/local" --quiet > "$tmp/local.out" 2>&1 || fatal "local run: $(tail -n 3 "$tmp/local.out")"
local_h=$(histories "$tmp/local/slurmtest/runs")
[ "$(nresults "$tmp/local/slurmtest/runs")" -eq 10 ] || fatal "local run: not 10 results"

runs="$tmp/out/slurmtest/runs"
slogs="$tmp/out/slurmtest/slurm"
sweep_run() {  # sweep_run NAME sgdbench-binary: slurm_sweep.sh --wait into $tmp/out, output in NAME.out
  sl timeout 120 bash "$sweep" "$spec" --tasks 3 --wait --sgdbench "$2" --threads 1 --out "$tmp/out" \
    -- --partition=test --time=10 > "$tmp/$1.out" 2>&1
}
array_of() { sed -n 's/^array job: *\([0-9]*\).*/\1/p' "$tmp/$1.out"; }
# check_shards ARRAYJOB FIRST-TASK-ID LOGDIR: each task's log (LOGDIR/<job>_<task>.out) names its
# shard, the task and the array's range; the 3 shards hold 10 runs together.
check_shards() {
  local aid=$1 first=$2 dir=$3 k task f want line total=0
  for k in 1 2 3; do
    task=$((first + k - 1)); f="$dir/${aid}_$task.out"
    want="shard $k/3 (Slurm array task $task of $first-$((first + 2))) holds"
    line=$(grep -F "$want" "$f" 2> /dev/null | head -n 1 | sed -n 's/.* holds \([0-9]*\).*/\1/p')
    if [ -z "$line" ]; then fail "array $aid task $task: no '$want N' in $f"; continue; fi
    total=$((total + line))
  done
  [ "$total" -eq 10 ] || fail "array $aid: the 3 shards hold $total runs, not 10"
}

s=$SECONDS
sweep_run sweep "$bin"; rc=$?
[ "$rc" -ne 124 ] || fatal "timed out (120 s): slurm_sweep.sh --wait"
[ "$rc" -eq 0 ] || fatal "slurm_sweep.sh --wait: exit $rc: $(cat "$tmp/sweep.out")"
aid=$(array_of sweep)
[ -n "$aid" ] || fatal "no 'array job: ID' line in the slurm_sweep.sh output: $(cat "$tmp/sweep.out")"
grep -q "^report job: *[0-9]" "$tmp/sweep.out" || fail "no 'report job: ID' line in the slurm_sweep.sh output"
[ "$(nresults "$runs")" -eq 10 ] || fail "slurm sweep: $(nresults "$runs") results, not 10"
check_shards "$aid" 0 "$slogs"
[ -s "$tmp/out/slurmtest/REPORT.md" ] || fail "the report job wrote no REPORT.md"
[ "$(histories "$runs")" = "$local_h" ] || fail "slurm sweep results differ from the local run's"
echo "slurm_test: slurm_sweep.sh --tasks 3 --wait: $(nresults "$runs") results, array job $aid, $((SECONDS - s)) s"

# ---- a 1-based array, --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT -----------------
s=$SECONDS
cmd="$(printf %q "$bin") --threads 1 run $(printf %q "$spec") --shard \$SLURM_ARRAY_TASK_ID/\$SLURM_ARRAY_TASK_COUNT --out $(printf %q "$tmp/other") --quiet"
oaid=$(cd "$tmp" && sl timeout 90 sbatch --parsable --wait --array=1-3 --job-name=sgdbench-onebased \
  --output="$tmp/other/%A_%a.out" --wrap "$cmd" 2> "$tmp/onebased.err"); rc=$?
oaid=${oaid%%;*}
[ "$rc" -ne 124 ] || fatal "timed out (90 s): sbatch --wait --array=1-3"
[ "$rc" -eq 0 ] || fail "sbatch --wait --array=1-3: exit $rc (the highest task exit code): $(cat "$tmp/onebased.err")"
[ "$(nresults "$tmp/other/slurmtest/runs")" -eq 10 ] || fail "1-based array: $(nresults "$tmp/other/slurmtest/runs") results, not 10"
check_shards "$oaid" 1 "$tmp/other"
[ "$(histories "$tmp/other/slurmtest/runs")" = "$local_h" ] || fail "1-based array results differ from the local run's"
echo "slurm_test: sbatch --array=1-3 --shard \$SLURM_ARRAY_TASK_ID/\$SLURM_ARRAY_TASK_COUNT: $((SECONDS - s)) s"

# ---- a failing task makes --wait fail; resubmitting runs only what is missing ---------------
s=$SECONDS
mapfile -t ids < <("$bin" run "$spec" --out "$tmp/out" --dry-run | sed -n 's/^ *\[ *[0-9]*\] \([0-9a-f]*\) .*/\1/p')
[ "${#ids[@]}" -eq 10 ] || fatal "dry-run lists ${#ids[@]} run ids, not 10"
rm -f "$runs/${ids[0]}.json" "$runs/${ids[1]}.json" "$runs/${ids[2]}.json"  # one of each shard
kept=$(cd "$runs" && md5sum ./*.json)
cat > "$tmp/failing_sgdbench" <<EOF
#!/bin/bash
# array task 1 fails (exit 7) before running anything; everything else is the real sgdbench
[ "\${SLURM_ARRAY_TASK_ID:-}" = 1 ] && { echo "injected failure" >&2; exit 7; }
exec $(printf %q "$bin") "\$@"
EOF
chmod +x "$tmp/failing_sgdbench"
sweep_run failing "$tmp/failing_sgdbench"; rc=$?
[ "$rc" -ne 124 ] || fatal "timed out (120 s): slurm_sweep.sh --wait with a failing task"
[ "$rc" -ne 0 ] || fail "slurm_sweep.sh --wait exited 0 although array task 1 failed"
grep -q "array task 1: FAILED, exit code 7:0" "$tmp/failing.out" || fail "slurm_sweep.sh does not name the failed task: $(cat "$tmp/failing.out")"
[ "$(nresults "$runs")" -eq 9 ] || fail "after the failing resubmission: $(nresults "$runs") results, not 9"
faid=$(array_of failing)
grep -q "shard 1/3 (Slurm array task 0 of 0-2) holds 4; 3 already done, 1 to run" "$slogs/${faid}_0.out" ||
  fail "resubmitted task 0 did not skip its 3 finished runs: $(grep -h shard "$slogs/${faid}_0.out")"
grep -q "shard 3/3 (Slurm array task 2 of 0-2) holds 3; 2 already done, 1 to run" "$slogs/${faid}_2.out" ||
  fail "resubmitted task 2 did not skip its 2 finished runs: $(grep -h shard "$slogs/${faid}_2.out")"
sweep_run resume "$bin"; rc=$?
[ "$rc" -ne 124 ] || fatal "timed out (120 s): slurm_sweep.sh --wait, resuming"
[ "$rc" -eq 0 ] || fail "slurm_sweep.sh --wait, resuming: exit $rc: $(cat "$tmp/resume.out")"
raid=$(array_of resume)
grep -q "shard 2/3 (Slurm array task 1 of 0-2) holds 3; 2 already done, 1 to run" "$slogs/${raid}_1.out" ||
  fail "resumed task 1 did not run just its missing run: $(grep -h shard "$slogs/${raid}_1.out")"
[ "$(nresults "$runs")" -eq 10 ] || fail "after resuming: $(nresults "$runs") results, not 10"
(cd "$runs" && md5sum --quiet -c <<<"$kept") || fail "resubmitting rewrote finished results"
[ "$(histories "$runs")" = "$local_h" ] || fail "resumed results differ from the local run's"
echo "slurm_test: a failing task, then resuming: $((SECONDS - s)) s"

[ "$fails" -eq 0 ] || { logs; echo "slurm_test: $fails failure(s)"; exit 1; }
echo "slurm_test: PASS in $((SECONDS - t0)) s"
