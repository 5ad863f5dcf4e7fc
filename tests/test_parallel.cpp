// core/parallel.hpp (issue 11): loops open an OpenMP team only when it has more than one thread,
// and a training step on one thread (plan and trainer) opens none. Oracle: every parallel region
// GCC emits (and oneDNN's, through the PLT) is a call to libgomp's GOMP_parallel, which this
// test binary interposes: it counts the call and forwards it to libgomp's.
#include <dlfcn.h>

#include <atomic>
#include <cstring>
#include <vector>

#include "core/parallel.hpp"
#include "core/rng.hpp"
#include "dnnl/context.hpp"
#include "helpers.hpp"
#include "layers/dense_fused.hpp"
#include "model/zoo.hpp"
#include "optim/optimizer.hpp"
#include "train/trainer.hpp"

using namespace sgdbench;

namespace {
std::atomic<int64_t> g_regions{0};
using GompParallel = void (*)(void (*)(void*), void*, unsigned, unsigned);
}  // namespace

extern "C" void GOMP_parallel(void (*fn)(void*), void* data, unsigned num_threads, unsigned flags);
extern "C" void GOMP_parallel(void (*fn)(void*), void* data, unsigned num_threads, unsigned flags) {
  static const auto real = reinterpret_cast<GompParallel>(dlsym(RTLD_NEXT, "GOMP_parallel"));
  g_regions.fetch_add(1, std::memory_order_relaxed);
  real(fn, data, num_threads, flags);
}

namespace {
int64_t regions() { return g_regions.load(); }

// The nesting level each index ran at, and how often it ran.
struct Seen {
  std::vector<int> level, count;
  explicit Seen(int64_t n) : level(size_t(n), -1), count(size_t(n), 0) {}
  void operator()(int64_t i) { level[size_t(i)] = omp_get_level(), ++count[size_t(i)]; }
  bool once() const {
    for (int c : count)
      if (c != 1) return false;
    return true;
  }
};
}  // namespace

TEST_CASE("parallel_for opens a team only when it would have more than one thread", "[core][parallel]") {
  const int64_t n = 1000;
  {
    dnnl_ctx::ThreadScope two(2);
    const int64_t r0 = regions();
    Seen s(n);
    parallel_for(n, true, [&](int64_t i) { s(i); });
    CHECK(regions() == r0 + 1);  // the counter sees the region: the checks below can fail
    CHECK(s.once());
    CHECK(s.level[0] == 1);
    CHECK(s.level[size_t(n - 1)] == 1);

    Seen small(n);  // not worth it: this thread, no region
    parallel_for(n, false, [&](int64_t i) { small(i); });
    CHECK(regions() == r0 + 1);
    CHECK(small.once());
    CHECK(small.level[0] == 0);
  }
  {
    dnnl_ctx::ThreadScope one(1);
    CHECK_FALSE(parallel_pays());
    const int64_t r0 = regions();
    Seen s(n);
    parallel_for(n, true, [&](int64_t i) { s(i); });
    CHECK(regions() == r0);
    CHECK(s.once());
    CHECK(s.level[0] == 0);
  }
  {
    // Inside a region of two with one active level allowed: a nested team would have one thread.
    dnnl_ctx::ThreadScope two(2);
    const int levels = omp_get_max_active_levels();
    omp_set_max_active_levels(1);
    const int64_t r0 = regions();
    std::vector<Seen> s(2, Seen(n));
    bool pays = true;
#pragma omp parallel num_threads(2)
    {
      const int t = omp_get_thread_num();
      if (t < 2) {
#pragma omp critical
        pays = pays && parallel_pays();
        parallel_for(n, true, [&](int64_t i) { s[size_t(t)](i); });
      }
    }
    omp_set_max_active_levels(levels);
    CHECK_FALSE(pays);
    CHECK(regions() == r0 + 1);  // the outer region alone
    for (auto& one : s) {
      CHECK(one.once());
      CHECK(one.level[0] == 1);
    }
  }
}

