// Optimizers against PyTorch (torch.optim, float64) on a 4-element vector for 3 steps with
// gradients g_t = [0.3, -0.2 + 0.1 t, 0.05 t, -1]; schedules against hand-computed values.
#include "core/error.hpp"
#include "dnnl/context.hpp"
#include "helpers.hpp"
#include "optim/elementwise.hpp"
#include "optim/optimizer.hpp"
#include "optim/schedule.hpp"

using namespace sgdbench;
using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;

namespace {
struct Case {
  const char* what;
  OptimizerConfig cfg;
  double lr;
  std::vector<double> expected;  // printed by torch.optim (values in the comment of each case)
};
OptimizerConfig oc(std::string name) {
  OptimizerConfig c;
  c.name = std::move(name);
  return c;
}
}  // namespace

TEST_CASE("optimizers match torch.optim for 3 steps", "[optim]") {
  std::vector<Case> cases;
  cases.push_back({"sgd", oc("sgd"), 0.1, {0.91, -1.97, 0.485, 0.3}});
  {
    auto c = oc("sgd");
    c.weight_decay = 0.01;
    cases.push_back({"sgd weight_decay", c, 0.1, {0.907092969, -1.964055978, 0.4835064995, 0.2997001}});
  }
  {
    auto c = oc("sgd");
    c.momentum = 0.9;
    cases.push_back({"sgd momentum", c, 0.1, {0.8317, -1.9268, 0.4805, 0.561}});
  }
  {
    auto c = oc("sgd");
    c.momentum = 0.9, c.nesterov = true, c.weight_decay = 0.01;
    cases.push_back(
        {"sgd nesterov + weight_decay", c, 0.1, {0.750911935371, -1.8882917251, 0.463450500571, 0.8035098859}});
  }
  {
    auto c = oc("sgd");
    c.momentum = 0.5, c.dampening = 0.3;
    cases.push_back({"sgd dampening", c, 0.1, {0.895, -1.9545, 0.48775, 0.35}});
  }
  {
    auto c = oc("adagrad");
    c.lr_decay = 0.01, c.weight_decay = 0.01;
    cases.push_back({"adagrad", c, 0.1, {0.77364616968, -1.84565140696, 0.214659651373, 0.226533180684}});
  }
  cases.push_back({"rmsprop", oc("rmsprop"), 0.01, {0.771087032329, -1.85509874465, 0.310467983953, 0.228913010585}});
  {
    auto c = oc("rmsprop");
    c.momentum = 0.9, c.centered = true, c.weight_decay = 0.01;
    cases.push_back(
        {"rmsprop centered momentum", c, 0.01, {0.533169216045, -1.62889275457, -0.0519647681756, 0.467168350436}});
  }
  cases.push_back({"adam", oc("adam"), 0.01, {0.970000001, -1.97347242963, 0.484272908865, 0.0299999997}});
  {
    auto c = oc("adam");
    c.beta1 = 0.8, c.beta2 = 0.99, c.weight_decay = 0.01, c.eps = 1e-6;
    cases.push_back(
        {"adam betas eps weight_decay", c, 0.01, {0.970000722866, -1.97343563671, 0.472557191931, 0.0299997760527}});
  }
  for (auto& k : cases) {
    CAPTURE(k.what);
    auto opt = make_optimizer(k.cfg);
    std::vector<float> p{1.0f, -2.0f, 0.5f, 0.0f};
    for (int t = 0; t < 3; ++t) {
      std::vector<float> g{0.3f, float(-0.2 + 0.1 * t), float(0.05 * t), -1.0f};
      opt->step(p.data(), g.data(), p.size(), k.lr);
    }
    CHECK(opt->steps() == 3);
    for (size_t i = 0; i < 4; ++i) {
      CAPTURE(i);
      CHECK_THAT(double(p[i]), WithinRel(k.expected[i], 2e-6) || WithinAbs(k.expected[i], 1e-6));
    }
  }
}

