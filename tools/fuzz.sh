#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/: spec parser, model description parser + network builder,
# IDX reader, CIFAR-10 reader; clang with ASan + UBSan + LeakSanitizer) into build-fuzz/ and runs
# each for SECONDS (default 15) on a scratch copy of its committed seed corpus (fuzz/corpus/<t>).
# Any crash, uncaught exception, leak, UBSan report, >10 s input or >2 GiB RSS fails (exit 1)
# and the input that did it is kept in build-fuzz/findings/. tools/test.sh runs it.
# Usage: tools/fuzz.sh [SECONDS] [TARGET...]   (targets: spec model idx cifar)
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-15}"; shift || true
targets=("$@"); [ ${#targets[@]} -gt 0 ] || targets=(spec model idx cifar)
command -v clang++ > /dev/null || { echo "fuzz.sh: clang++ not found (tools/setup.sh installs clang)"; exit 2; }
CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" \
      -DSGDBENCH_FUZZ=ON -DSGDBENCH_BUILD_TESTS=OFF \
      -DSGDBENCH_BUILD_BENCH=OFF -DSGDBENCH_MPI=OFF -DSGDBENCH_WERROR=OFF > /dev/null
cmake --build build-fuzz -j"$(nproc)" --target "${targets[@]/#/fuzz_}" > /dev/null
mkdir -p build-fuzz/findings
failed=0
for t in "${targets[@]}"; do
  work=$(mktemp -d); cp -r "fuzz/corpus/$t" "$work/corpus"
  log="build-fuzz/findings/$t.log"
  set +e
  (cd "$work" && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
     "$OLDPWD/build-fuzz/fuzz/fuzz_$t" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 -timeout=10 \
     -print_final_stats=1 corpus) > "$log" 2>&1
  rc=$?
  set -e
  stats=$(grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb" "$log" | awk '{printf "%s ", $2}')
  cov=$(grep -oE "cov: [0-9]+" "$log" | tail -1)
  if [ "$rc" -ne 0 ]; then
    cp "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* build-fuzz/findings/ 2>/dev/null || true
    echo "fuzz.sh: FAIL: fuzz_$t exit $rc after ${secs}s: $(grep -m1 -E 'ERROR|what\(\)' "$log"); log and input in build-fuzz/findings/"
    failed=1
  else
    echo "fuzz.sh: fuzz_$t: ${secs}s, executions and peak RSS MB: ${stats}${cov}, no finding"
  fi
  rm -rf "$work"
done
exit "$failed"
