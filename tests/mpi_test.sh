#!/usr/bin/env bash
# Sweeps over MPI ranks (mpirun -n 2, and -n 3 --oversubscribe on 2 cores): every run's result
# equals a local run's (histories and final-state hashes, not times); the queue is dynamic (one long
# run does not hold back the short ones); a spec error is one line and the same exit code on every
# rank; a rank killed with SIGKILL loses no finished result and rerunning resumes; SIGTERM to mpirun
# stops all ranks and keeps what finished. Usage: mpi_test.sh path/to/sgdbench
set -u
bin="$1"; here="$(cd "$(dirname "$0")" && pwd)"; tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
if ! command -v mpirun > /dev/null; then echo "FAIL: mpirun not found (tools/setup.sh installs openmpi-bin)"; exit 1; fi
if ! "$bin" info | grep -q "^MPI *yes"; then echo "FAIL: $bin was built without MPI (SGDBENCH_MPI=OFF)"; exit 1; fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=0
fails=0
fail() { echo "FAIL: $*"; fails=$((fails+1)); }
histories() { /usr/bin/python3 "$here/histories.py" "$1"; }
mpi() { timeout 300 mpirun --bind-to none "$@"; }

cat > "$tmp/spec.json" <<'SPEC'
{"experiment": "mpitest",
 "base": {"model": "lenet", "epochs": 1, "batch_size": 8,
          "data": {"name": "synthetic", "synthetic": {"shape": [1, 28, 28], "train": 1000, "test": 200}}},
 "grid": {"lr": [0.01, 0.02, 0.03, 0.04, 0.05], "batch_size": [8, "full"]}}
SPEC
"$bin" --threads 1 run "$tmp/spec.json" --out "$tmp/local" --quiet > /dev/null 2>&1 || fail "local run"
local_h=$(histories "$tmp/local/mpitest/runs")
[ "$(echo "$local_h" | wc -l)" -eq 10 ] || fail "local run: expected 10 results"

# 1. -n 2 and -n 3: the same results as the local run; rank 0 prints the plan and one line per run.
for n in 2 3; do
  extra=""; [ "$n" -gt 2 ] && extra="--oversubscribe"
  mpi -n "$n" $extra "$bin" run "$tmp/spec.json" --out "$tmp/n$n" > "$tmp/n$n.out" 2> "$tmp/n$n.err"
  rc=$?
  [ "$rc" -eq 0 ] || { fail "-n $n: exit $rc"; cat "$tmp/n$n.err"; }
  grep -q "10 to run; $n MPI ranks x 1 thread(s)" "$tmp/n$n.out" || fail "-n $n: plan line: $(head -1 "$tmp/n$n.out")"
  [ "$(grep -c '^experiment ' "$tmp/n$n.out")" -eq 1 ] || fail "-n $n: the plan is printed once, by rank 0"
  [ "$(grep -c '^done [0-9]*/10 \[rank [0-9]\]' "$tmp/n$n.err")" -eq 10 ] || fail "-n $n: one 'done k/10 [rank r]' line per run"
  [ "$(histories "$tmp/n$n/mpitest/runs")" = "$local_h" ] || fail "-n $n: results differ from the local run's"
  # a rerun resumes: nothing to do
  mpi -n "$n" $extra "$bin" run "$tmp/spec.json" --out "$tmp/n$n" --quiet > "$tmp/re.out" 2>&1 || fail "-n $n: rerun"
  grep -q "10 already done, 0 to run" "$tmp/re.out" || fail "-n $n: rerun plan: $(head -1 "$tmp/re.out")"
done

# 2. Dynamic queue: run 0 is long (GD, 150 epochs); the 7 short ones all go to the other rank.
cat > "$tmp/queue.json" <<'SPEC'
{"experiment": "queue",
 "base": {"model": "keras_mnist_mlp", "epochs": 1, "batch_size": 50,
          "data": {"name": "synthetic", "synthetic": {"shape": [1, 28, 28], "train": 500, "test": 100}}},
 "grid": {"variants": [{"batch_size": "full", "epochs": 150, "lr": 0.1},
                       {"grid": {"lr": [0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07]}}]}}
