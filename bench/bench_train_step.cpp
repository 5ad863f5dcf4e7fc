// One whole training step per anchor model and batch size: forward, softmax cross-entropy,
// backward, SGD update (lr 0.01, momentum 0.9), as the PyTorch anchor (../shared/anchors/README.md).
// GFLOP/s counts 3 x forward FLOPs, like the anchor; executed_GFLOP/s counts what the step computes
// (Network::train_flops: the first layer with parameters computes no input gradient). The labels
// are fresh random ones every step (kLabelSets pre-drawn sets, cycled): no model can fit them, so
// the loss stays near log(classes), gradients never decay into denormals, and the figure does not
// depend on how long it runs.
// BM_TrainStepDenormal measures the pathological case on purpose: one fixed batch memorised for
// kMemoriseSteps steps first, then timed, computing with IEEE denormals (FTZ/DAZ off).
// BM_TrainerStep runs the same step inside the real trainer (Trainer::run on a data set of the
// anchor's shape and the real data set's size: batch gather from shuffled uint8 images, the loss
// bookkeeping, budget and stop checks): BM_TrainerStep / BM_TrainStep - 1 is the harness overhead
// (tools/harness_overhead.py runs both interleaved in one process and reports it).
// SGDBENCH_BENCH_EXTRA_WORK=N adds N microseconds of busy work per step (to demonstrate that the
// regression gate catches a slowdown; never set it otherwise).
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>

#include "common.hpp"
#include "core/rng.hpp"
#include "dnnl/context.hpp"
#include "model/zoo.hpp"
#include "optim/optimizer.hpp"
#include "train/trainer.hpp"

using namespace sgdbench;

