// One whole training step per anchor model and batch size: forward, softmax cross-entropy,
// backward, SGD update (lr 0.01, momentum 0.9) on one fixed random batch, as the PyTorch anchor
// (../shared/anchors/README.md). GFLOP/s counts 3 x forward FLOPs, like the anchor.
// SGDBENCH_BENCH_EXTRA_WORK=N adds N microseconds of busy work per step (to demonstrate that the
// regression gate catches a slowdown; never set it otherwise).
#include <chrono>
#include <cstdlib>

#include "common.hpp"
#include "model/zoo.hpp"
#include "optim/optimizer.hpp"

using namespace sgdbench;

namespace {

void busy_wait_us(double us) {
  if (us <= 0) return;
  auto end = std::chrono::steady_clock::now() + std::chrono::duration<double, std::micro>(us);
  while (std::chrono::steady_clock::now() < end) {
  }
}

void BM_TrainStep(benchmark::State& state, const bench::AnchorModel& m) {
  const int64_t batch = state.range(0);
  auto net = build_model(m.model, m.input, 10);
  initialize(*net, zoo_entry(m.model).init, 1);
  auto& plan = net->plan(batch, true);
  bench::fill_random_batch(*net, plan);
  OptimizerConfig oc;
  oc.momentum = 0.9;
  auto opt = make_optimizer(oc);
  const char* extra = std::getenv("SGDBENCH_BENCH_EXTRA_WORK");
  const double extra_us = extra ? std::atof(extra) : 0;
  for (auto _ : state) {
    auto l = plan.forward_loss();
    benchmark::DoNotOptimize(l.loss);
    plan.backward();
    opt->step(net->params(), net->grads(), net->buffer_size(), 0.01, net->param_refs());
    busy_wait_us(extra_us);
  }
  bench::set_rates(state, batch, 3.0 * net->forward_flops() * double(batch));
  state.counters["params"] = double(net->param_count());
}

}  // namespace

int main(int argc, char** argv) {
  for (auto& m : bench::anchor_models()) {
    auto* b = benchmark::RegisterBenchmark(("BM_TrainStep/" + m.name).c_str(), BM_TrainStep, m);
    b->ArgNames({"batch"})->Unit(benchmark::kMicrosecond)->UseRealTime();
    for (auto n : bench::batch_sizes()) b->Arg(n);
  }
  return bench::run_main(argc, argv);
}
