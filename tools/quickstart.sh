#!/usr/bin/env bash
# Installs what is needed, builds, runs experiments/quickstart.json (GD vs SGD vs mini-batch vs
# momentum on Fashion-MNIST, about 1.5 minutes on 2 cores) and writes its report and plots to
# results/quickstart/ (REPORT.md, plots/*.png|svg). Rerunning skips finished runs.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build -j"$(nproc)"
build/sgdbench run experiments/quickstart.json --out results "$@"
/usr/bin/python3 tools/report.py results/quickstart
echo "Report: results/quickstart/REPORT.md"
