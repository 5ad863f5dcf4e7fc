#!/usr/bin/env bash
# Runs an experiment spec as a Slurm job array, then its report as a dependent job.
#
#   tools/slurm_sweep.sh SPEC --tasks N [--out DIR] [--threads T] [--wait] [--sgdbench PATH]
#                        [-- SBATCH_OPTION ...]
#
# Submits N array tasks (sbatch --array=0-(N-1), job name sgdbench-<experiment>, T CPUs each);
# each runs `sgdbench --threads T run SPEC --out DIR`, which takes the task's shard of the grid
# from SLURM_ARRAY_TASK_ID/COUNT by itself. Then submits `/usr/bin/python3 tools/report.py
# DIR/<experiment>` with --dependency=afterany:<array job> (it runs even when a task failed, on
# the results there are). Logs: DIR/<experiment>/slurm/<jobid>_<task>.out and report_<jobid>.out.
# Resubmitting the same command reruns only the runs that have no result yet. See --help.
set -u

me=slurm_sweep.sh
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

usage() {
  cat <<EOF
Usage: tools/$me SPEC --tasks N [--out DIR] [--threads T] [--wait] [--sgdbench PATH] [-- SBATCH_OPTION ...]

Runs the experiment spec SPEC as a Slurm job array of N tasks, then tools/report.py as a job that
depends on it (afterany: it runs even if a task failed, on the results there are).

  SPEC             experiment spec (JSON); checked with 'sgdbench validate' before submitting
  --tasks N        array tasks (sbatch --array=0-(N-1)); task i runs shard i+1/N of the grid
  --out DIR        results root (default: results); results in DIR/<experiment>/runs/,
                   logs in DIR/<experiment>/slurm/<arrayjob>_<task>.out and report_<job>.out
  --threads T      CPUs per task (sbatch --cpus-per-task=T) and sgdbench --threads T (default 1)
  --wait           wait for the report job, then check every array task's final state and exit
                   1 if one did not complete with exit code 0 (or the report job failed)
  --sgdbench PATH  the sgdbench binary (default: build/sgdbench of this checkout, else sgdbench
                   on PATH)
  -- OPTION ...    everything after -- goes to sbatch for both jobs, e.g.
                   -- --partition=cpu --time=02:00:00 --mem=4G --account=myproj
  -h, --help       this help

SPEC, DIR, the binary and tools/report.py must be on a file system the compute nodes share; the
jobs get absolute paths, so they may start in any directory.

Resume: submit the same command again. Finished runs (a result file in DIR/<experiment>/runs/)
are skipped; only the missing ones run. N may differ from the first submission.

With --wait the final state of each task comes from sacct where accounting storage is enabled,
otherwise from 'scontrol show job' (the controller keeps finished jobs for MinJobAge, 300 s by
default), and when the controller no longer knows the job, from the last line each task writes
to its log ("slurm_sweep: task I exit CODE"). Ctrl-C stops waiting, not the jobs.

Exit status: 0 submitted (with --wait: all tasks and the report succeeded); 1 a submission
failed, or (with --wait) a task or the report job failed; 2 bad arguments or an invalid spec.
EOF
}

die_usage() { echo "$me: $*" >&2; exit 2; }
say() { echo "$me: $*"; }
posint() { [[ "$1" =~ ^[1-9][0-9]*$ ]]; }
quote() { printf '%q' "$1"; }

spec="" tasks="" out="results" threads=1 wait=0 bin=""
sbatch_extra=()
while [ $# -gt 0 ]; do
  opt="$1"; shift
  case "$opt" in
    -h|--help) usage; exit 0 ;;
    --wait) wait=1; continue ;;
    --) sbatch_extra=("$@"); break ;;
    --tasks=*|--out=*|--threads=*|--sgdbench=*) val="${opt#*=}"; opt="${opt%%=*}" ;;
    --tasks|--out|--threads|--sgdbench)
      [ $# -ge 1 ] || die_usage "$opt needs a value (see --help)"
      val="$1"; shift ;;
    -*) die_usage "unknown option '$opt' (see --help)" ;;
    *) [ -z "$spec" ] || die_usage "one SPEC only: got '$spec' and '$opt' (see --help)"
       spec="$opt"; continue ;;
  esac
  case "$opt" in
    --tasks) tasks="$val" ;;
    --out) out="$val" ;;
    --threads) threads="$val" ;;
    --sgdbench) bin="$val" ;;
  esac
done

[ -n "$spec" ] || die_usage "missing SPEC (see --help)"
[ -n "$tasks" ] || die_usage "missing --tasks N (see --help)"
posint "$tasks" || die_usage "--tasks '$tasks': expected a positive integer"
posint "$threads" || die_usage "--threads '$threads': expected a positive integer"
[ -n "$out" ] || die_usage "--out: empty directory name"
[ -f "$spec" ] || die_usage "spec '$spec': no such file"
spec="$(cd "$(dirname "$spec")" && pwd)/$(basename "$spec")"

if [ -z "$bin" ]; then
  if [ -x "$here/../build/sgdbench" ]; then bin="$here/../build/sgdbench"
  else bin=$(command -v sgdbench) || die_usage "no sgdbench: not built in $here/../build and not on PATH; use --sgdbench PATH"
  fi