SPEC
mpi -n 2 "$bin" run "$tmp/queue.json" --out "$tmp/q" > /dev/null 2> "$tmp/q.err" || fail "queue: exit $?"
short_on_one_rank=$(grep "bs=50" "$tmp/q.err" | grep -o '\[rank [01]\]' | sort | uniq -c | sort -rn | head -1 | awk '{print $1}')
[ "${short_on_one_rank:-0}" -eq 7 ] || { fail "queue: the 7 short runs were not all taken by the free rank"; cat "$tmp/q.err"; }

# 3. A spec error: one line, exit 3 (spec), from every rank.
echo '{"experiment": "bad", "base": {"epochs": 0}}' > "$tmp/bad.json"
mpi -n 2 "$bin" run "$tmp/bad.json" > "$tmp/bad.out" 2>&1
rc=$?
[ "$rc" -eq 3 ] || fail "spec error: exit $rc, expected 3"
[ "$(grep -c '^sgdbench: spec error: .*bad.json: base.epochs' "$tmp/bad.out")" -eq 1 ] || { fail "spec error: not one line"; cat "$tmp/bad.out"; }

# 4. SIGKILL one rank mid-sweep: mpirun ends the job, finished results are complete, a rerun
#    computes only the missing runs and every result equals the local run's. The runs are long
#    enough (about 1.5 s each, 6 on 2 ranks) that the signals in 4-6, sent once 2 results exist,
#    land with seconds to spare even on a loaded machine: with 0.3 s runs the sweep once finished
#    before SIGTERM arrived.
cat > "$tmp/kill.json" <<'SPEC'
{"experiment": "mpitest",
 "base": {"model": "lenet", "epochs": 20, "batch_size": 8,
          "data": {"name": "synthetic", "synthetic": {"shape": [1, 28, 28], "train": 2500, "test": 200}}},
 "grid": {"lr": [0.01, 0.02, 0.03, 0.04, 0.05, 0.06]}}
SPEC
"$bin" --threads 1 run "$tmp/kill.json" --out "$tmp/klocal" --quiet > /dev/null 2>&1 || fail "local kill-spec run"
mpi -n 2 "$bin" run "$tmp/kill.json" --out "$tmp/k" --quiet > /dev/null 2>&1 &
mpid=$!
for _ in $(seq 1 600); do [ "$(ls "$tmp/k/mpitest/runs/"*.json 2>/dev/null | wc -l)" -ge 2 ] && break; sleep 0.05; done
victim=$(pgrep -f "^$bin run $tmp/kill.json" | tail -1)
[ -n "$victim" ] && kill -9 "$victim"
wait "$mpid"; rc=$?
[ "$rc" -ne 0 ] || fail "kill: mpirun exited 0 after a rank was killed"
before=$(ls "$tmp/k/mpitest/runs/"*.json 2>/dev/null | wc -l)
[ "$before" -ge 2 ] && [ "$before" -lt 6 ] || fail "kill: $before results before the rerun (expected 2-5)"
mpi -n 2 "$bin" run "$tmp/kill.json" --out "$tmp/k" > "$tmp/k.out" 2>&1 || fail "kill: rerun exit $?"
grep -q "$before already done, $((6 - before)) to run" "$tmp/k.out" || fail "kill: rerun plan: $(head -1 "$tmp/k.out")"
[ "$(histories "$tmp/k/mpitest/runs")" = "$(histories "$tmp/klocal/mpitest/runs")" ] || fail "kill: results differ"
ls "$tmp/k/mpitest/runs" | grep -q '\.tmp\.' && fail "kill: a temp file was left behind after the rerun"

