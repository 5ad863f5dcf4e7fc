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
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
src=$(cd "$(dirname "$0")/.." && pwd)
for spec in "$src"/experiments/*.json; do expect 0 "" validate "$spec"; done
expect 4 "cifar-10-binary.tar.gz" run "$src/experiments/pytorch_tutorial_sgd_cifar10.json" --out "$tmp" --quiet --set data.dir=/nonexistent/cifar
expect 4 "not found" train --data mnist --data-dir /nonexistent/mnist --out "$tmp" --quiet
expect 3 "did you mean 'epochs'" run "$src/experiments/quickstart.json" --out "$tmp" --set epoch=1
expect 3 "unknown model 'lenett'" train --model lenett --out "$tmp"
expect 2 "--shard" run "$src/experiments/quickstart.json" --out "$tmp" --shard 3/2
expect 2 "" train --batch-size
expect 0 "" train --model keras_mnist_mlp --data synthetic --epochs 1 --out "$tmp" --quiet --lr 1e6
grep -q '"status": "diverged"' "$tmp"/train/runs/*.json || { echo "FAIL: huge lr gives a diverged result"; fails=$((fails+1)); }
[ -z "$(ls "$tmp"/quickstart 2>/dev/null)" ] || { echo "FAIL: a bad spec wrote files"; fails=$((fails+1)); }
"$bin" models --model lenet | grep -q "62006 parameters" || { echo "FAIL: lenet parameter count"; fails=$((fails+1)); }
"$bin" --help | grep -q "models" || { echo "FAIL: --help lists commands"; fails=$((fails+1)); }
echo "cli: $((n + 4 - fails)) passed, $fails failed"
[ "$fails" -eq 0 ]
