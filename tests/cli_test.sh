#!/usr/bin/env bash
# CLI end to end: exit codes and one-line error messages. Usage: cli_test.sh path/to/sgdbench
set -u
bin="$1"; fails=0; n=0
expect() {  # expect RC 'stderr substring' args...
  local want="$1" pat="$2"; shift 2; n=$((n+1))
  local err; err=$("$bin" "$@" 2>&1 >/dev/null); local rc=$?
  if [ "$rc" -ne "$want" ] || ! grep -qF -- "$pat" <<<"$err"; then
    echo "FAIL: sgdbench $* -> rc $rc (want $want), stderr: $err"; fails=$((fails+1))
  fi
}
expect 0 "" info
expect 0 "" models
expect 0 "" --threads 1 models --model lenet --input 1x28x28
expect 5 "unknown model 'nosuch'" models --model nosuch
expect 5 "layer 'conv1' (conv 6 5x5) cannot take input 3x4x4" models --model lenet --input 3x4x4
expect 5 "layer 'pool2' (maxpool 2) cannot take input 16x1x1" models --model lenet --input 1x14x14
expect 2 "" models --input 3x32
expect 2 "" nosuchcommand
expect 2 "sgdbench: usage error: --threads: Value 100000 not in range 0 to 1024 (see" --threads 100000 info
expect 2 "sgdbench: usage error: --limit: Value -5 not in range 0 to 100000000 (see 'sgdbench train --help')" train --limit -5
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
src=$(cd "$(dirname "$0")/.." && pwd)
expect 2 "not in range 1 to 1024" run "$src/experiments/quickstart.json" --jobs 0
for spec in "$src"/experiments/*.json; do expect 0 "" validate "$spec"; done
expect 4 "cifar-10-binary.tar.gz" run "$src/experiments/pytorch_tutorial_sgd_cifar10.json" --out "$tmp" --quiet --set data.dir=/nonexistent/cifar
expect 4 "not found" train --data mnist --data-dir /nonexistent/mnist --out "$tmp" --quiet
expect 3 "did you mean 'epochs'" run "$src/experiments/quickstart.json" --out "$tmp" --set epoch=1
expect 3 "unknown model 'lenett'" train --model lenett --out "$tmp"
expect 2 "--shard" run "$src/experiments/quickstart.json" --out "$tmp" --shard 3/2
expect 2 "" train --batch-size
# JSON nested deeper than 64 levels is refused while parsing (100k levels used to overflow the stack).
/usr/bin/python3 -c "n=100000; print('{\"experiment\": \"x\", \"base\": {\"label\": ' + '['*n + ']'*n + '}}')" > "$tmp/deep.json"
expect 3 "deep.json: JSON nested deeper than 64 levels" validate "$tmp/deep.json"
expect 5 "deep.json: JSON nested deeper than 64 levels" models --model "$tmp/deep.json"
expect 2 "--set value: JSON nested deeper than 64 levels" validate "$src/experiments/quickstart.json" --set "lr=$(printf '[%.0s' $(seq 1 70))$(printf ']%.0s' $(seq 1 70))"
# A number no double holds (found by fuzz_spec): a spec error naming the file, not an internal error.
echo '{"experiment": "x", "base": {"lr": 1e309}}' > "$tmp/huge.json"
expect 3 "huge.json: invalid JSON: number overflow parsing '1e309' (numbers must fit" validate "$tmp/huge.json"
# A grid is counted before it is expanded: 4 axes x 1000 values is refused at once (was bad_alloc).
/usr/bin/python3 -c "import json; v=list(range(1, 1001)); print(json.dumps({'experiment': 'big', 'base': {'data': 'synthetic'}, 'grid': {'lr': [x / 1e4 for x in v], 'seed': v, 'epochs': v, 'eval_batch': v}}))" > "$tmp/big.json"
expect 3 "big.json: grid: expands to 1000000000000 runs, more than the limit of 100000" validate "$tmp/big.json"
# Slurm job arrays: the shard is the task's position in the array, numbered from 0 or from 1.
slurm_plan() {  # slurm_plan 'ID MIN MAX' args... -> the plan line
  local id min max; read -r id min max <<<"$1"; shift
  SLURM_ARRAY_TASK_ID=$id SLURM_ARRAY_TASK_MIN=$min SLURM_ARRAY_TASK_MAX=$max SLURM_ARRAY_TASK_COUNT=$((max-min+1)) \
    SLURM_ARRAY_TASK_STEP=1 "$bin" run "$src/experiments/quickstart.json" --out "$tmp" --dry-run "$@" 2>&1 | head -1
}
check_plan() {  # check_plan 'want' 'ID MIN MAX' args...
  local want="$1"; shift; n=$((n+1))
  local got; got=$(slurm_plan "$@")
  grep -qF -- "$want" <<<"$got" || { echo "FAIL: Slurm array $1 ${*:2}: want '$want' in: $got"; fails=$((fails+1)); }
}
check_plan "shard 1/3 (Slurm array task 0 of 0-2) holds 11" "0 0 2"
check_plan "shard 3/3 (Slurm array task 2 of 0-2) holds 10" "2 0 2" --shard 2/3
check_plan "shard 1/3 (Slurm array task 1 of 1-3) holds 11" "1 1 3" --shard 1/3
check_plan "shard 3/3 (Slurm array task 3 of 1-3) holds 10" "3 1 3"
check_plan "32 runs; 0 already done" "2 0 2" --shard 1/1
check_plan "shard 2/4 holds" "2 0 2" --shard 2/4
# `train` inside an array task is one run (e.g. --seed $SLURM_ARRAY_TASK_ID): never sharded away.
SLURM_ARRAY_TASK_ID=2 SLURM_ARRAY_TASK_MIN=0 SLURM_ARRAY_TASK_MAX=2 SLURM_ARRAY_TASK_COUNT=3 SLURM_ARRAY_TASK_STEP=1 \
  "$bin" train --data synthetic --out "$tmp" --dry-run 2>&1 | head -1 | grep -q ": 1 runs; 0 already done, 1 to run" \
  || { echo "FAIL: train in a Slurm array task was sharded"; fails=$((fails+1)); }
expect 2 "--data-parallel needs several MPI ranks" train --data synthetic --data-parallel --out "$tmp" --quiet
expect 0 "" train --model keras_mnist_mlp --data synthetic --epochs 1 --out "$tmp" --quiet --lr 1e6
grep -q '"status": "diverged"' "$tmp"/train/runs/*.json || { echo "FAIL: huge lr gives a diverged result"; fails=$((fails+1)); }
[ -z "$(ls "$tmp"/quickstart 2>/dev/null)" ] || { echo "FAIL: a bad spec wrote files"; fails=$((fails+1)); }
# User models: a description file for `models`, a spec with {"file": ...} and one inline; bad
# descriptions exit 5 naming file, path and layer, and write nothing.
mkdir -p "$tmp/m/models"
cat > "$tmp/m/models/tiny.json" <<'J'
{"name": "tiny", "init": "glorot_uniform", "layers": [{"conv": {"out": 4, "kernel": 3, "padding": "same"}},
 {"batch_norm": {}}, {"relu": {}}, {"max_pool": {"kernel": 2}}, {"flatten": {}}, {"dense": {"out": "classes"}}]}
J
expect 0 "" models --model "$tmp/m/models/tiny.json" --input 1x8x8
"$bin" models --model "$tmp/m/models/tiny.json" --input 1x8x8 | grep -q "input 1x8x8, 10 classes, 698 parameters" \
  || { echo "FAIL: models --model FILE describes a user model"; fails=$((fails+1)); }
data='"data": {"name": "synthetic", "synthetic": {"shape": [1, 8, 8], "train": 64, "test": 32}}, "epochs": 1'
echo "{\"experiment\": \"uf\", \"base\": {\"model\": {\"file\": \"models/tiny.json\"}, $data}}" > "$tmp/m/file.json"
echo "{\"experiment\": \"ui\", \"base\": {\"model\": $(cat "$tmp/m/models/tiny.json"), $data}}" > "$tmp/m/inline.json"
expect 0 "" run "$tmp/m/file.json" --out "$tmp/m/out" --quiet
expect 0 "" run "$tmp/m/inline.json" --out "$tmp/m/out" --quiet
grep -q '"model_name": "tiny"' "$tmp"/m/out/uf/runs/*.json || { echo "FAIL: result carries model_name"; fails=$((fails+1)); }
# Stray things in runs/ (issue 13, class 3): a malformed result is named and recomputed; a
# directory where a result belongs is named, the others still run, exit 7 naming the path.
r=$(ls "$tmp"/m/out/uf/runs/*.json | head -1)
echo '{"run_id": 5, "status": ["completed"]}' > "$r"
mkdir -p "$tmp/m/out/uf/runs/stray_dir"
expect 0 "not a finished result of this run: recomputing it" run "$tmp/m/file.json" --out "$tmp/m/out" --quiet
/usr/bin/python3 -c "import json,sys; assert json.load(open(sys.argv[1]))['status'] == 'completed'" "$r" \
  || { echo "FAIL: malformed result not recomputed"; fails=$((fails+1)); }
rm "$r"; mkdir "$r"
expect 7 "cannot rename into place" run "$tmp/m/file.json" --out "$tmp/m/out" --quiet
rmdir "$r"
bad() {  # bad 'layers json' 'stderr substring'
  echo "{\"name\": \"b\", \"layers\": $1}" > "$tmp/m/models/bad.json"
  echo "{\"experiment\": \"bad\", \"base\": {\"model\": {\"file\": \"models/bad.json\"}, $data}}" > "$tmp/m/bad.json"
  expect 5 "$2" run "$tmp/m/bad.json" --out "$tmp/m/out" --quiet
  expect 5 "$2" models --model "$tmp/m/models/bad.json" --input 1x8x8
}
bad '[{"conv": {"out": 4, "kernel": 3}}, {"relux": {}}]' "models/bad.json: layers[1]: unknown layer 'relux'"
bad '[{"conv": {"out": 4}}]' "models/bad.json: layers[0].conv.kernel: missing"
bad '[{"conv": {"out": 4, "kernel": 9}}]' "models/bad.json: layers[0].conv: model 'b' on input 1x8x8: layer 'conv1'"
bad '[{"conv": {"out": -4, "kernel": 3}}]' "models/bad.json: layers[0].conv.out"
bad '[{"flatten": {}}, {"dense": {"out": 3}}]' "models/bad.json: layers[1].dense: model 'b' on input 1x8x8: the last layer gives 3"
[ -z "$(ls "$tmp"/m/out/bad 2>/dev/null)" ] || { echo "FAIL: a bad model wrote files"; fails=$((fails+1)); }
"$bin" models --model lenet | grep -q "62006 parameters" || { echo "FAIL: lenet parameter count"; fails=$((fails+1)); }
"$bin" --help | grep -q "models" || { echo "FAIL: --help lists commands"; fails=$((fails+1)); }
# The run table's evaluation share: its totals are the sums of the result files' seconds.
mkdir -p "$tmp/ev"
echo '{"experiment": "ev", "base": {"model": "keras_mnist_mlp", "epochs": 2, "log_every_steps": 5, "data": {"name": "synthetic", "synthetic": {"shape": [1, 8, 8], "train": 200, "test": 400}}}, "grid": {"batch_size": [8, 16]}}' > "$tmp/ev/ev.json"
"$bin" run "$tmp/ev/ev.json" --out "$tmp/ev/out" > "$tmp/ev/table.txt" 2> "$tmp/ev/err.txt"
/usr/bin/python3 - "$tmp/ev" <<'PY' || { echo "FAIL: evaluation share in the run table"; fails=$((fails+1)); }
import glob, json, re, sys
d = sys.argv[1]
m = re.search(r"training ([0-9.]+) s, evaluation ([0-9.]+) s \(([0-9]+)% of the runs' time", open(d + "/table.txt").read())
runs = [json.load(open(f))["summary"] for f in glob.glob(d + "/out/ev/runs/*.json")]
tr, ev = sum(r["train_seconds"] for r in runs), sum(r["eval_seconds"] for r in runs)
assert m and len(runs) == 2, (m, len(runs))
assert abs(float(m[1]) - tr) <= 0.051 and abs(float(m[2]) - ev) <= 0.051, (m.groups(), tr, ev)
assert abs(int(m[3]) - 100 * ev / (tr + ev)) <= 0.51, (m[3], ev, tr)
assert len(re.findall(r"% evaluating\)", open(d + "/err.txt").read())) == 2
PY
echo "cli: $((n + 9 - fails)) passed, $fails failed"
[ "$fails" -eq 0 ]
