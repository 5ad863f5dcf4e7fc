#!/usr/bin/env bash
# Installs every Debian 12 package sgdbench needs to build, test, run and plot (idempotent).
# Usage: tools/setup.sh [--with-torch]   (--with-torch adds python3-torch for tools/gen_reference.py
# and tools/compare_pytorch.py; never needed to build, test or run sgdbench)
set -euo pipefail

pkgs=(
  build-essential cmake pkg-config
  libdnnl-dev ocl-icd-opencl-dev       # oneDNN 2.6; its CMake config needs OpenCL headers
  libbenchmark-dev libbenchmark-tools  # Google Benchmark and compare.py
  nlohmann-json3-dev catch2 zlib1g-dev libcli11-dev
  dataset-fashion-mnist                # default data set, /usr/share/dataset-fashion-mnist
  python3 python3-matplotlib python3-scipy python3-jsonschema
  openmpi-bin libopenmpi-dev           # mpirun sweeps and data-parallel training (SGDBENCH_MPI)
  slurm-wlm munge                      # Slurm job arrays; tests/slurm_test.sh starts a local cluster
  clang libclang-rt-14-dev libomp-14-dev  # libFuzzer targets (tools/fuzz.sh)
  chromium ccache valgrind             # perf history: report test (headless), per-commit build cache, instruction counts
)
for a in "$@"; do
  case "$a" in
    --with-torch) pkgs+=(python3-torch) ;;
    -h|--help) sed -n '2,4p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option '$a' (try --help)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup.sh: all ${#pkgs[@]} packages already installed"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "setup.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