fi
case "$bin" in */*) ;; *) bin=$(command -v "$bin") || die_usage "--sgdbench '$bin': not found on PATH" ;; esac
{ [ -f "$bin" ] && [ -x "$bin" ]; } || die_usage "--sgdbench '$bin': not an executable file"
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
report_py="$here/report.py"
[ -f "$report_py" ] || die_usage "$report_py: missing"
[ -x /usr/bin/python3 ] || die_usage "/usr/bin/python3: missing (the report step needs it)"
for c in sbatch scontrol squeue; do
  command -v "$c" > /dev/null || { echo "$me: '$c' not found: run this on a Slurm submit host" >&2; exit 1; }
done

# The experiment name (and a check that the spec is valid) from sgdbench itself:
# "<spec>: valid; experiment 'NAME', 10 runs".
if ! v=$("$bin" validate "$spec" 2>&1); then
  die_usage "spec '$spec' is not valid: $(head -n 1 <<<"$v")"
fi
exp=$(sed -n "s/.*: valid; experiment '\(.*\)', [0-9]* runs\$/\1/p" <<<"$v" | tail -n 1)
nruns=$(sed -n "s/.*: valid; experiment '.*', \([0-9]*\) runs\$/\1/p" <<<"$v" | tail -n 1)
[ -n "$exp" ] || { echo "$me: cannot read the experiment name from: $v" >&2; exit 1; }
[ "$tasks" -le "${nruns:-$tasks}" ] || say "note: $tasks tasks for $nruns runs: $((tasks - nruns)) task(s) will have nothing to do"

mkdir -p "$out" || { echo "$me: cannot create '$out'" >&2; exit 1; }
out="$(cd "$out" && pwd)"
expdir="$out/$exp"
logdir="$expdir/slurm"
mkdir -p "$logdir" || { echo "$me: cannot create '$logdir'" >&2; exit 1; }

# sbatch --parsable prints "jobid" or "jobid;cluster".
submit() {  # submit SBATCH_ARG... : submits $script (on stdin), prints the job id
  local id
  id=$(sbatch --parsable "$@" <<<"$script") || return 1
  id="${id%%;*}"
  [[ "$id" =~ ^[0-9]+$ ]] || { echo "$me: unexpected sbatch output '$id'" >&2; return 1; }
  echo "$id"
}

script="#!/bin/bash
# sgdbench array task, written by tools/$me. The shard comes from SLURM_ARRAY_TASK_ID/COUNT.
echo \"slurm_sweep: task \${SLURM_ARRAY_TASK_ID} of array job \${SLURM_ARRAY_JOB_ID} on \$(hostname), \$(date '+%F %T')\"
$(quote "$bin") --threads $threads run $(quote "$spec") --out $(quote "$out")
rc=\$?
echo \"slurm_sweep: task \${SLURM_ARRAY_TASK_ID} exit \$rc\"
exit \$rc"
array_id=$(submit --array="0-$((tasks - 1))" --job-name="sgdbench-$exp" --cpus-per-task="$threads" \
  --output="$logdir/%A_%a.out" "${sbatch_extra[@]}") || { echo "$me: submitting the array job failed" >&2; exit 1; }

script="#!/bin/bash
# sgdbench report, written by tools/$me; runs after array job $array_id.
echo \"slurm_sweep: report of $(quote "$expdir") after array job $array_id on \$(hostname), \$(date '+%F %T')\"
/usr/bin/python3 $(quote "$report_py") $(quote "$expdir")
rc=\$?
echo \"slurm_sweep: report exit \$rc\"
exit \$rc"
report_id=$(submit --dependency="afterany:$array_id" --job-name="sgdbench-$exp-report" \
  --output="$logdir/report_%j.out" "${sbatch_extra[@]}") || {
  echo "$me: submitting the report job failed; array job $array_id runs anyway (report later with:" \
       "/usr/bin/python3 $report_py $expdir)" >&2
  exit 1
}

say "experiment $exp: ${nruns:-?} runs in $tasks array tasks of $threads CPU(s)"
echo "array job:  $array_id (tasks 0-$((tasks - 1)))"
echo "report job: $report_id (after the array job ends)"
echo "follow:     squeue -j $array_id,$report_id      cancel: scancel $array_id $report_id"
echo "task logs:  $logdir/${array_id}_<task>.out"
echo "report log: $logdir/report_$report_id.out"
echo "results:    $expdir/runs/   report: $expdir/REPORT.md"
echo "resume:     run this same command again (finished runs are skipped)"
[ "$wait" -eq 1 ] || exit 0

# ---- --wait ----------------------------------------------------------------------------------
terminal() { case "$1" in COMPLETED|FAILED|CANCELLED*|TIMEOUT|NODE_FAIL|PREEMPTED|BOOT_FAIL|DEADLINE|OUT_OF_MEMORY|GONE) return 0 ;; esac; return 1; }

job_state() {  # JOBID -> its JobState (the first record's), GONE if purged, ERROR otherwise
  local o
  if o=$(scontrol show job -o "$1" 2>&1); then
    o=$(sed -n '1s/.* JobState=\([^ ]*\).*/\1/p' <<<"$o"); echo "${o:-ERROR}"
  elif grep -qi "invalid job id" <<<"$o"; then echo GONE
  else echo ERROR
  fi
}

