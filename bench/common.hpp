// Shared by the benchmark binaries: the anchor model set (../shared/anchors), batch sizes,
// a fixed random batch, counters, and a main that accepts --threads=N and records provenance.
#pragma once
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "core/shape.hpp"
#include "model/network.hpp"

namespace sgdbench::bench {

struct AnchorModel {
  std::string name;   // as in the anchor table: lenet_cifar, lenet_fmnist, ...
  std::string model;  // zoo name
  Shape input;
};
const std::vector<AnchorModel>& anchor_models();
const std::vector<int64_t>& batch_sizes();  // 1, 4, 32, 128, 1024

// Fills the plan's input with uniform [0,1) values and its labels with random classes (fixed seed).
void fill_random_batch(Network& net, Plan& plan);

// items/s, images/s and GFLOP/s (flops per iteration) as rate counters.
void set_rates(benchmark::State& state, int64_t images_per_iter, double flops_per_iter);

// One-way latency in ns of handing a cache line from one OpenMP thread to another (two threads
// bouncing an atomic; the median of 5 rounds of 2,000 round trips, ~1-4 ms). On the 2-vCPU VMs we
// measure on it is either ~30 ns or ~170-190 ns, changing every few seconds (where the host puts
// the two vCPUs), and multi-threaded steps are slower while it is high. NaN with fewer than 2
// CPUs to run on, or when the probe takes over 100 ms (the two threads share a CPU).
double core_to_core_ns();
// Adds the counter core_to_core_ns (core_to_core_ns(), measured now) to the benchmark's row.
void add_core_to_core(benchmark::State& state);

// Strips --threads=N (oneDNN/OpenMP threads; default all cores) and --keep-denormals (compute
// with IEEE denormals; default flush-to-zero as the CLI) from argv, initialises
// Google Benchmark, adds the sgdbench/oneDNN/thread context, runs the registered benchmarks.
int run_main(int argc, char** argv);

}  // namespace sgdbench::bench
