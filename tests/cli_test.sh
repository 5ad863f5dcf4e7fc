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
"$bin" models --model lenet | grep -q "62006 parameters" || { echo "FAIL: lenet parameter count"; fails=$((fails+1)); }
"$bin" --help | grep -q "models" || { echo "FAIL: --help lists commands"; fails=$((fails+1)); }
echo "cli: $((n + 2 - fails)) passed, $fails failed"
[ "$fails" -eq 0 ]
