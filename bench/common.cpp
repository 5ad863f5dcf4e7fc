// Benchmark helpers (see common.hpp).
#include "common.hpp"

#include <cstring>

#include "core/rng.hpp"
#include "dnnl/context.hpp"
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
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace sgdbench::bench
