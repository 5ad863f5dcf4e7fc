// The science issue's trainer features against independent oracles: gradient clipping and
// L-BFGS against PyTorch (tests/data/golden_optim.*, tools/gen_reference.py), the gradient noise
// scale against the exact per-sample gradients of the whole data set, per-parameter norms against
// direct sums, augmentation against a literal pad-crop-flip, and the lr range test.
#include <fstream>

#include "core/rng.hpp"
#include "data/batcher.hpp"
#include "helpers.hpp"
#include "model/model_desc.hpp"
#include "optim/optimizer.hpp"
#include "train/grad_health.hpp"
#include "train/lr_find.hpp"
#include "train/noise_scale.hpp"
#include "train/trainer.hpp"

using namespace sgdbench;
using sgdbench::test::Golden;

namespace {

const std::string kSmallMlp = std::string(SGDBENCH_TEST_DATA) + "/models/small_mlp.json";

// The small MLP with the golden's parameters, batch and labels in its training plan.
struct GoldenNet {
  std::unique_ptr<Network> net;
  Plan* plan = nullptr;
  explicit GoldenNet(const Golden& g) {
    auto& m = g.manifest;
    net = build_network(load_model_file(kSmallMlp), Shape(m.at("input_shape").get<std::vector<int64_t>>()),
                        m.at("classes").get<int64_t>());
    for (auto& r : net->param_refs()) net->write_param(r.name, g.floats("param." + r.name).data());
    plan = &net->plan(m.at("batch").get<int64_t>(), true);
    auto x = g.floats("input"), y = g.floats("labels");
    std::copy(x.begin(), x.end(), plan->input());
    for (size_t i = 0; i < y.size(); ++i) plan->labels()[i] = int32_t(y[i]);
  }
  double loss_and_grad() {
    const double l = plan->forward_loss().loss;
    plan->backward();
    return l;
  }
  // Largest |a - e| / largest |e| over one parameter (canonical layout), a from the buffer `buf`.
  double rel_error(const std::string& name, const std::vector<float>& e, bool grad) {
    std::vector<float> a(e.size());
    grad ? net->read_grad(name, a.data()) : net->read_param(name, a.data());
    double num = 0, den = 0;
    for (size_t i = 0; i < e.size(); ++i)
      num = std::max(num, double(std::fabs(a[i] - e[i]))), den = std::max(den, double(std::fabs(e[i])));
    return num / den;
  }
};

DataConfig synthetic(int64_t train, Shape shape = Shape{1, 6, 6}, int64_t classes = 3, double noise = 1.0) {
  DataConfig d;
  d.name = "synthetic";
  d.synthetic_train = train;
  d.synthetic_test = 64;
  d.synthetic_shape = shape;
  d.synthetic_classes = classes;
  d.synthetic_noise = noise;
  return d;
}

}  // namespace

TEST_CASE("gradient clipping by norm and by value equals torch.nn.utils.clip_grad_norm_ / clip_grad_value_",
          "[science][clip]") {
  Golden g("optim");
  GoldenNet n(g);
  n.loss_and_grad();
  const size_t m = n.net->buffer_size();
  std::vector<float> raw(n.net->grads(), n.net->grads() + m);
  INFO("gradient norm " << l2_norm(raw.data(), m) << ", PyTorch's " << g.manifest.at("grad_norm").get<double>());
  CHECK_THAT(l2_norm(raw.data(), m), Catch::Matchers::WithinRel(g.manifest.at("grad_norm").get<double>(), 1e-5));
  auto c = clip_gradient(n.net->grads(), m, g.manifest.at("clip_norm").get<double>(), 0);
  CHECK_THAT(c.scale, Catch::Matchers::WithinRel(0.5, 1e-5));
  for (auto& r : n.net->param_refs()) {
    INFO(r.name);
    CHECK(n.rel_error(r.name, g.floats("clip_norm." + r.name), true) <= 1e-5);
  }
  std::copy(raw.begin(), raw.end(), n.net->grads());
  c = clip_gradient(n.net->grads(), m, 0, g.manifest.at("clip_value").get<double>());
  CHECK(c.scale == 1);
  for (auto& r : n.net->param_refs()) {
    INFO(r.name);
    CHECK(n.rel_error(r.name, g.floats("clip_value." + r.name), true) <= 1e-6);
  }
  // A norm below the limit is left alone.
  std::copy(raw.begin(), raw.end(), n.net->grads());
  c = clip_gradient(n.net->grads(), m, 1e9, 0);
  CHECK(c.scale == 1);
  CHECK(std::equal(raw.begin(), raw.end(), n.net->grads()));
}

