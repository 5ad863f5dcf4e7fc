#!/usr/bin/env bash
# Installs what is needed, builds (warnings are errors) and runs the whole test suite, then runs
# the fast tests again under AddressSanitizer + UndefinedBehaviorSanitizer, then a short run of
# each libFuzzer target (tools/fuzz.sh). CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
tools/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DSGDBENCH_WERROR=ON -DSGDBENCH_MPI=ON > /dev/null
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure
# Sanitizer build: data readers (every bad file), layers, optimizers, specs and the runner.
# (no -Werror here: GCC's sanitizer instrumentation raises false warnings inside libstdc++)
# It is also the build without MPI: it must refuse a multi-rank mpirun launch with a clear error.
# -O1 -g1: line tables are all a sanitizer report needs, and the build takes far less time.
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" \
      -DSGDBENCH_SANITIZE=ON -DSGDBENCH_BUILD_BENCH=OFF -DSGDBENCH_WERROR=OFF -DSGDBENCH_MPI=OFF > /dev/null
cmake --build build-asan -j"$jobs" --target sgdbench_tests sgdbench
set +e
msg=$(OMPI_COMM_WORLD_SIZE=2 build-asan/sgdbench run experiments/quickstart.json --dry-run 2>&1); rc=$?
set -e
if [ "$rc" -ne 2 ] || ! echo "$msg" | grep -q "^sgdbench: usage error: started by an MPI launcher with 2 ranks, but this sgdbench was built without MPI"; then
  echo "FAIL: a build without MPI launched with 2 ranks: exit $rc: $msg"; exit 1
fi
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  build-asan/tests/sgdbench_tests "[data],[layers],[optim],[spec],[model]" --reporter compact
# The adversarial cases again, against the sanitized binary.
/usr/bin/python3 tests/adversarial.py build-asan/sgdbench --sanitized
# libFuzzer: each target (spec, model, IDX, CIFAR-10) 15 s on its committed seed corpus.
tools/fuzz.sh 15