# 5. SIGTERM to mpirun (what scancel and a batch system's time limit send; a background job in a
#    script ignores SIGINT): mpirun passes SIGTERM on, every rank stops at a step boundary and rank 0
#    says what was kept.
mpi -n 2 "$bin" run "$tmp/kill.json" --out "$tmp/i" > /dev/null 2> "$tmp/i.err" &
mpid=$!
for _ in $(seq 1 600); do [ "$(ls "$tmp/i/mpitest/runs/"*.json 2>/dev/null | wc -l)" -ge 2 ] && break; sleep 0.05; done
pkill -TERM -f "^mpirun .*--out $tmp/i\$"; wait "$mpid"
grep -q "^sgdbench: interrupted by SIG[A-Z]*: [0-9]* of 6 runs finished and kept" "$tmp/i.err" \
  || { fail "SIGTERM: no 'interrupted' line from rank 0"; cat "$tmp/i.err"; }
pgrep -f "^$bin run $tmp/kill.json" > /dev/null && fail "SIGTERM: ranks still running"

# 6. SIGTERM to one worker rank only (a node preempted): the whole sweep stops, rank 0 says what was
#    kept (no run handed to the signalled rank is thrown away), and a rerun completes the rest.
mpi -n 2 "$bin" run "$tmp/kill.json" --out "$tmp/w" > /dev/null 2> "$tmp/w.err" &
mpid=$!
for _ in $(seq 1 600); do [ "$(ls "$tmp/w/mpitest/runs/"*.json 2>/dev/null | wc -l)" -ge 2 ] && break; sleep 0.05; done
for p in $(pgrep -f "^$bin run $tmp/kill.json --out $tmp/w\$"); do
  grep -qz '^OMPI_COMM_WORLD_RANK=1$' "/proc/$p/environ" 2>/dev/null && kill -TERM "$p"
done
wait "$mpid"
grep -q "^sgdbench: interrupted by SIGTERM: [0-9]* of 6 runs finished and kept" "$tmp/w.err" \
  || { fail "SIGTERM to rank 1: no 'interrupted' line from rank 0"; cat "$tmp/w.err"; }
kept=$(ls "$tmp/w/mpitest/runs/"*.json 2>/dev/null | wc -l)
[ "$kept" -lt 6 ] || fail "SIGTERM to rank 1: the sweep went on to the end ($kept results)"
mpi -n 2 "$bin" run "$tmp/kill.json" --out "$tmp/w" --quiet > /dev/null 2>&1 || fail "SIGTERM to rank 1: rerun"
[ "$(histories "$tmp/w/mpitest/runs")" = "$(histories "$tmp/klocal/mpitest/runs")" ] || fail "SIGTERM to rank 1: results differ"

# 7. A run another process holds the claim of (here `flock`): the ranks compute the others, rank 0
#    waits for it, and when its holder dies (kill -9) a rank takes it over.
mkdir -p "$tmp/c/mpitest/runs"
id=$("$bin" run "$tmp/spec.json" --out "$tmp/c" --dry-run 2>/dev/null | awk '$1 == "[" && $2 == "2]" {print $3}')
flock -o "$tmp/c/mpitest/runs/$id.claim" sleep 60 > /dev/null 2>&1 & holder=$!
sleep 0.2
mpi -n 2 "$bin" run "$tmp/spec.json" --out "$tmp/c" > /dev/null 2> "$tmp/c.err" & mpid=$!
for _ in $(seq 1 1200); do grep -q "waiting for 1 run(s) that another process is computing" "$tmp/c.err" && break; sleep 0.05; done
grep -q "waiting for 1 run(s) that another process is computing" "$tmp/c.err" || fail "claimed run: no 'waiting' line"
for _ in $(seq 1 600); do [ "$(ls "$tmp"/c/mpitest/runs/*.json | wc -l)" -ge 9 ] && break; sleep 0.05; done
[ "$(ls "$tmp"/c/mpitest/runs/*.json | wc -l)" -eq 9 ] && [ ! -e "$tmp/c/mpitest/runs/$id.json" ] \
  || fail "claimed run: the 9 others should be done, and not the claimed one, while its holder lives"
child=$(pgrep -P "$holder"); kill -9 "$holder"; wait "$holder" 2>/dev/null; kill $child 2>/dev/null
wait "$mpid" || fail "claimed run: exit $?"
[ "$(histories "$tmp/c/mpitest/runs")" = "$local_h" ] || fail "claimed run: results differ from the local run's"

[ "$fails" -eq 0 ] && echo "mpi_test: all passed" || exit 1
