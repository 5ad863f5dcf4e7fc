#!/usr/bin/env bash
# Installs what is needed, builds (warnings are errors) and runs the whole test suite, then runs
# the fast tests again under AddressSanitizer + UndefinedBehaviorSanitizer. CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
tools/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DSGDBENCH_WERROR=ON > /dev/null
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure
# Sanitizer build: data readers (every bad file), layers, optimizers, specs and the runner.
# (no -Werror here: GCC's sanitizer instrumentation raises false warnings inside libstdc++)
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSGDBENCH_SANITIZE=ON -DSGDBENCH_BUILD_BENCH=OFF \
      -DSGDBENCH_WERROR=OFF > /dev/null
cmake --build build-asan -j"$jobs" --target sgdbench_tests
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  build-asan/tests/sgdbench_tests "[data],[layers],[optim],[spec],[model]" --reporter compact
