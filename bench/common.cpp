// Benchmark helpers (see common.hpp).
#include "common.hpp"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>

#include "core/rng.hpp"
#include "dnnl/context.hpp"
#include "layers/conv_small.hpp"
#include "layers/dense_fused.hpp"
#include "optim/elementwise.hpp"
#include "sgdbench/build_info.hpp"

namespace sgdbench::bench {

const std::vector<AnchorModel>& anchor_models() {
  static const std::vector<AnchorModel> m = {
      {"lenet_cifar", "lenet", {3, 32, 32}},
      {"lenet_fmnist", "lenet", {1, 28, 28}},
      {"keras_cifar_cnn", "keras_cifar_cnn", {3, 32, 32}},
      {"keras_mnist_mlp", "keras_mnist_mlp", {1, 28, 28}},
      {"keras_mnist_cnn", "keras_mnist_cnn", {1, 28, 28}},
  };
  return m;
}

const std::vector<int64_t>& batch_sizes() {
  static const std::vector<int64_t> b{1, 4, 32, 128, 1024};
  return b;
}

void fill_random_batch(Network& net, Plan& plan) {
  Rng rng(42);
  const int64_t n = plan.batch() * net.input_shape().numel();
  for (int64_t i = 0; i < n; ++i) plan.input()[i] = float(rng.uniform());
  for (int64_t i = 0; i < plan.batch(); ++i) plan.labels()[i] = int32_t(rng.below(uint64_t(net.classes())));
}

void set_rates(benchmark::State& state, int64_t images_per_iter, double flops_per_iter) {
  state.SetItemsProcessed(int64_t(state.iterations()) * images_per_iter);
  state.counters["images/s"] =
      benchmark::Counter(double(images_per_iter), benchmark::Counter::kIsIterationInvariantRate);
  if (flops_per_iter > 0)
    state.counters["GFLOP/s"] = benchmark::Counter(flops_per_iter / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}

double core_to_core_ns() {
  // omp_get_num_procs: the CPUs this process may run on (its affinity mask), not the machine's.
  if (omp_get_num_procs() < 2) return NAN;
  constexpr int kTrips = 2000, kRounds = 5;
  alignas(64) std::atomic<int64_t> flag{0};
  std::atomic<bool> failed{false};
  std::vector<double> ns;
  using Clock = std::chrono::steady_clock;
  // One deadline for the whole probe (~1-4 ms when both threads have a CPU): where they share
  // one (a CPU quota, a loaded machine) every hand-off waits for a time slice, and the probe
  // gives up (NaN) instead of taking seconds.
  const auto give_up = Clock::now() + std::chrono::milliseconds(100);
  auto wait_for = [&](int64_t want) {
    for (int k = 0; flag.load(std::memory_order_acquire) != want; ++k)
      if (failed.load(std::memory_order_relaxed) || ((k & 255) == 0 && Clock::now() > give_up)) {
        failed = true;
        return false;
      }
    return true;
  };
#pragma omp parallel num_threads(2)
  {
    if (omp_get_num_threads() < 2) {
      failed = true;
    } else {
      const bool lead = omp_get_thread_num() == 0;
      for (int r = 0; r < kRounds && !failed; ++r) {
        const int64_t base = int64_t(r) * 2 * kTrips;
        const auto t0 = Clock::now();
        for (int64_t i = 0; i < kTrips; ++i) {
          if (lead) {
            flag.store(base + 2 * i + 1, std::memory_order_release);
            if (!wait_for(base + 2 * i + 2)) break;
          } else {
            if (!wait_for(base + 2 * i + 1)) break;
            flag.store(base + 2 * i + 2, std::memory_order_release);
          }
        }
        // No barrier between rounds: the flag's values run on across them, which keeps the two
        // in step, and a thread that gave up cannot leave the other waiting at one.
        if (lead) ns.push_back(std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / (2.0 * kTrips));
      }
    }
  }
  if (failed || ns.empty()) return NAN;
  std::sort(ns.begin(), ns.end());
  return ns[ns.size() / 2];
}

void add_core_to_core(benchmark::State& state) { state.counters["core_to_core_ns"] = core_to_core_ns(); }

int run_main(int argc, char** argv) {
  int threads = 0;
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strncmp(argv[i], "--threads=", 10) == 0)
      threads = std::atoi(argv[i] + 10);
    else if (std::strcmp(argv[i], "--keep-denormals") == 0)
      dnnl_ctx::set_flush_denormals(false);
    else
      args.push_back(argv[i]);
  }
  int n = int(args.size());
  dnnl_ctx::set_threads(threads);
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 2;
  benchmark::AddCustomContext("sgdbench_version", kVersion);
  benchmark::AddCustomContext("sgdbench_commit", kGitCommit);
  benchmark::AddCustomContext("onednn_version", dnnl_ctx::version());
  benchmark::AddCustomContext("onednn_isa", dnnl_ctx::isa());
  benchmark::AddCustomContext("sgdbench_threads", std::to_string(dnnl_ctx::threads()));
  benchmark::AddCustomContext("flush_denormals", dnnl_ctx::flush_denormals() ? "true" : "false");
  benchmark::AddCustomContext("small_channel_kernels", small_channel_kernels_in_use() ? "true" : "false");
  benchmark::AddCustomContext("batch_parallel", Network::batch_parallel() ? "true" : "false");
  benchmark::AddCustomContext("sub_batch_bytes", std::to_string(Network::sub_batch_bytes()));
  benchmark::AddCustomContext("two_lanes", Network::two_lanes() ? "true" : "false");
  benchmark::AddCustomContext("update_isa", update_isa_name(update_isa()));
  benchmark::AddCustomContext("tile_reorder", dnnl_ctx::tile_reorder_enabled() ? "true" : "false");
  benchmark::AddCustomContext("fused_update", fused_dense_available() ? "true" : "false");
  benchmark::AddCustomContext("core_to_core_ns_at_start", std::to_string(core_to_core_ns()));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace sgdbench::bench