namespace {

void busy_wait_us(double us) {
  if (us <= 0) return;
  auto end = std::chrono::steady_clock::now() + std::chrono::duration<double, std::micro>(us);
  while (std::chrono::steady_clock::now() < end) {
  }
}

constexpr int kLabelSets = 64;
constexpr int kMemoriseSteps = 1000;
constexpr int kWarmupSteps = 3;

// The counters of BM_TrainStep and BM_TrainerStep rows (the same, so the two compare): rates,
// executed GFLOP/s and the machine state the row ran in.
void step_counters(benchmark::State& state, const Network& net, int64_t batch) {
  bench::set_rates(state, batch, 3.0 * net.forward_flops() * double(batch));
  // What the step really computes (no input gradient for the first layer): % of peak from this.
  state.counters["executed_GFLOP/s"] =
      benchmark::Counter(net.train_flops() * double(batch) / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  bench::add_core_to_core(state);  // see bench::core_to_core_ns
}

// lanes: -1 as configured, 0 or 1 two-lane backward off or on (Network::set_two_lanes).
void BM_TrainStep(benchmark::State& state, const bench::AnchorModel& m, bool denormal, int64_t sub_bytes, int lanes) {
  const int64_t batch = state.range(0);
  const int64_t sub_before = Network::sub_batch_bytes();
  if (sub_bytes > 0) Network::set_sub_batch_bytes(sub_bytes);
  const bool lanes_before = Network::two_lanes();
  if (lanes >= 0) Network::set_two_lanes(lanes == 1);
  const bool flush = dnnl_ctx::flush_denormals();
  if (denormal) dnnl_ctx::set_flush_denormals(false);
  auto net = build_model(m.model, m.input, 10);
  initialize(*net, zoo_entry(m.model).init, 1);
  auto& plan = net->plan(batch, true);
  bench::fill_random_batch(*net, plan);
  std::vector<int32_t> labels(size_t(kLabelSets * batch));
  Rng rng(7);
  for (auto& l : labels) l = int32_t(rng.below(uint64_t(net->classes())));
  OptimizerConfig oc;
  oc.momentum = 0.9;
  auto opt = make_optimizer(oc);
  auto step = [&] {
    auto l = plan.forward_loss();
    benchmark::DoNotOptimize(l.loss);
    // As the trainer: the layers that can apply their update in their backward pass do
    // (Plan::backward(const FusedSgd*)), the optimizer the rest, a tiny step's on its threads.
    FusedSgd f;
    const bool fuse = opt->begin_fused(net->buffer_size(), 0.01, net->params(), f);
    const auto& fused = plan.backward(fuse ? &f : nullptr);
    dnnl_ctx::ThreadScope scope(plan.threads());
    opt->finish_fused(net->params(), net->grads(), net->buffer_size(), 0.01, net->param_refs(), fused);
  };
  if (denormal)
    for (int i = 0; i < kMemoriseSteps; ++i) step();  // fit the one batch: gradients decay to denormals
  const char* extra = std::getenv("SGDBENCH_BENCH_EXTRA_WORK");
  const double extra_us = extra ? std::atof(extra) : 0;
  int k = 0;
  auto next_labels = [&] {
    if (denormal) return;
    std::copy_n(labels.data() + k * batch, batch, plan.labels());
    k = (k + 1) % kLabelSets;
  };
  // Warm-up, as the PyTorch side does (tools/compare_pytorch.py): the first steps page in the
  // activations and JIT the kernels; at batch 1024 one cold step would otherwise be the figure.
  if (!denormal)
    for (int i = 0; i < kWarmupSteps; ++i) next_labels(), step();
  for (auto _ : state) {
    next_labels();
    step();
    busy_wait_us(extra_us);
  }
  step_counters(state, *net, batch);
  state.counters["params"] = double(net->param_count());
  dnnl_ctx::set_flush_denormals(flush);
  Network::set_sub_batch_bytes(sub_before);
  Network::set_two_lanes(lanes_before);
}

// A data set of the anchor's shape and the size of the real one (50,000 CIFAR-10 or 60,000
// Fashion-MNIST training images; random uint8 pixels, random labels, scaled by 1/255), so that the
// gather reads shuffled samples from memory, not from cache. Built once per shape.
const Dataset& anchor_dataset(const Shape& shape) {
  static std::map<std::string, std::unique_ptr<Dataset>> cache;
  auto& d = cache[shape.str()];
  if (d) return *d;
  d = std::make_unique<Dataset>();
  d->name = "bench", d->source = "synthetic", d->shape = shape, d->classes = 10;
  const int64_t P = shape.numel(), n = shape[0] == 3 ? 50000 : 60000;
  Rng rng(3);
  auto fill = [&](Split& s, int64_t count) {
    s.images.resize(size_t(count * P));
    for (size_t i = 0; i < s.images.size(); i += 8) {
      const uint64_t r = rng.next();
      std::memcpy(s.images.data() + i, &r, std::min<size_t>(8, s.images.size() - i));
    }
    s.labels.resize(size_t(count));
    for (auto& l : s.labels) l = int32_t(rng.below(10));
  };
  fill(d->train, n);
  on_huge_pages(d->train.images);  // as load_dataset
  fill(d->test, 10);  // the trainer evaluates at the start and the end: keep that negligible
  d->pre.scale.assign(size_t(shape[0]), 1.0f / 255.0f);
  d->pre.shift.assign(size_t(shape[0]), 0.0f);
  return *d;
}

// The trainer's own loop, one benchmark iteration per step: the step callback advances the
// benchmark's state, so the time between two callbacks is one whole step of Trainer::run.
void BM_TrainerStep(benchmark::State& state, const bench::AnchorModel& m) {
  const int64_t batch = state.range(0);
  const Dataset& data = anchor_dataset(m.input);
  TrainConfig cfg;
  cfg.model = ModelDesc(m.model);
  cfg.batch_size = batch;
  cfg.optimizer.momentum = 0.9;  // as BM_TrainStep
  cfg.lr = 0.01;
  cfg.epochs = 1000000;
  cfg.divergence_loss = 1e30;  // random labels: the loss stays near log(10), but never stop on it
  cfg.drop_last = true;        // every step a full batch, as the images counted
  Trainer t(cfg, data);
  int64_t warm = kWarmupSteps;
  bool done = false;  // KeepRunning() said false: the benchmark, not the trainer, ended the run
  t.set_step_callback([&](int64_t, double, double) {
    if (warm-- > 0) return true;
    done = !state.KeepRunning();
    return !done;
  });
  auto res = t.run();
  if (!done) state.SkipWithError(("the trainer stopped by itself: " + res.stop_reason).c_str());
  step_counters(state, t.network(), batch);
}

}  // namespace

// A row per batch size, in microseconds of real time.
void per_batch(benchmark::internal::Benchmark* b) {
  b->ArgNames({"batch"})->Unit(benchmark::kMicrosecond)->UseRealTime();
  for (auto n : bench::batch_sizes()) b->Arg(n);
}

int main(int argc, char** argv) {
  for (auto& m : bench::anchor_models())
    per_batch(benchmark::RegisterBenchmark(("BM_TrainStep/" + m.name).c_str(), BM_TrainStep, m, false, int64_t(0), -1));
  // SGDBENCH_BENCH_SUB_KIB=K1,K2,...: the same steps with plans split at other sub-batch byte
  // targets (Network::set_sub_batch_bytes), as rows of their own, for side-by-side runs
  // (--benchmark_enable_random_interleaving).
  if (const char* e = std::getenv("SGDBENCH_BENCH_SUB_KIB"))
    for (const char* p = e; *p;) {
      char* end = nullptr;
      const long long k = std::strtoll(p, &end, 10);
      if (end == p) break;
      if (k > 0 && k <= (1LL << 30))  // the range SGDBENCH_SUB_BATCH_KIB takes
        for (auto& m : bench::anchor_models()) {
          const std::string name = "BM_TrainStepSub/" + m.name + "/sub_kib:" + std::to_string(k);
          per_batch(benchmark::RegisterBenchmark(name.c_str(), BM_TrainStep, m, false, int64_t(k) << 10, -1));
        }
      p = *end == ',' ? end + 1 : end;
    }
  // SGDBENCH_BENCH_LANES=1: the same steps with the two-lane backward off and on (Plan::two_lanes),
  // as rows BM_TrainStepLanes/<model>/lanes:0|1 for side-by-side runs.
  if (const char* e = std::getenv("SGDBENCH_BENCH_LANES"); e && std::string(e) == "1")
    for (auto& m : bench::anchor_models())
      for (int on = 0; on < 2; ++on) {
        const std::string name = "BM_TrainStepLanes/" + m.name + "/lanes:" + std::to_string(on);
        per_batch(benchmark::RegisterBenchmark(name.c_str(), BM_TrainStep, m, false, int64_t(0), on));
      }
  for (auto& m : bench::anchor_models()) {
    auto* b =
        benchmark::RegisterBenchmark(("BM_TrainStepDenormal/" + m.name).c_str(), BM_TrainStep, m, true, int64_t(0), -1);
    b->ArgNames({"batch"})->Unit(benchmark::kMicrosecond)->UseRealTime()->Arg(1);
  }
  for (auto& m : bench::anchor_models())
    per_batch(benchmark::RegisterBenchmark(("BM_TrainerStep/" + m.name).c_str(), BM_TrainerStep, m));
  return bench::run_main(argc, argv);
}