// The update loops run in AVX-512, AVX2 or baseline code (optim/elementwise.hpp); each rule is
// IEEE arithmetic compiled without fused multiply-adds, so every ISA must give the baseline's
// bits, on the vector body, the tail and the threaded split (n > kParallelMin, 2 threads).
TEST_CASE("every update ISA gives the baseline's bits", "[optim][isa]") {
  // What the CPU has, asked directly (SGDBENCH_UPDATE_ISA may have chosen a narrower one).
  REQUIRE(update_isa_supported(UpdateIsa::baseline));
  CHECK(update_isa_supported(UpdateIsa::avx2) == bool(__builtin_cpu_supports("avx2")));
  CHECK(update_isa_supported(UpdateIsa::avx512) == bool(__builtin_cpu_supports("avx512f")));
  const UpdateIsa before = update_isa();
  CHECK(update_isa_supported(before));
  std::vector<OptimizerConfig> cfgs;
  auto add = [&](std::string name, auto edit) {
    auto c = oc(std::move(name));
    edit(c);
    cfgs.push_back(c);
  };
  add("sgd", [](OptimizerConfig& c) { c.weight_decay = 0.01; });
  add("sgd", [](OptimizerConfig& c) { c.momentum = 0.9, c.dampening = 0.1; });
  add("sgd", [](OptimizerConfig& c) { c.momentum = 0.9, c.nesterov = true, c.weight_decay = 0.01; });
  add("adagrad", [](OptimizerConfig& c) { c.lr_decay = 0.01, c.weight_decay = 0.01; });
  add("rmsprop", [](OptimizerConfig&) {});
  add("rmsprop", [](OptimizerConfig& c) { c.momentum = 0.9, c.centered = true; });
  add("adam", [](OptimizerConfig& c) { c.weight_decay = 0.01; });
  const size_t n = 2 * kParallelMin + 37;
  auto run = [&](const OptimizerConfig& c, UpdateIsa isa) {
    set_update_isa(isa);
    Rng r(5);
    std::vector<float> p(n), g(n);
    for (auto& v : p) v = float(r.uniform(-1, 1));
    auto opt = make_optimizer(c);
    for (int t = 0; t < 3; ++t) {
      for (auto& v : g) v = float(r.uniform(-1, 1));
      opt->step(p.data(), g.data(), n, 0.01);
    }
    return p;
  };
  dnnl_ctx::set_threads(2);
  for (auto& c : cfgs) {
    CAPTURE(c.to_json().dump());
    const auto base = run(c, UpdateIsa::baseline);
    for (UpdateIsa isa : {UpdateIsa::avx2, UpdateIsa::avx512}) {
      if (!update_isa_supported(isa)) continue;
      CAPTURE(update_isa_name(isa));
      const auto got = run(c, isa);
      size_t differ = 0;
      for (size_t i = 0; i < n; ++i) differ += std::memcmp(&got[i], &base[i], sizeof(float)) != 0;
      CHECK(differ == 0);
    }
  }
  set_update_isa(before);
  dnnl_ctx::set_threads(0);
}

