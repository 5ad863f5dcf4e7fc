#!/usr/bin/env bash
# A sweep killed (SIGKILL) at a random moment and rerun completes exactly the missing runs: no
# result file is ever half-written, finished ones are not rewritten, and every run's history
# equals a clean uninterrupted run's (times excluded). Usage: resume_test.sh path/to/sgdbench [trials]
set -u
# --threads 2: a fixed count (left to sgdbench it follows the machine's load, and so do the bits).
bin="$1"; trials="${2:-2}"; tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/spec.json" <<'SPEC'
{"experiment": "killme",
 "base": {"model": "lenet", "epochs": 2, "batch_size": 8,
          "data": {"name": "synthetic", "synthetic": {"shape": [1, 28, 28], "train": 3000, "test": 500}}},
 "grid": {"lr": [0.01, 0.02, 0.03, 0.04, 0.05, 0.06]}}
SPEC
fails=0
fail() { echo "FAIL: $*"; fails=$((fails+1)); }
histories() { /usr/bin/python3 "$(dirname "$0")/histories.py" "$1"; }
"$bin" --threads 2 run "$tmp/spec.json" --out "$tmp/clean" --quiet > /dev/null 2>&1 || fail "clean run"
clean=$(histories "$tmp/clean/killme/runs")
for t in $(seq 1 "$trials"); do
  runs="$tmp/t$t/killme/runs"
  "$bin" --threads 2 run "$tmp/spec.json" --out "$tmp/t$t" --quiet > /dev/null 2>&1 &
  pid=$!
  if [ "$t" -eq 1 ]; then  # the first trial kills after at least 2 finished runs
    for _ in $(seq 1 600); do
      [ "$(ls "$runs"/*.json 2>/dev/null | wc -l)" -ge 2 ] && break
      sleep 0.05
    done
  else
    sleep "$((RANDOM % 2)).$((RANDOM % 10))"  # 0.0-1.9 s into a sweep of about 2 s
  fi
  kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  done_before=$(ls "$runs"/*.json 2>/dev/null | wc -l)
  for f in "$runs"/*.json; do
    [ -e "$f" ] || continue
    /usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['status']=='completed'" "$f" \
      || fail "trial $t: $f is not a complete result"
  done
  sums_before=$(cd "$runs" 2>/dev/null && md5sum *.json 2>/dev/null)
  out=$("$bin" --threads 2 run "$tmp/spec.json" --out "$tmp/t$t" --quiet 2>&1)
  echo "$out" | grep -q "$done_before already done, $((6 - done_before)) to run" \
    || fail "trial $t: rerun plan: $out"
  [ "$(ls "$runs"/*.json | wc -l)" -eq 6 ] || fail "trial $t: not all 6 runs finished"
  [ -z "$(ls "$runs" | grep tmp)" ] || fail "trial $t: temporary files left"
  [ -z "$sums_before" ] || (cd "$runs" && echo "$sums_before" | md5sum -c --quiet) \
    || fail "trial $t: finished results were rewritten"
  [ "$(histories "$runs")" = "$clean" ] || fail "trial $t: results differ from the clean run"
  echo "trial $t: killed after $done_before of 6 runs"
done
echo "resume: $trials trials, $fails failed"
[ "$fails" -eq 0 ]