TEST_CASE("L-BFGS gives torch.optim.LBFGS's iterates (strong Wolfe and fixed step)", "[science][lbfgs]") {
  Golden g("optim");
  const std::string run = GENERATE("wolfe", "fixed");
  CAPTURE(run);
  const auto& kw = g.manifest.at("lbfgs").at(run);
  GoldenNet n(g);
  OptimizerConfig oc;
  oc.name = "lbfgs";
  oc.max_iter = kw.at("max_iter");
  oc.history_size = kw.at("history_size");
  oc.line_search = kw.at("line_search_fn").is_null() ? "none" : "strong_wolfe";
  auto opt = make_optimizer(oc);
  REQUIRE(opt->needs_closure());
  const auto losses = g.floats("lbfgs." + run + ".losses");
  int evaluations = 0;
  const int steps = kw.at("steps");
  for (int s = 0; s < steps; ++s) {
    const double loss = n.loss_and_grad();
    ++evaluations;
    CHECK_THAT(loss, Catch::Matchers::WithinRel(double(losses[size_t(s)]), 1e-5));
    opt->step_with(n.net->params(), n.net->grads(), n.net->buffer_size(), kw.at("lr").get<double>(), loss, [&] {
      ++evaluations;
      return n.loss_and_grad();
    });
    // 1e-5 for the first two steps (16 and 8 iterations); 1e-4 for the third, where fp32
    // rounding has grown: PyTorch's own LBFGS in float32 is 1.2e-5 (fixed step) and 1.7e-4
    // (strong Wolfe) away from its float64 iterates there (this golden is float64).
    const double tol = s < 2 ? 1e-5 : 1e-4;
    for (auto& r : n.net->param_refs()) {
      const double err = n.rel_error(r.name, g.floats("lbfgs." + run + "." + std::to_string(s) + "." + r.name), false);
      INFO("step " << s << " " << r.name << ": max-norm relative error " << err);
      CHECK(err <= tol);
    }
  }
  // PyTorch's closure count includes the evaluation each step() starts with.
  CHECK(evaluations == kw.at("evaluations").get<int>());
}

TEST_CASE("L-BFGS through the trainer: full-batch GD with the closure, spec checks", "[science][lbfgs]") {
  TrainConfig c;
  c.model = load_model_file(kSmallMlp);
  c.data = synthetic(256);
  c.batch_size = 0;
  c.epochs = 4;
  c.lr = 1;
  c.optimizer.name = "lbfgs";
  c.optimizer.max_iter = 5;
  auto data = load_dataset(c.data);
  auto r = train(c, data);
  REQUIRE(r.status == RunStatus::Completed);
  REQUIRE(r.history.size() == 5);
  // Each step runs up to 5 iterations with a line search: far below plain GD at the same steps.
  TrainConfig gd = c;
  gd.optimizer = OptimizerConfig{};
  gd.lr = 0.1;
  auto plain = train(gd, data);
  INFO("L-BFGS train loss " << r.history.back().train_loss << ", GD " << plain.history.back().train_loss);
  CHECK(r.history.back().test_loss < plain.history.back().test_loss);
  c.data_parallel = 2;
  CHECK(c.conflict().find("lbfgs") != std::string::npos);
}

TEST_CASE("noise scale estimators: hand-computed values", "[science][noise]") {
  // |G_b|^2 = 5, |G_B|^2 = 2 with b = 2, B = 8: |G|^2 = (8*2 - 2*5)/6 = 1, tr(S) = 3/(1/2 - 1/8) = 8.
  CHECK_THAT(NoiseScale::grad_sq(5, 2, 2, 8), Catch::Matchers::WithinAbs(1.0, 1e-12));
  CHECK_THAT(NoiseScale::trace_cov(5, 2, 2, 8), Catch::Matchers::WithinAbs(8.0, 1e-12));
  // Fed gradients directly: g = G + e with e = +-s per coordinate, alternating, so every window
  // of 4 small gradients averages to G exactly: |G_b|^2 = |G|^2 + n s^2, |G_B|^2 = |G|^2.
  NoiseScale ns(4, 1, 4, 0.5);
  const std::vector<float> G{0.5f, -1.0f, 2.0f};
  for (int step = 0; step < 12; ++step) {
    std::vector<float> g(G);
    for (size_t i = 0; i < g.size(); ++i) g[i] += (step % 2 ? 0.25f : -0.25f);
    ns.observe(g.data(), g.size(), step);
  }
  auto p = ns.point();
  REQUIRE(!p.is_null());
  CHECK(p.at("measurements") == 3);
  const double G2 = 0.25 + 1 + 4, n_s2 = 3 * 0.0625;
  // |G|^2 estimate = (4 G2 - (G2 + n s^2)) / 3 = G2 - n s^2 / 3; tr = n s^2 / (1 - 1/4).
  CHECK_THAT(p.at("grad_sq").get<double>(), Catch::Matchers::WithinRel(G2 - n_s2 / 3, 1e-9));
  CHECK_THAT(p.at("trace_cov").get<double>(), Catch::Matchers::WithinRel(n_s2 / 0.75, 1e-9));
}