TEST_CASE("optimizer configuration errors are spec errors", "[optim]") {
  auto bad = [](OptimizerConfig c) {
    try {
      make_optimizer(c);
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::Spec);
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK_THAT(bad(oc("sgdd")), Catch::Matchers::Contains("unknown optimizer 'sgdd'"));
  auto c = oc("sgd");
  c.momentum = -0.5;
  CHECK_THAT(bad(c), Catch::Matchers::Contains("momentum: expected number >= 0"));
  c.momentum = 0;
  c.nesterov = true;
  CHECK_THAT(bad(c), Catch::Matchers::Contains("nesterov needs momentum"));
  auto a = oc("adam");
  a.beta1 = 1.0;
  CHECK_THAT(bad(a), Catch::Matchers::Contains("beta1"));
}

TEST_CASE("learning-rate schedules, warm-up and batch-size scaling", "[optim][schedule]") {
  auto lr = [](ScheduleConfig c, double e, double batch = 32, double epochs = 10) {
    c.validate(epochs);
    return Schedule(c, 0.1, batch, epochs).lr(e);
  };
  ScheduleConfig c;
  CHECK_THAT(lr(c, 7.3), WithinRel(0.1, 1e-12));
  c.name = "step", c.step_size = 2, c.gamma = 0.5;
  CHECK_THAT(lr(c, 1.99), WithinRel(0.1, 1e-12));
  CHECK_THAT(lr(c, 2.0), WithinRel(0.05, 1e-12));
  CHECK_THAT(lr(c, 5.5), WithinRel(0.025, 1e-12));
  c = {};
  c.name = "multistep", c.milestones = {3, 7}, c.gamma = 0.1;
  CHECK_THAT(lr(c, 2.9), WithinRel(0.1, 1e-12));
  CHECK_THAT(lr(c, 3), WithinRel(0.01, 1e-12));
  CHECK_THAT(lr(c, 8), WithinRel(0.001, 1e-12));
  c = {};
  c.name = "exponential", c.gamma = 0.9;
  CHECK_THAT(lr(c, 2), WithinRel(0.081, 1e-12));
  c = {};
  c.name = "inverse_time", c.decay = 0.5;
  CHECK_THAT(lr(c, 4), WithinRel(0.1 / 3, 1e-12));
  c = {};
  c.name = "cosine", c.lr_min = 0.02;
  CHECK_THAT(lr(c, 0), WithinRel(0.1, 1e-12));
  CHECK_THAT(lr(c, 5), WithinRel(0.06, 1e-12));  // half-way: the mean of lr and lr_min
  CHECK_THAT(lr(c, 10), WithinRel(0.02, 1e-12));
  CHECK_THAT(lr(c, 12), WithinRel(0.02, 1e-12));
  c = {};
  c.name = "polynomial", c.power = 2, c.horizon = 4;
  CHECK_THAT(lr(c, 2), WithinRel(0.025, 1e-12));
  c = {};
  c.warmup_epochs = 2, c.warmup_start = 0.1;
  CHECK_THAT(lr(c, 0), WithinRel(0.01, 1e-12));
  CHECK_THAT(lr(c, 1), WithinRel(0.055, 1e-12));
  CHECK_THAT(lr(c, 2), WithinRel(0.1, 1e-12));
  c = {};
  c.scaling = "linear", c.base_batch = 32;
  CHECK_THAT(lr(c, 0, 128), WithinRel(0.4, 1e-12));
  c.scaling = "sqrt";
  CHECK_THAT(lr(c, 0, 128), WithinRel(0.2, 1e-12));
  c = {};
  c.name = "cosine";
  CHECK_THROWS_AS(c.validate(0), Error);  // no horizon and no epoch budget
  c.name = "linear";
  CHECK_THROWS_WITH(c.validate(10), Catch::Matchers::Contains("unknown schedule 'linear'"));
}

// Issue 11: denormals. With flush-to-zero + denormals-are-zero (the default) every thread that
// computes (the caller and each OpenMP worker) has MXCSR FTZ|DAZ set, and an update whose result
// would be denormal gives exactly zero; --keep-denormals gives the IEEE result.
TEST_CASE("denormals are flushed to zero in every computing thread, unless asked not to", "[optim][denormal]") {
  auto all_threads_flush = [] {
    int ok = 1;
#pragma omp parallel reduction(&& : ok)
    ok = dnnl_ctx::thread_flushes_denormals() ? 1 : 0;
    return ok == 1 && dnnl_ctx::thread_flushes_denormals();
  };
  // SGD with momentum 0.5, lr 1, on n equal parameters (n large enough for the parallel loop):
  // step 1, g = 2e-38 (normal): v = 2e-38, p = -2e-38. Step 2, g = 0: v = 1e-38 is below
  // FLT_MIN (1.18e-38), a denormal: flushed, v = 0 and p stays -2e-38; kept, p = -3e-38.
  auto two_steps = [] {
    const size_t n = kParallelMin * 2;
    std::vector<float> p(n, 0.f), g(n, 2e-38f);
    OptimizerConfig c;
    c.momentum = 0.5;
    auto opt = make_optimizer(c);
    opt->step(p.data(), g.data(), n, 1.0);
    std::fill(g.begin(), g.end(), 0.f);
    opt->step(p.data(), g.data(), n, 1.0);
    return p;
  };
  dnnl_ctx::set_threads(2);
  REQUIRE(dnnl_ctx::flush_denormals());
  CHECK(all_threads_flush());
  for (float v : two_steps()) REQUIRE(v == -2e-38f);

  dnnl_ctx::set_flush_denormals(false);
  CHECK_FALSE(dnnl_ctx::thread_flushes_denormals());
  auto kept = two_steps();
  dnnl_ctx::set_flush_denormals(true);
  for (float v : kept) REQUIRE(v == Approx(-3e-38f).epsilon(1e-5));
  CHECK(all_threads_flush());
  dnnl_ctx::set_threads(0);
}
