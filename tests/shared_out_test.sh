#!/usr/bin/env bash
# Two processes on one spec and one --out (issue 13, class 4): every run is computed exactly once
# (per-run claims, src/exp/claim.hpp), the results equal one process's (histories and final-state
# hashes, times excluded); when one process is killed (-9) the other takes over the run it held;
# a different spec under the same experiment name is refused unless --allow-mixed.
# Usage: shared_out_test.sh path/to/sgdbench [trials]
set -u
bin="$1"; trials="${2:-2}"; tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails+1)); }
histories() { /usr/bin/python3 "$(dirname "$0")/histories.py" "$1"; }
cat > "$tmp/spec.json" <<'SPEC'
{"experiment": "shared",
 "base": {"model": "lenet", "epochs": 1, "batch_size": 8,
          "data": {"name": "synthetic", "synthetic": {"shape": [1, 28, 28], "train": 3000, "test": 300}}},
 "grid": {"lr": [0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08]}}
SPEC
run() { "$bin" --threads 1 run "$tmp/spec.json" "$@"; }  # one core each: two share this 2-core machine
run --out "$tmp/clean" --quiet > /dev/null 2>&1 || fail "clean run"
clean=$(histories "$tmp/clean/shared/runs")
computed() { cat "$@" | grep -cE '^done [0-9]+/[0-9]+ .*: (completed|diverged|target|budget)'; }

# 1. Two at once: each run computed by exactly one of them.
for t in $(seq 1 "$trials"); do
  out="$tmp/two$t"
  run --out "$out" > "$tmp/a.log" 2>&1 & a=$!
  sleep "0.$((RANDOM % 5))"
  run --out "$out" > "$tmp/b.log" 2>&1 & b=$!
  wait "$a" || fail "trial $t: process A exit $?"
  wait "$b" || fail "trial $t: process B exit $?"
  n=$(computed "$tmp/a.log" "$tmp/b.log")
  [ "$n" -eq 8 ] || fail "trial $t: $n runs computed by the two processes (want 8, each once)"
  [ "$(histories "$out/shared/runs")" = "$clean" ] || fail "trial $t: results differ from one process's"
  ls "$out/shared/runs" | grep -qE '\.claim$|\.tmp\.' && fail "trial $t: claim or temp files left: $(ls "$out/shared/runs")"
  echo "trial $t: A computed $(computed "$tmp/a.log"), B $(computed "$tmp/b.log")"
done

# 2. A run claimed by a process that then dies (kill -9; here `flock` holding the claim, so the
#    timing is certain): the sweep computes the others, waits for it, then takes it over.
out="$tmp/kill"; mkdir -p "$out/shared/runs"
id=$(run --out "$out" --dry-run 2>/dev/null | awk '$1 == "[" && $2 == "3]" {print $3}')
[ -n "$id" ] || fail "kill: no run id from --dry-run"
flock -o "$out/shared/runs/$id.claim" sleep 60 > /dev/null 2>&1 & holder=$!  # -o: the lock is flock's alone
sleep 0.2
run --out "$out" > "$tmp/b.log" 2>&1 & b=$!
for _ in $(seq 1 1200); do grep -q "waiting for 1 run(s) that another process is computing" "$tmp/b.log" && break; sleep 0.05; done
grep -q "waiting for 1 run(s) that another process is computing (another process)" "$tmp/b.log" || fail "kill: no 'waiting' line"
[ "$(ls "$out"/shared/runs/*.json | wc -l)" -eq 7 ] || fail "kill: the 7 unclaimed runs should be done before the wait"
child=$(pgrep -P "$holder"); kill -9 "$holder"; wait "$holder" 2>/dev/null; kill $child 2>/dev/null
wait "$b" || fail "kill: the surviving process exit $?"
[ "$(histories "$out/shared/runs")" = "$clean" ] || fail "kill: results differ from one process's (or are missing)"
[ "$(computed "$tmp/b.log")" -eq 8 ] || fail "kill: the run whose holder died was not taken over"

