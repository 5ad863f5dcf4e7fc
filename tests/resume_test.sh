#!/usr/bin/env bash
# A sweep killed (SIGKILL) part-way and rerun completes exactly the missing runs; no result file
# is ever half-written. Usage: resume_test.sh path/to/sgdbench
set -u
bin="$1"; tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/spec.json" <<'SPEC'
{"experiment": "killme",
 "base": {"model": "lenet", "epochs": 2, "batch_size": 8,
          "data": {"name": "synthetic", "synthetic": {"shape": [1, 28, 28], "train": 3000, "test": 500}}},
 "grid": {"lr": [0.01, 0.02, 0.03, 0.04, 0.05, 0.06]}}
SPEC
runs="$tmp/out/killme/runs"
"$bin" run "$tmp/spec.json" --out "$tmp/out" --quiet > /dev/null 2>&1 &
pid=$!
for _ in $(seq 1 600); do
  n=$(ls "$runs"/*.json 2>/dev/null | wc -l)
  [ "$n" -ge 2 ] && break
  sleep 0.05
done
kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
done_before=$(ls "$runs"/*.json | wc -l)
fails=0
for f in "$runs"/*.json; do
  /usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['status']=='completed'" "$f" \
    || { echo "FAIL: $f is not a complete result"; fails=$((fails+1)); }
done
sums_before=$(cd "$runs" && md5sum *.json)
out=$("$bin" run "$tmp/spec.json" --out "$tmp/out" --quiet 2>&1)
echo "$out" | grep -q "$done_before already done, $((6 - done_before)) to run" \
  || { echo "FAIL: rerun plan: $out"; fails=$((fails+1)); }
[ "$(ls "$runs"/*.json | wc -l)" -eq 6 ] || { echo "FAIL: not all 6 runs finished"; fails=$((fails+1)); }
[ -z "$(ls "$runs" | grep tmp)" ] || { echo "FAIL: temporary files left"; fails=$((fails+1)); }
(cd "$runs" && echo "$sums_before" | md5sum -c --quiet) || { echo "FAIL: finished results were rewritten"; fails=$((fails+1)); }
echo "resume (killed after $done_before of 6): $((4 - fails)) passed, $fails failed"
[ "$fails" -eq 0 ]
