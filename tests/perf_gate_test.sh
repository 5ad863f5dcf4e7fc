#!/usr/bin/env bash
# The performance gate must catch a deliberate slowdown: compare a build with itself while
# 1000 us of busy work is injected into each training step of the current side; the gate must
# exit 1 (regression), not 0 (pass) or 2 (error). 1000 us, not less: this 2-vCPU VM's timings are
# at times bimodal (one side 1.7x slower for a whole process), and the gate confirms a flagged
# benchmark with a second measurement. Usage: perf_gate_test.sh SOURCE_DIR BUILD_DIR
set -u
src="$1"; build="$2"
out=$(/usr/bin/python3 "$src/tools/perf_gate.py" --baseline-build "$build" --current-build "$build" \
      --work "$build/perf-gate-test" --quick --inject-slowdown-us 1000 2>&1)
rc=$?
echo "$out" | tail -8
if [ "$rc" -eq 1 ] && grep -q "REGRESSION" <<<"$out"; then echo "perf gate: 1 passed, 0 failed"; exit 0; fi
echo "perf gate: 0 passed, 1 failed (exit $rc, expected 1)"; exit 1