# 3. Another spec (or other --set values) under the same experiment name and --out.
sed 's/0.08\]/0.09]/' "$tmp/spec.json" > "$tmp/other.json"
msg=$("$bin" --threads 1 run "$tmp/other.json" --out "$tmp/clean" --quiet 2>&1); rc=$?
[ "$rc" -eq 3 ] && grep -q "other.json: $tmp/clean/shared already holds runs of experiment 'shared' from a different spec, --set or sgdbench version ($tmp/spec.json, 8 runs; this one has 8): use another --out or experiment name, or --allow-mixed" <<<"$msg" \
  || fail "another spec: exit $rc: $msg"
msg=$(run --out "$tmp/clean" --quiet --set epochs=2 --dry-run 2>&1); rc=$?
[ "$rc" -eq 0 ] || fail "--dry-run checks nothing and writes nothing: exit $rc: $msg"
msg=$(run --out "$tmp/clean" --quiet --set epochs=2 2>&1); rc=$?
[ "$rc" -eq 3 ] && grep -q "from a different spec, --set or sgdbench version" <<<"$msg" || fail "--set epochs=2: exit $rc: $msg"
"$bin" --threads 1 run "$tmp/other.json" --out "$tmp/clean" --quiet --allow-mixed > /dev/null 2>&1 || fail "--allow-mixed"
[ "$(ls "$tmp"/clean/shared/runs/*.json | wc -l)" -eq 9 ] || fail "--allow-mixed: 9 results expected"
run --out "$tmp/clean" --quiet > /dev/null 2>&1 || fail "a spec already accepted is accepted again"
"$bin" --threads 1 run "$tmp/other.json" --out "$tmp/clean" --quiet > /dev/null 2>&1 || fail "an accepted mixed spec is accepted again"

# 4. Two sweeps on one machine share its cores: with the thread count left to sgdbench, a sweep
#    that starts while another runs gives its runs cores / 2 threads (recorded in provenance).
#    The first sweep is long (it is stopped once the second is done): with the same short spec
#    it could finish first, and the second's later runs then rightly took every core.
sed 's/"epochs": 1,/"epochs": 100,/' "$tmp/spec.json" > "$tmp/long.json"
export SGDBENCH_PEERS_DIR="$tmp/peers"
"$bin" run "$tmp/long.json" --out "$tmp/p1" > /dev/null 2>&1 & p1=$!
for _ in $(seq 1 200); do [ -n "$(ls "$tmp/peers" 2>/dev/null)" ] && break; sleep 0.05; done
env -u OMP_NUM_THREADS "$bin" run "$tmp/spec.json" --out "$tmp/p2" --quiet > /dev/null 2> "$tmp/p2.err"
kill "$p1" 2>/dev/null; wait "$p1" 2>/dev/null
cores=$(nproc)
if [ "$cores" -ge 2 ]; then
  grep -q "1 other sgdbench process(es) running and [0-9]* of $cores cores busy with other work on this machine: runs start with $((cores / 2)) thread(s) each" "$tmp/p2.err" \
    || fail "sharing: no note naming the other process: $(cat "$tmp/p2.err")"
  /usr/bin/python3 -c "import glob,json,sys; t={json.load(open(f))['provenance']['threads'] for f in glob.glob(sys.argv[1]+'/*.json')}; sys.exit(t != {int(sys.argv[2])//2})" \
    "$tmp/p2/shared/runs" "$cores" || fail "sharing: runs did not record cores/2 threads"
fi
[ -z "$(ls "$tmp/peers")" ] || fail "sharing: an ended process's registration was left: $(ls "$tmp/peers")"
"$bin" --threads 1 run "$tmp/spec.json" --out "$tmp/p3" --quiet > /dev/null 2> "$tmp/p3.err" & p3=$!
env -u OMP_NUM_THREADS "$bin" --threads 1 run "$tmp/spec.json" --out "$tmp/p4" --quiet > /dev/null 2> "$tmp/p4.err"
wait "$p3"
grep -q "other sgdbench process" "$tmp/p4.err" && fail "sharing: --threads given, yet the count was changed"

[ "$fails" -eq 0 ] && echo "shared_out_test: all passed" || exit 1