TEST_CASE("noise scale during training equals tr(Sigma)/|G|^2 from the exact per-sample gradients",
          "[science][noise]") {
  // At a learning rate of ~0 the parameters stay put, so the exact answer is computable from the
  // N per-sample gradients g_i: G = mean g_i, tr(Sigma) = mean |g_i - G|^2. Both methods draw the
  // B samples of a measurement without replacement ("fixed": B distinct samples; "consecutive":
  // B/b consecutive batches of one shuffled epoch), for which the estimators' means are
  // |G|^2 - tr(Sigma)/(N-1) and tr(Sigma) N/(N-1) (derivation below).
  //   E|G_b|^2 = |G|^2 + tr(Sigma)/b (N-b)/(N-1); put into the estimators' formulas.
  const std::string method = GENERATE("fixed", "consecutive");
  CAPTURE(method);
  const int64_t N = 512, b = 8, B = 64;
  TrainConfig c;
  c.model = load_model_file(kSmallMlp);
  c.data = synthetic(N, Shape{1, 6, 6}, 3, 2.0);
  c.batch_size = b;
  c.lr = 1e-30;  // the update rounds away: p - 1e-30 g == p in fp32
  c.epochs = 40;
  c.noise_every = B / b, c.noise_big = B, c.noise_ema = 0.999, c.noise_method = method;
  auto data = load_dataset(c.data);
  Trainer t(c, data);
  Network& net = t.network();
  const size_t m = net.buffer_size();
  std::vector<double> G(m, 0.0);
  std::vector<std::vector<float>> g_i;
  Plan& one = net.plan(1, true);
  for (int64_t i = 0; i < N; ++i) {
    Batcher::gather(data.train, data.shape.numel(), data.pre, &i, 1, one.input(), one.labels());
    one.forward_loss();
    one.backward();
    g_i.emplace_back(net.grads(), net.grads() + m);
    for (size_t j = 0; j < m; ++j) G[j] += double(net.grads()[j]) / double(N);
  }
  double G2 = 0, tr = 0;
  for (size_t j = 0; j < m; ++j) G2 += G[j] * G[j];
  for (auto& g : g_i)
    for (size_t j = 0; j < m; ++j) tr += (g[j] - G[j]) * (g[j] - G[j]) / double(N);
  const double want_g2 = G2 - tr / double(N - 1), want_tr = tr * double(N) / double(N - 1);
  auto r = t.run();
  const auto& p = r.history.back().noise_scale;
  REQUIRE(!p.is_null());
  CHECK(p.at("measurements").get<int64_t>() == c.epochs * (N / B));
  INFO("exact |G|^2 " << want_g2 << " tr(Sigma) " << want_tr << " B_simple " << want_tr / want_g2 << "; measured "
                      << p.dump());
  CHECK_THAT(p.at("grad_sq").get<double>(), Catch::Matchers::WithinRel(want_g2, 0.1));
  CHECK_THAT(p.at("trace_cov").get<double>(), Catch::Matchers::WithinRel(want_tr, 0.05));
  CHECK_THAT(p.at("b_simple").get<double>(), Catch::Matchers::WithinRel(want_tr / want_g2, 0.15));
  // The parameters did not move (the premise of the exact answer).
  CHECK(r.history.front().test_loss == r.history.back().test_loss);
}