TEST_CASE("a training step on one thread opens no OpenMP region", "[model][parallel]") {
  // keras_mnist_mlp at batch 32: dropout forward and backward and the SGD-momentum update (each
  // opened a team of one, 1.3 µs of futex call apiece on our VM); lenet at batch 4: the
  // small-channel conv kernels (two teams a layer); fused and unfused updates.
  const std::string model = GENERATE("keras_mnist_mlp", "lenet");
  const int64_t batch = model == "lenet" ? 4 : 32;
  CAPTURE(model);
  dnnl_ctx::ThreadScope one(1);
  const Shape input = model == "lenet" ? Shape{3, 32, 32} : Shape{1, 28, 28};
  auto net = build_model(model, input, 10);
  initialize(*net, zoo_entry(model).init, 1);
  Plan& p = net->plan(batch, true);
  Rng rng(5);
  for (int64_t i = 0; i < batch * input.numel(); ++i) p.input()[i] = float(rng.uniform(-1, 1));
  for (int64_t i = 0; i < batch; ++i) p.labels()[i] = int32_t(rng.below(10));
  OptimizerConfig oc;
  oc.momentum = 0.9;
  auto opt = make_optimizer(oc);
  auto step = [&](bool fuse) {
    p.forward_loss();
    FusedSgd f;
    const bool ok = fuse && opt->begin_fused(net->buffer_size(), 0.01, net->params(), f);
    const auto& done = p.backward(ok ? &f : nullptr);
    opt->finish_fused(net->params(), net->grads(), net->buffer_size(), 0.01, net->param_refs(), done);
  };
  step(true);  // the first step creates what later steps reuse
  const int64_t r0 = regions();
  for (int k = 0; k < 3; ++k) step(k != 1);
  CHECK(regions() == r0);
}

TEST_CASE("the trainer's steps on one thread open no OpenMP region", "[train][parallel]") {
  // Between two step callbacks: the batch gather, the step, the bookkeeping (synthetic data,
  // keras_mnist_mlp, batch 32, momentum).
  dnnl_ctx::ThreadScope one(1);
  DataConfig d;
  d.name = "synthetic";
  d.synthetic_train = 640;
  d.synthetic_test = 20;
  d.synthetic_shape = Shape{1, 28, 28};
  const Dataset data = load_dataset(d);
  TrainConfig c;
  c.model = ModelDesc("keras_mnist_mlp");
  c.batch_size = 32;
  c.lr = 0.01;
  c.optimizer.momentum = 0.9;
  c.epochs = 1;
  Trainer t(c, data);
  std::vector<int64_t> at;
  t.set_step_callback([&](int64_t, double, double) {
    at.push_back(regions());
    return true;
  });
  const auto res = t.run();
  REQUIRE(res.steps == 20);
  REQUIRE(at.size() == 20);
  CHECK(at.back() == at[1]);  // from the end of step 2 to the end of step 20
}

TEST_CASE("fused dense pass: split over the caller's threads from 2 MiB of weights, the same bits",
          "[layers][parallel]") {
  // 128 x 4100 weights (524,800, just above kFusedDenseSplitMinWeights; 4100 = 64 x 64 + 4: the
  // last column block masked), momentum and weight decay, an input gradient: one thread against
  // two (one region, counted), every output bit for bit; below the limit, and inside a parallel
  // region, no region of its own.
  if (!__builtin_cpu_supports("avx512f")) {
    WARN("no AVX-512: no fused pass to split");
    return;
  }
  auto run = [](int64_t out, int64_t in, int threads, int64_t* opened) {
    Rng r(9);
    auto fill = [&](std::vector<float>& v, size_t n) {
      v.resize(n);
      for (auto& x : v) x = float(r.uniform()) - 0.5f;
    };
    std::vector<float> x, dy, w, v;
    std::vector<float> g(static_cast<size_t>(out * in)), dx(static_cast<size_t>(in)), gb(static_cast<size_t>(out));
    fill(x, size_t(in)), fill(dy, size_t(out)), fill(w, size_t(out * in)), fill(v, size_t(out * in));
    FusedDenseArgs a;
    a.batch = 1, a.out = out, a.in = in;
    a.x = x.data(), a.dy = dy.data(), a.dx = dx.data(), a.w = w.data(), a.g = g.data(), a.gb = gb.data();
    a.v = v.data();
    a.sgd.lr = 0.05f, a.sgd.momentum = 0.9f, a.sgd.weight_decay = 1e-3f, a.sgd.threads = threads;
    const int64_t r0 = regions();
    fused_dense_backward_update(a);
    *opened = regions() - r0;
    std::vector<float> all;
    for (const auto* p : {&w, &v, &g, &dx, &gb}) all.insert(all.end(), p->begin(), p->end());
    return all;
  };
  int64_t one = -1, two = -1;
  const auto a = run(128, 4100, 1, &one), b = run(128, 4100, 2, &two);
  CHECK(one == 0);
  CHECK(two == 1);
  REQUIRE(a.size() == b.size());
  CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
  CHECK(std::memcmp(a.data(), run(128, 4100, 1, &one).data(), a.size() * sizeof(float)) == 0);  // deterministic
  int64_t small = -1;
  run(128, 4095, 2, &small);  // 524,160 weights: below the limit
  CHECK(small == 0);
  int64_t nested = -1;
#pragma omp parallel num_threads(2)
  {
#pragma omp single
    run(128, 4100, 2, &nested);  // the other thread waits at the single's barrier
  }
  CHECK(nested == 0);
}