trap 'echo; say "stopped waiting; the jobs go on (squeue -j $array_id,$report_id; scancel $array_id $report_id)"; exit 130' INT TERM
start=$SECONDS errors=0 last=""
while :; do
  st=$(job_state "$report_id")
  if [ "$st" = ERROR ]; then
    errors=$((errors + 1))
    [ "$errors" -le 60 ] || { echo "$me: cannot reach slurmctld for a while; giving up waiting (jobs $array_id, $report_id)" >&2; exit 1; }
  else
    errors=0
    terminal "$st" && break
  fi
  done_runs=$(find "$expdir/runs" -maxdepth 1 -name '*.json' 2>/dev/null | wc -l)
  counts=$(squeue -h -r -j "$array_id" -o %T 2>/dev/null | sort | uniq -c | awk '{printf "%s%d %s", sep, $1, tolower($2); sep=", "}')
  line="$done_runs/${nruns:-?} results; array: ${counts:-none left}; report: $st"
  [ "$line" = "$last" ] || say "[$((SECONDS - start)) s] $line"
  last="$line"
  el=$((SECONDS - start)); sleep $((el < 30 ? 1 : el < 300 ? 5 : 15))
done
say "[$((SECONDS - start)) s] report job $report_id: $st"

# Final state of every array task: "TASK STATE EXIT" lines.
states_sacct() {
  local o
  for _ in 1 2 3 4 5 6 7 8 9 10; do  # the database may lag behind the controller
    o=$(sacct -n -P -X -j "$1" -o JobID,State,ExitCode 2>/dev/null) || return 1
    [ -n "$o" ] || { sleep 3; continue; }
    if awk -F'|' '{split($2, s, " "); if (s[1] ~ /^(PENDING|RUNNING|REQUEUED|RESIZING|SUSPENDED|COMPLETING|CONFIGURING)$/) bad=1} END {exit bad}' <<<"$o"; then
      awk -F'|' '{id=$1; sub(/^[0-9]+_?/, "", id); split($2, s, " "); print (id == "" ? "-" : id), s[1], $3}' <<<"$o"
      return 0
    fi
    sleep 3
  done
  return 1
}
states_scontrol() {
  local o
  o=$(scontrol show job -o "$1" 2>/dev/null) || return 1
  [ -n "$o" ] || return 1
  sed -n 's/.* ArrayTaskId=\([^ ]*\) .* JobState=\([^ ]*\) .* ExitCode=\([^ ]*\).*/\1 \2 \3/p' <<<"$o"
}
fails=0
if s=$(states_sacct "$array_id") && [ -n "$s" ]; then src=sacct
elif s=$(states_scontrol "$array_id") && [ -n "$s" ]; then src="scontrol show job"
else src="task logs"; s=""
  for ((i = 0; i < tasks; i++)); do
    f="$logdir/${array_id}_$i.out"
    rc=$(sed -n 's/^slurm_sweep: task [0-9]* exit \([0-9]*\)$/\1/p' "$f" 2>/dev/null | tail -n 1)
    if [ "$rc" = 0 ]; then s+="$i COMPLETED 0:0"$'\n'
    elif [ -n "$rc" ]; then s+="$i FAILED $rc:0"$'\n'
    else s+="$i NO_EXIT_LINE_IN_LOG ?"$'\n'
    fi
  done
fi
completed=0
while read -r id state code; do
  [ -n "$id" ] || continue
  if [ "$state" = COMPLETED ] && [ "${code%%:*}" = 0 ]; then completed=$((completed + 1))
  else fails=$((fails + 1)); echo "$me: array task $id: $state, exit code $code; log: $logdir/${array_id}_${id}.out" >&2
  fi
done <<<"$s"
if [ "$fails" -eq 0 ] && [ "$completed" -lt "$tasks" ]; then
  fails=1; echo "$me: only $completed of $tasks array tasks are known to have completed ($src)" >&2
fi
results=$(find "$expdir/runs" -maxdepth 1 -name '*.json' 2>/dev/null | wc -l)
if [ "$fails" -eq 0 ]; then say "all $tasks array tasks completed (from $src); $results/${nruns:-?} results in $expdir/runs"
else say "$fails array task(s) failed (from $src); $results/${nruns:-?} results; resubmit the same command to run the missing ones"
fi

# The report job: COMPLETED (exit 0) by the controller, or, once the controller has forgotten it,
# by the last line of its log.
if [ "$st" = COMPLETED ] || { [ "$st" = GONE ] && grep -qx "slurm_sweep: report exit 0" "$logdir/report_$report_id.out" 2>/dev/null; }; then
  say "report: $expdir/REPORT.md"
else
  echo "$me: report job $report_id did not succeed ($st); log: $logdir/report_$report_id.out" >&2; fails=$((fails + 1))
fi
[ "$fails" -eq 0 ]