TEST_CASE("noise_scale and augment checks name the field", "[science][spec]") {
  TrainConfig c;
  c.batch_size = 0, c.noise_every = 10;
  CHECK(c.conflict().rfind("noise_scale.small:", 0) == 0);  // fixed: full batch needs an explicit b
  c.noise_small = 16;
  CHECK(c.conflict().empty());
  c.noise_method = "consecutive";
  CHECK(c.conflict().rfind("noise_scale:", 0) == 0);
  c.batch_size = 8, c.noise_small = 0, c.noise_big = 12;
  CHECK(c.conflict().rfind("noise_scale.big:", 0) == 0);
  c.noise_big = 64, c.noise_every = 4;
  CHECK(c.conflict().rfind("noise_scale.every_steps:", 0) == 0);
  c.noise_every = 8, c.noise_small = 4;
  CHECK(c.conflict().rfind("noise_scale.small:", 0) == 0);
  c.noise_small = 8;
  CHECK(c.conflict().empty());
  c.noise_method = "fixed", c.noise_small = 4, c.noise_every = 1;  // fixed: any b dividing B, any K
  CHECK(c.conflict().empty());
  c.data_parallel = 2;
  CHECK(c.conflict().rfind("noise_scale:", 0) == 0);
  TrainConfig f;
  f.batch_size = 0, f.hflip = true;  // the full-batch gradient never sees augmented images
  CHECK(f.conflict().rfind("augment:", 0) == 0);
  TrainConfig l;
  l.optimizer.name = "lbfgs", l.clip_norm = 1;  // the line search needs the loss's own gradient
  CHECK(l.conflict().rfind("clip:", 0) == 0);
  TrainConfig a;
  a.model = load_model_file(kSmallMlp);
  a.data = synthetic(64, Shape{1, 1, 36});
  a.hflip = true;
  auto data = load_dataset(a.data);
  REQUIRE_THROWS_WITH(Trainer(a, data), Catch::Matchers::Contains("augment: needs images"));
}

TEST_CASE("per-parameter gradient and weight norms at every logged point", "[science][norms]") {
  TrainConfig c;
  c.model = load_model_file(kSmallMlp);
  c.data = synthetic(200);
  c.batch_size = 20;
  c.lr = 0.1;
  c.log_grad_norms = true;
  c.clip_norm = 0.05;
  c.epochs = 1;
  auto data = load_dataset(c.data);
  Trainer t(c, data);
  auto r = t.run();
  const auto& first = r.history.front().grad_norms;
  CHECK(!first.contains("grad"));  // no step yet
  const auto& last = r.history.back().grad_norms;
  Network& net = t.network();
  double total = 0;
  for (auto& p : net.param_refs()) {
    std::vector<float> w(p.count), g(p.count);
    net.read_param(p.name, w.data());
    net.read_grad(p.name, g.data());
    double sw = 0, sg = 0;
    for (size_t i = 0; i < p.count; ++i) sw += double(w[i]) * w[i], sg += double(g[i]) * g[i];
    INFO(p.name);
    CHECK_THAT(last.at("weights").at("params").at(p.name).get<double>(), Catch::Matchers::WithinRel(std::sqrt(sw), 1e-9));
    CHECK_THAT(last.at("grad").at("params").at(p.name).get<double>(), Catch::Matchers::WithinRel(std::sqrt(sg), 1e-9));
    total += sg;
  }
  // Clipped to 0.05 (the raw norm is larger at this lr, so every step was scaled).
  CHECK(last.at("norm_before_clip").get<double>() > 0.05);
  CHECK_THAT(std::sqrt(total), Catch::Matchers::WithinRel(0.05, 1e-4));
  CHECK_THAT(last.at("clip_scale").get<double>() * last.at("norm_before_clip").get<double>(),
             Catch::Matchers::WithinRel(0.05, 1e-4));
}