TEST_CASE("a batch-1 step on 2 threads splits the fused pass of a 2 MiB dense layer only", "[model][parallel]") {
  // Plan::backward hands its caller's thread count to the fused pass: keras_mnist_cnn's dense1
  // (5408 x 128) splits (one region a backward pass) when the caller has 2 threads, not when it
  // has one; keras_mnist_mlp's dense1 (784 x 128) stays on one thread either way.
  if (!fused_dense_available()) {
    WARN("no AVX-512 (or SGDBENCH_FUSED_UPDATE=0): nothing fuses");
    return;
  }
  const std::string model = GENERATE("keras_mnist_cnn", "keras_mnist_mlp");
  CAPTURE(model);
  dnnl_ctx::ThreadScope two(2);
  auto net = build_model(model, Shape{1, 28, 28}, 10);
  initialize(*net, zoo_entry(model).init, 1);
  Plan& p = net->plan(1, true);
  Rng rng(6);
  for (int64_t i = 0; i < 28 * 28; ++i) p.input()[i] = float(rng.uniform(-1, 1));
  p.labels()[0] = 3;
  OptimizerConfig oc;
  oc.momentum = 0.9;
  auto opt = make_optimizer(oc);
  // Regions opened by one step's backward pass, with `threads` for the caller.
  auto backward_regions = [&](int threads) {
    dnnl_ctx::ThreadScope caller(threads);
    p.forward_loss();
    FusedSgd f;
    REQUIRE(opt->begin_fused(net->buffer_size(), 0.01, net->params(), f));
    const int64_t r0 = regions();
    const auto& done = p.backward(&f);
    const int64_t opened = regions() - r0;
    CHECK(done.size() == 1);  // dense1 fused
    opt->finish_fused(net->params(), net->grads(), net->buffer_size(), 0.01, net->param_refs(), done);
    return opened;
  };
  // The layer's first two passes measure both ways (SplitChooser): split, then on one thread.
  const int64_t r0 = backward_regions(2);
  CHECK(r0 + backward_regions(2) == (model == "keras_mnist_cnn" ? 1 : 0));
  CHECK(backward_regions(1) == 0);
}

TEST_CASE("SplitChooser runs the faster way and tries the other every kProbeEvery passes", "[layers][parallel]") {
  // Hand-made times: the split way slow (the second vCPU descheduled), then fast, then slow again.
  SplitChooser c;
  CHECK(c.next_split());  // pass 1: measure the split way
  c.record(true, 1.4e-3);
  CHECK_FALSE(c.next_split());  // pass 2: one thread
  c.record(false, 1.1e-4);
  for (int64_t k = 3; k < SplitChooser::kProbeEvery; ++k) {
    REQUIRE_FALSE(c.next_split());  // one thread is faster
    c.record(false, 1.1e-4);
  }
  CHECK(c.next_split());   // pass 256: the probe of the other way
  c.record(true, 5.5e-5);  // now fast: the probe's figure replaces the old one
  CHECK(c.seconds(true) == 5.5e-5);
  CHECK(c.next_split());
  c.record(true, 2e-3);  // slow again: 3/4 x 5.5e-5 + 1/4 x 2e-3 = 5.4e-4 > 1.1e-4
  CHECK(c.seconds(true) == Approx(0.75 * 5.5e-5 + 0.25 * 2e-3));
  CHECK_FALSE(c.next_split());
}
