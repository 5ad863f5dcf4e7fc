#!/usr/bin/env bash
# SIGINT/SIGTERM during a sweep: exit 128+signal with one line saying what is kept, no partial
# or temporary file, finished results untouched; rerunning completes the sweep, and every run's
# history equals a clean uninterrupted run's (times excluded). A second signal exits at once.
# Usage: interrupt_test.sh path/to/sgdbench [trials]
set -u
# --threads 2: a fixed count (left to sgdbench it follows the machine's load, and so do the bits).
bin="$1"; trials="${2:-3}"; tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/spec.json" <<'SPEC'
{"experiment": "sig",
 "base": {"model": "keras_mnist_mlp", "epochs": 10, "batch_size": 4,
          "data": {"name": "synthetic", "synthetic": {"shape": [1, 28, 28], "train": 3000, "test": 300}}},
 "grid": {"lr": [0.01, 0.02, 0.03, 0.04, 0.05]}}
SPEC
fails=0
fail() { echo "FAIL: $*"; fails=$((fails+1)); }
histories() { /usr/bin/python3 "$(dirname "$0")/histories.py" "$1"; }
"$bin" --threads 2 run "$tmp/spec.json" --out "$tmp/clean" --quiet > /dev/null 2>&1 || fail "clean run"
clean=$(histories "$tmp/clean/sig/runs")

for t in $(seq 1 "$trials"); do
  out="$tmp/t$t"; runs="$out/sig/runs"
  for sig in INT TERM; do
    "$bin" --threads 2 run "$tmp/spec.json" --out "$out" --quiet > "$tmp/log" 2>&1 &
    pid=$!
    # A signal before sgdbench has taken over SIGINT/SIGTERM (its first milliseconds: loading
    # libraries) kills it the default way; wait for the plan line, printed after that.
    for _ in $(seq 1 200); do grep -q "^experiment sig" "$tmp/log" 2>/dev/null && break; sleep 0.02; done
    sleep "$((RANDOM % 2)).$((RANDOM % 10))"  # 0.0-1.9 s into a sweep of about 2.5 s
    kill -"$sig" "$pid" 2>/dev/null
    wait "$pid"; rc=$?
    want=$([ "$sig" = INT ] && echo 130 || echo 143)
    if [ "$rc" -ne 0 ]; then  # 0: the sweep finished before the signal
      [ "$rc" -eq "$want" ] || fail "SIG$sig: exit $rc, expected $want"
      grep -q "interrupted by SIG$sig: .* runs finished and kept .* run the same command again to resume" "$tmp/log" \
        || fail "SIG$sig: message: $(cat "$tmp/log")"
    fi
    [ -z "$(ls "$runs" 2>/dev/null | grep tmp)" ] || fail "SIG$sig: temporary files left"
    for f in "$runs"/*.json; do
      [ -e "$f" ] || continue
      /usr/bin/python3 -c "import json,sys; json.load(open(sys.argv[1]))['history']" "$f" 2>/dev/null \
        || fail "SIG$sig: $f is not a complete result"
    done
  done
  "$bin" --threads 2 run "$tmp/spec.json" --out "$out" --quiet > /dev/null 2>&1 || fail "trial $t: rerun"
  [ "$(histories "$runs")" = "$clean" ] || fail "trial $t: results differ from the clean run"
done

# A second signal exits at once.
"$bin" --threads 2 run "$tmp/spec.json" --out "$tmp/twice" --quiet --force > /dev/null 2>&1 &
pid=$!
sleep 0.5; kill -INT "$pid"; kill -INT "$pid"
wait "$pid"; rc=$?
[ "$rc" -eq 130 ] || [ "$rc" -eq 0 ] || fail "second SIGINT: exit $rc"
echo "interrupt: $trials trials x SIGINT/SIGTERM, $fails failed"
[ "$fails" -eq 0 ]