TEST_CASE("augmentation: a literal pad-crop-flip of each image, seeded, the same with the prefetch thread",
          "[science][augment]") {
  DataConfig d = synthetic(40, Shape{2, 5, 7}, 4);
  auto data = load_dataset(d);
  const Augment aug{2, true};
  const int64_t C = 2, H = 5, W = 7, P = C * H * W, pad = 2, n = 40;
  std::vector<int64_t> idx(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) idx[size_t(i)] = (i * 7) % n;
  std::vector<float> x(static_cast<size_t>(n * P));
  std::vector<int32_t> y(static_cast<size_t>(n));
  Batcher::gather(data.train, P, data.pre, idx.data(), n, x.data(), y.data(), &data.shape, aug, 11, 100);
  int flips = 0, shifted = 0;
  for (int64_t i = 0; i < n; ++i) {
    // The draws the batcher makes for stream 100 + i: dy, dx in [-2, 2], then the flip bit.
    Rng r(11, RngPurpose::Augment, uint64_t(100 + i));
    const int64_t oy = int64_t(r.below(5)), ox = int64_t(r.below(5));
    const bool flip = r.next() >> 63;
    flips += flip, shifted += (oy != pad || ox != pad);
    // Literal: zero-pad to (H+4) x (W+4), crop H x W at (oy, ox), then mirror the columns.
    for (int64_t c = 0; c < C; ++c) {
      std::vector<int> padded(size_t((H + 2 * pad) * (W + 2 * pad)), 0);
      for (int64_t yy = 0; yy < H; ++yy)
        for (int64_t xx = 0; xx < W; ++xx)
          padded[size_t((yy + pad) * (W + 2 * pad) + xx + pad)] =
              data.train.images[size_t(idx[size_t(i)] * P + (c * H + yy) * W + xx)];
      for (int64_t yy = 0; yy < H; ++yy)
        for (int64_t xx = 0; xx < W; ++xx) {
          const int64_t cx = flip ? W - 1 - xx : xx;
          const float want = float(padded[size_t((yy + oy) * (W + 2 * pad) + cx + ox)]) * data.pre.scale[size_t(c)] +
                             data.pre.shift[size_t(c)];
          REQUIRE(x[size_t(i * P + (c * H + yy) * W + xx)] == want);
        }
    }
    CHECK(y[size_t(i)] == data.train.labels[size_t(idx[size_t(i)])]);
  }
  CHECK(flips > 5);
  CHECK(flips < 35);
  CHECK(shifted > 20);

  // Training: same seed, same numbers, with or without the prefetch thread; augmentation changes them.
  TrainConfig c;
  c.model = load_model_file(kSmallMlp);
  c.data = synthetic(300, Shape{1, 8, 8}, 3);
  c.batch_size = 16;
  c.epochs = 2;
  c.lr = 0.05;
  c.crop_pad = 2, c.hflip = true;
  auto td = load_dataset(c.data);
  Trainer a(c, td), b(c, td);
  b.set_prefetch(false);
  auto ra = a.run(), rb = b.run();
  CHECK(ra.final_state_hash == rb.final_state_hash);
  CHECK(ra.history.back().test_loss == rb.history.back().test_loss);
  TrainConfig plain = c;
  plain.crop_pad = 0, plain.hflip = false;
  Trainer p1(plain, td), p2(plain, td);
  p2.set_prefetch(true);
  auto rp1 = p1.run(), rp2 = p2.run();
  CHECK(rp1.final_state_hash == rp2.final_state_hash);  // prefetching never changes the numbers
  CHECK(rp1.final_state_hash != ra.final_state_hash);
}

TEST_CASE("lr-find: the steepest descent of a known curve, and a range that brackets the best fixed lr",
          "[science][lr_find]") {
  // A curve with its steepest descent per decade at lr = 1e-3 exactly: 2 - tanh(log10(lr) + 3)
  // (then a rise after the minimum that must be ignored).
  std::vector<double> lr, s;
  for (int k = 0; k <= 80; ++k) {
    const double l = std::pow(10.0, -7 + k * 0.1);
    lr.push_back(l);
    s.push_back(2 - std::tanh(std::log10(l) + 3) + (l > 1e-1 ? 100 * (l - 1e-1) : 0));
  }
  CHECK_THAT(steepest_descent_lr(lr, s), Catch::Matchers::WithinRel(1e-3, 1e-9));

  // On synthetic data: the suggestion must lie within a factor of 10 of the best fixed lr for the
  // same number of steps (found by a grid of separate runs), out of the 6 decades scanned.
  TrainConfig c;
  c.model = load_model_file(kSmallMlp);
  c.data = synthetic(4000, Shape{1, 6, 6}, 3, 0.7);
  c.batch_size = 16;
  c.seed = 4;
  auto data = load_dataset(c.data);
  LrFindConfig f;
  f.start = 1e-4, f.end = 100, f.steps = 300;
  auto r = lr_find(c, data, f);
  INFO("suggested " << r.suggested << ", minimum at " << r.min_loss_lr << ", " << r.stop_reason << "; "
                     << nlohmann::json(r.smoothed).dump());
  REQUIRE(r.lr.size() >= 20);
  CHECK(r.lr.front() == f.start);
  CHECK_THAT(r.lr[1] / r.lr[0], Catch::Matchers::WithinRel(std::pow(1e6, 1.0 / 299), 1e-9));
  CHECK(r.stop_reason.find("minimum") != std::string::npos);  // the loss blew up before lr 100
  double best_lr = 0, best_loss = 1e30;
  for (int k = -8; k <= 4; ++k) {  // lr = 10^(k/2) for 300 steps
    TrainConfig g = c;
    g.lr = std::pow(10.0, k / 2.0);
    g.max_steps = 300;
    g.epochs = 10;
    auto res = train(g, data);
    const double l = res.status == RunStatus::Diverged ? 1e30 : res.history.back().test_loss;
    if (l < best_loss) best_loss = l, best_lr = g.lr;
  }
  INFO("best fixed lr " << best_lr << " (test loss " << best_loss << ")");
  CHECK(r.suggested >= best_lr / 10);
  CHECK(r.suggested <= best_lr * 10);
}
