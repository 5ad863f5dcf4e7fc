// Model zoo: parameter counts, shape errors, and whole-model agreement with PyTorch goldens
// (tools/gen_reference.py -> tests/data/golden_<model>.{json,bin}): logits, loss, every
// parameter gradient, and parameters after 3 SGD-momentum steps.
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "dnnl/context.hpp"
#include "helpers.hpp"
#include "layers/dense_fused.hpp"
#include "model/zoo.hpp"
#include "optim/optimizer.hpp"

using namespace sgdbench;
using namespace sgdbench::test;

TEST_CASE("zoo parameter counts and FLOPs match the frameworks", "[model]") {
  struct C {
    const char* name;
    Shape in;
    int64_t params;
    double mflop;
    double train_flop;  // forward + weight gradients + input gradients except the first layer's, by hand
  };
  auto c = GENERATE(C{"lenet", {3, 32, 32}, 62006, 1.303, 3 * 1303440.0 - 705600},
                    C{"lenet", {1, 28, 28}, 44426, 0.563, 3 * 563280.0 - 172800},
                    C{"keras_cifar_cnn", {3, 32, 32}, 122570, 9.097, 3 * 9097216.0 - 1555200},
                    C{"keras_mnist_mlp", {1, 28, 28}, 101770, 0.203, 2 * 200704.0 + 3 * 2560},
                    C{"keras_mnist_cnn", {1, 28, 28}, 693962, 1.776, 3 * 1776384.0 - 389376});
  CAPTURE(c.name, c.in.str());
  auto net = build_model(c.name, c.in);
  CHECK(net->param_count() == c.params);
  CHECK_THAT(net->forward_flops() / 1e6, Catch::Matchers::WithinAbs(c.mflop, 0.0005));
  CHECK(net->train_flops() == c.train_flop);
  // Each parameter starts on a 64-byte boundary of the one contiguous buffer.
  for (auto& r : net->param_refs()) CHECK((reinterpret_cast<uintptr_t>(net->params() + r.offset) % 64) == 0);
}

TEST_CASE("impossible shapes and unknown models are clear errors", "[model]") {
  auto message = [](auto f) -> std::string {
    try {
      f();
    } catch (const Error& e) {
      CHECK(e.kind() == ErrorKind::Model);
      return e.what();
    }
    return "no error";
  };
  auto m = message([] { build_model("lenet", Shape{3, 4, 4}); });
  CHECK_THAT(m, Catch::Matchers::Contains("model 'lenet'") && Catch::Matchers::Contains("layer 'conv1'") &&
                    Catch::Matchers::Contains("3x4x4"));
  m = message([] { build_model("keras_cifar_cnn", Shape{3, 12, 12}); });
  CHECK_THAT(m, Catch::Matchers::Contains("layer 'conv3'"));
  m = message([] { build_model("resnet50", Shape{3, 32, 32}); });
  CHECK_THAT(m, Catch::Matchers::Contains("unknown model 'resnet50'") && Catch::Matchers::Contains("lenet"));
  m = message([] { build_model("lenet", Shape{3, 32, 32}, 1); });
  CHECK_THAT(m, Catch::Matchers::Contains("at least 2 classes"));
}

TEST_CASE("initialisers follow PyTorch and Keras defaults", "[model][init]") {
  auto net = build_model("lenet", Shape{3, 32, 32});
  initialize(*net, Init::PytorchDefault, 42);
  for (auto& r : net->param_refs()) {
    double bound = 1.0 / std::sqrt(double(r.spec.fan_in)), mx = 0;
    for (size_t i = 0; i < r.count; ++i) mx = std::max(mx, std::fabs(double(net->params()[r.offset + i])));
    CHECK(mx <= bound);
    CHECK(mx > 0.9 * bound);  // spread over the whole range
  }
  auto k = build_model("keras_mnist_cnn", Shape{1, 28, 28});
  initialize(*k, Init::GlorotUniform, 42);
  for (auto& r : k->param_refs()) {
    double mx = 0;
    for (size_t i = 0; i < r.count; ++i) mx = std::max(mx, std::fabs(double(k->params()[r.offset + i])));
    if (r.spec.is_bias)
      CHECK(mx == 0);
    else
      CHECK(mx <= std::sqrt(6.0 / double(r.spec.fan_in + r.spec.fan_out)));
  }
  // Same seed, same weights; another seed, other weights.
  auto a = build_model("lenet", Shape{3, 32, 32});
  initialize(*a, Init::PytorchDefault, 42);
  CHECK(std::equal(a->params(), a->params() + a->buffer_size(), net->params()));
  initialize(*a, Init::PytorchDefault, 43);
  CHECK(!std::equal(a->params(), a->params() + a->buffer_size(), net->params()));
}


TEST_CASE("models match PyTorch goldens: logits, loss, gradients, 3 SGD-momentum steps, batch-norm statistics",
          "[model][golden]") {
  // The zoo (models/*.json) and a batch-norm net (tests/data/models); both sides built from the
  // same description files (tools/torch_models.py reads them too).
  const std::string model =
      GENERATE("lenet", "keras_cifar_cnn", "keras_mnist_mlp", "keras_mnist_cnn", "fmnist_2conv", "bn_small");
  CAPTURE(model);
  Golden g(model);
  auto& m = g.manifest;
  Shape in(m.at("input_shape").get<std::vector<int64_t>>());
  const int64_t batch = m.at("batch"), classes = m.at("classes");
  ModelDesc desc = model == "bn_small" ? load_model_file(std::string(SGDBENCH_TEST_DATA) + "/models/bn_small.json")
                                       : zoo_model(model);
  auto net = build_network(desc, in, classes);
  net->set_dropout(false);  // the goldens are made without dropout
  for (auto& r : net->param_refs()) {
    auto t = g.get("param." + r.name);
    REQUIRE(t.size() == r.count);
    std::vector<float> f(t.v.begin(), t.v.end());
    net->write_param(r.name, f.data());
  }
  auto canonical = [&](const ParamRef& r, bool grad) {
    std::vector<float> f(r.count);
    grad ? net->read_grad(r.name, f.data()) : net->read_param(r.name, f.data());
    return from_floats(f.data(), {int64_t(r.count)});
  };
  auto x = g.get("input");
  auto yl = g.get("labels");
  auto& plan = net->plan(batch, true);
  for (size_t i = 0; i < x.size(); ++i) plan.input()[i] = float(x[i]);
  for (size_t i = 0; i < yl.size(); ++i) plan.labels()[i] = int32_t(yl[i]);

  // Tolerance: relative error of each tensor in max-norm (largest |difference| / largest |value|).
  constexpr double kTol = 1e-4;
  auto report = [&](const std::string& what, const ref::T& a, const ref::T& e) {
    double err = max_norm_rel_error(a, e);
    INFO(model << " " << what << ": max-norm relative error " << err);
    CHECK(err <= kTol);
    return err;
  };
  auto loss = plan.forward_loss();
  report("logits", from_floats(plan.logits(), {batch, classes}), g.get("logits"));
  CHECK_THAT(loss.loss, Catch::Matchers::WithinRel(g.get("loss")[0], kTol));
  plan.backward();
  double worst_grad = 0;
  for (auto& r : net->param_refs())
    worst_grad = std::max(worst_grad, report("grad " + r.name, canonical(r, true), g.get("grad." + r.name)));

  OptimizerConfig oc;
  oc.momentum = m.at("momentum");
  auto opt = make_optimizer(oc);
  auto step_losses = g.get("step_losses");
  for (int s = 0; s < int(m.at("steps")); ++s) {
    auto l = plan.forward_loss();
    CHECK_THAT(l.loss, Catch::Matchers::WithinRel(step_losses[size_t(s)], kTol));
    plan.backward();
    opt->step(net->params(), net->grads(), net->buffer_size(), m.at("lr").get<double>(), net->param_refs());
  }
  double worst_after = 0;
  for (auto& r : net->param_refs())
    worst_after =
        std::max(worst_after, report("after 3 steps " + r.name, canonical(r, false), g.get("after." + r.name)));
  // Batch norm: running statistics after the 3 training steps, then eval-mode logits with them.
  double worst_state = 0;
  for (auto& s : net->state_refs()) {
    REQUIRE(g.has("state." + s.name));
    worst_state = std::max(worst_state, report("state " + s.name,
                                               from_floats(net->state() + s.offset, {s.spec.count}),
                                               g.get("state." + s.name)));
  }
  if (g.has("eval_logits")) {
    REQUIRE(!net->state_refs().empty());
    auto& eval = net->plan(batch, false);
    for (size_t i = 0; i < x.size(); ++i) eval.input()[i] = float(x[i]);
    eval.forward();
    report("eval logits", from_floats(eval.logits(), {batch, classes}), g.get("eval_logits"));
  }
  WARN(model << ": worst max-norm relative error, gradients " << worst_grad << ", parameters after 3 steps "
             << worst_after << ", running statistics " << worst_state);
}

// Issue 11: a large training batch runs as sub-batches that accumulate the gradient. Oracle: the
// same batch run whole (one plan, every primitive at the full batch): same loss, correct count,
// logits and gradients up to summation order; models with batch statistics never split.
namespace {
// A batch of uniform(-1, 1) inputs and labels below 10, drawn in that order, for a plan of `net`.
struct RandomBatch {
  std::vector<float> x;
  std::vector<int32_t> y;
  RandomBatch(const Network& net, int64_t batch, uint64_t seed)
      : x(size_t(batch * net.input_shape().numel())), y(static_cast<size_t>(batch)) {
    Rng rng(seed);
    for (auto& v : x) v = float(rng.uniform(-1, 1));
    for (auto& l : y) l = int32_t(rng.below(10));
  }
  void load(Plan& p) const {
    std::copy(x.begin(), x.end(), p.input());
    std::copy(y.begin(), y.end(), p.labels());
  }
};
}  // namespace

TEST_CASE("conv/dense + ReLU fused plans equal the layers run one by one", "[model][fusion]") {
  // conv->relu, image-fed dense->relu and vector-fed dense->relu fuse; a ReLU after a pool and a
  // conv without a ReLU do not.
  auto desc = parse_model(nlohmann::json::parse(R"({"name": "fusenet", "layers": [
      {"conv": {"out": 8, "kernel": 3}}, {"relu": {}}, {"max_pool": {"kernel": 2}}, {"relu": {}},
      {"conv": {"out": 8, "kernel": 3}}, {"flatten": {}}, {"dense": {"out": 24}}, {"relu": {}},
      {"dense": {"out": 16}}, {"relu": {}}, {"dense": {"out": "classes"}}]})"),
                          "(test)", "model");
  auto net = build_network(desc, Shape{3, 12, 12}, 10);
  initialize(*net, Init::PytorchDefault, 4);
  const int64_t batch = GENERATE(1, 6);
  const RandomBatch data(*net, batch, 9);
  auto run = [&](bool fuse, bool training) {
    net->set_relu_fusion(fuse);
    Plan& p = net->plan(batch, training);
    data.load(p);
    auto l = p.forward_loss();
    if (training) p.backward();
    // Fused ReLUs (layers 1, 7, 9) share the previous layer's output; the others have their own.
    for (size_t i : {1, 3, 7, 9}) {
      const bool shared = p.exec(i).dst.get_data_handle() == p.exec(i - 1).dst.get_data_handle();
      CHECK(shared == (fuse && i != 3));
    }
    std::vector<float> out(p.logits(), p.logits() + batch * 10);
    out.push_back(float(l.loss));
    if (training) out.insert(out.end(), net->grads(), net->grads() + net->buffer_size());
    return out;
  };
  for (bool training : {true, false}) {
    auto fused = run(true, training), plain = run(false, training);
    REQUIRE(fused.size() == plain.size());
    double worst = 0, norm = 0;
    for (size_t j = 0; j < plain.size(); ++j) {
      worst = std::max(worst, double(std::fabs(fused[j] - plain[j])));
      norm = std::max(norm, double(std::fabs(plain[j])));
    }
    CHECK(norm > 0);
    CHECK(worst <= 1e-6 * norm);
  }
}

TEST_CASE("a ReLU's gradient applied in the max pool after it equals the ReLU's own", "[model][fusion]") {
  // maxpool(relu(x)) = relu(maxpool(x)): with fusion on, the pool masks its incoming gradient
  // with [pool output > 0] and the ReLU's backward does nothing. Oracle: every layer run on its
  // own (fusion off). Overlapping windows (3, stride 2), a fused ReLU (layer 1) and one that is
  // not (layer 3, after a pool); the same bits either way.
  auto desc = parse_model(nlohmann::json::parse(R"({"name": "poolnet", "layers": [
      {"conv": {"out": 8, "kernel": 3}}, {"relu": {}}, {"max_pool": {"kernel": 3, "stride": 2}}, {"relu": {}},
      {"max_pool": {"kernel": 2}}, {"flatten": {}}, {"dense": {"out": "classes"}}]})"),
                          "(test)", "model");
  auto net = build_network(desc, Shape{3, 15, 15}, 10);
  initialize(*net, Init::PytorchDefault, 5);
  // A negative bias: many windows hold only zeros after the ReLU, where the mask matters.
  const auto& bias = net->param_refs()[1];
  REQUIRE(bias.name.find("bias") != std::string::npos);
  std::vector<float> b(size_t(bias.count), -0.3f);
  net->write_param(bias.name, b.data());
  CHECK(net->relu_grad_in_pool(1));
  CHECK(net->relu_grad_in_pool(3));
  CHECK_FALSE(net->relu_grad_in_pool(2));
  const int64_t batch = GENERATE(1, 5);
  const RandomBatch data(*net, batch, 21);
  auto grads = [&](bool fuse) {
    net->set_relu_fusion(fuse);
    CHECK(net->relu_grad_in_pool(1) == fuse);
    Plan& p = net->plan(batch, true);
    data.load(p);
    p.forward_loss();
    p.backward();
    return std::vector<float>(net->grads(), net->grads() + net->buffer_size());
  };
  auto moved = grads(true), own = grads(false);
  REQUIRE(moved.size() == own.size());
  size_t nonzero = 0;
  for (float g : own) nonzero += g != 0.f;
  CHECK(nonzero > own.size() / 2);
  CHECK(std::memcmp(moved.data(), own.data(), own.size() * sizeof(float)) == 0);
}

TEST_CASE("backward stops at the first layer with parameters", "[model][backward]") {
  // pool -> flatten -> dense: the dense layer's input gradient is never needed, nor the pool's,
  // so neither is computed (their diff_src keep a sentinel), while every parameter still gets
  // its gradient.
  auto desc = parse_model(nlohmann::json::parse(R"({"name": "mlp", "layers": [
      {"max_pool": {"kernel": 1}}, {"flatten": {}}, {"dense": {"out": 12}}, {"relu": {}},
      {"dense": {"out": "classes"}}]})"),
                          "(test)", "model");
  auto net = build_network(desc, Shape{1, 6, 6}, 10);
  initialize(*net, Init::PytorchDefault, 2);
  Plan& p = net->plan(4, true);
  Rng rng(3);
  for (int64_t i = 0; i < 4 * 36; ++i) p.input()[i] = float(rng.uniform(-1, 1));
  for (int64_t i = 0; i < 4; ++i) p.labels()[i] = int32_t(i);
  std::vector<std::pair<float*, size_t>> sentinels;
  for (size_t layer : {0, 2}) {  // the pool and the first dense layer
    auto& d = p.exec(layer).diff_src;
    sentinels.emplace_back(static_cast<float*>(d.get_data_handle()), d.get_desc().get_size() / sizeof(float));
    std::fill(sentinels.back().first, sentinels.back().first + sentinels.back().second, 12345.f);
  }
  std::fill(net->grads(), net->grads() + net->buffer_size(), std::nanf(""));
  p.forward_loss();
  p.backward();
  for (auto [s, n] : sentinels)
    for (size_t i = 0; i < n; ++i) REQUIRE(s[i] == 12345.f);
  for (auto& r : net->param_refs())
    for (size_t j = 0; j < r.count; ++j) REQUIRE(std::isfinite(net->grads()[r.offset + j]));
}

namespace {
// Batch-parallel plans off for one test (on 2+ threads a large batch would otherwise run as
// members, not as sequential sub-batches); restored however it ends.
struct BatchParallelOff {
  bool was = Network::batch_parallel();
  BatchParallelOff() { Network::set_batch_parallel(false); }
  ~BatchParallelOff() { Network::set_batch_parallel(was); }
};
}  // namespace

TEST_CASE("a large training batch split into sub-batches gives the whole batch's loss and gradient",
          "[model][split]") {
  // A padded 3-channel conv; and LeNet's unpadded 6-channel first layer (the small-channel
  // kernels where the CPU has AVX-512F) on 3 channels, whose input is reordered, and on one,
  // whose input the first layer reads in place: sub-plans read the batch where it lies.
  const std::string conv = GENERATE(std::string(R"({"conv": {"out": 16, "kernel": 3, "padding": "same"}})"),
                                    std::string(R"({"conv": {"out": 6, "kernel": 5}})"));
  const int64_t channels = GENERATE(3, 1);
  CAPTURE(conv, channels);
  auto desc = parse_model(nlohmann::json::parse(R"({"name": "splitnet", "layers": [)" + conv + R"(,
      {"relu": {}}, {"max_pool": {"kernel": 2}}, {"flatten": {}}, {"dense": {"out": "classes"}}]})"),
                          "(test)", "model");
  auto net = build_network(desc, Shape{channels, 32, 32}, 10);
  initialize(*net, Init::PytorchDefault, 3);
  // The sequential split (on 2+ threads the batch would otherwise run batch-parallel: next test).
  BatchParallelOff off;
  const int64_t max_sub = net->max_sub_batch(Network::kActivationBudget);  // its rule: the next test
  const int64_t batch = 2 * max_sub + 7;  // three sub-batches, the last one smaller
  Plan& split = net->plan(batch, true);
  Plan& whole = net->plan(batch, true, true);
  REQUIRE(split.split() > 0);
  REQUIRE(split.split() <= max_sub);
  REQUIRE(whole.split() == 0);
  Rng rng(5);
  const int64_t P = net->input_shape().numel();
  for (int64_t i = 0; i < batch * P; ++i) split.input()[i] = whole.input()[i] = float(rng.uniform());
  for (int64_t i = 0; i < batch; ++i) split.labels()[i] = whole.labels()[i] = int32_t(rng.below(10));

  auto lw = whole.forward_loss();
  whole.backward();
  std::vector<float> gw(net->grads(), net->grads() + net->buffer_size());
  std::vector<float> logits_w(whole.logits(), whole.logits() + batch * 10);
  auto ls = split.forward_loss();
  split.backward();
  Plan& sub = net->plan(split.split(), true, true);  // the cached sub-plan has its own buffer back
  CHECK((sub.input() < split.input() || sub.input() >= split.input() + batch * P));
  CHECK(ls.loss == Approx(lw.loss).epsilon(1e-5));
  CHECK(ls.correct == lw.correct);
  for (int64_t i = 0; i < batch * 10; ++i) REQUIRE(split.logits()[i] == Approx(logits_w[size_t(i)]).margin(1e-4));
  // The network's gradient (the split plan's) against gw (the whole plan's): largest difference
  // within 1e-4 of gw's largest value.
  auto check_grads_match = [&] {
    double worst = 0, norm = 0;
    for (size_t j = 0; j < gw.size(); ++j) {
      worst = std::max(worst, double(std::fabs(net->grads()[j] - gw[j])));
      norm = std::max(norm, double(std::fabs(gw[j])));
    }
    CHECK(norm > 0);
    CHECK(worst <= 1e-4 * norm);
  };
  check_grads_match();

  // The second and later sub-batches of a step reuse the weight copies in the primitives'
  // layouts that the sub-plan's first run made (Plan::for_each_sub): after the weights change,
  // the next step's first sub-batch must copy them again, and so must the sub-plan run by
  // itself. New weights, then split against whole again; then the sub-plan's logits on its own
  // against an inference plan's of its size (which always copies).
  auto change_weights = [&](float f) {
    for (size_t j = 0; j < net->buffer_size(); ++j) net->params()[j] = net->params()[j] * f + 0.01f * float(j % 7);
  };
  change_weights(0.5f);
  lw = whole.forward_loss();
  whole.backward();
  gw.assign(net->grads(), net->grads() + net->buffer_size());
  ls = split.forward_loss();
  split.backward();
  CHECK(ls.loss == Approx(lw.loss).epsilon(1e-5));
  check_grads_match();
  change_weights(-0.75f);
  Plan& infer = net->plan(split.split(), false);
  REQUIRE(sub.batch() == split.split());
  for (int64_t i = 0; i < sub.batch() * P; ++i) sub.input()[i] = infer.input()[i] = float(rng.uniform());
  for (int64_t i = 0; i < sub.batch(); ++i) sub.labels()[i] = int32_t(rng.below(10));
  sub.forward_loss();
  infer.forward();
  for (int64_t i = 0; i < sub.batch() * 10; ++i) REQUIRE(sub.logits()[i] == Approx(infer.logits()[i]).margin(1e-4));

  // Batch norm's statistics are per batch: such a model runs every batch whole.
  auto bn = parse_model(nlohmann::json::parse(R"({"name": "bn", "layers": [
      {"conv": {"out": 16, "kernel": 3, "padding": "same"}}, {"batch_norm": {}}, {"relu": {}},
      {"flatten": {}}, {"dense": {"out": "classes"}}]})"),
                        "(test)", "model");
  auto bnet = build_network(bn, Shape{3, 32, 32}, 10);
  CHECK(bnet->plan(batch, true).split() == 0);
}

// Issue 11: the sub-batch size of a split training batch (Network::max_sub_batch). Oracles: the
// rule written out by hand from the model's activation bytes per sample (A) and parameter bytes
// (W); the zoo's sub-batches computed by hand from them (at the 32 MiB budget: lenet_cifar
// 6 MiB / 144,592 = 43, lenet_fmnist 6 MiB / 92,304 = 68, keras_cifar_cnn 16 x 490,304 / 760,144
// = 10.3 -> 11; the weight-heavy MLP and keras_mnist_cnn at the cap, 32 MiB / 15,696 = 2,137 and
// 32 MiB / 441,040 = 76); and the floor of 8 for a model with more than 6 MiB a sample.
TEST_CASE("training sub-batches: weight-heavy models keep the budget cap, the others split at 6 MiB, "
          "no smaller than 16 x W / A or 8",
          "[model][split]") {
  struct C {
    const char* name;
    Shape in;
    int64_t A;     // activation bytes per sample, as the model reports them (checked)
    int64_t want;  // the sub-batch at kActivationBudget, by hand (above)
    int at_cap;    // 1: the sub-batch is the cap (weight-heavy), 0: below it
  };
  auto c = GENERATE(C{"lenet", {3, 32, 32}, 144592, 43, 0}, C{"lenet", {1, 28, 28}, 92304, 68, 0},
                    C{"keras_cifar_cnn", {3, 32, 32}, 760144, 11, 0}, C{"keras_mnist_mlp", {1, 28, 28}, 15696, 2137, 1},
                    C{"keras_mnist_cnn", {1, 28, 28}, 441040, 76, 1});
  CAPTURE(c.name, c.in.str());
  auto net = build_model(c.name, c.in);
  const int64_t A = net->activation_bytes_per_sample();
  const double W = double(net->buffer_size()) * 4;
  CHECK(A == c.A);
  CHECK(net->max_sub_batch(Network::kActivationBudget) == c.want);
  for (int64_t budget : {Network::kActivationBudget, Network::kActivationBudget / 2}) {
    const int64_t cap = std::max<int64_t>(32, budget / A);
    const int64_t small = std::max({int64_t(8), (int64_t(6) << 20) / A, int64_t(std::ceil(16 * W / A))});
    const int64_t want = W > 4.0 * double(A) ? cap : std::min(cap, small);
    CAPTURE(budget, A, W, cap, small);
    CHECK(net->max_sub_batch(budget) == want);
    CHECK((want == cap) == bool(c.at_cap));
  }
  // plan() splits by it: a batch of 2 x max + 1 runs as three sub-batches of ceil((2 max + 1) / 3),
  // the last one no larger.
  BatchParallelOff off;
  const int64_t m = net->max_sub_batch(Network::kActivationBudget);
  Plan& p = net->plan(2 * m + 1, true);
  CHECK(p.split() == (2 * m + 1 + 2) / 3);
  CHECK(net->plan(m, true).split() == 0);
}

TEST_CASE("training sub-batches: at least 8 samples when one sample's activations exceed 6 MiB", "[model][split]") {
  // 16 x 256 x 256 conv outputs (4 MiB of values a sample, 8 MiB with their gradients), few weights.
  auto desc = parse_model(nlohmann::json::parse(R"({"name": "wide", "layers": [
      {"conv": {"out": 16, "kernel": 3, "padding": "same"}}, {"relu": {}}, {"global_avg_pool": {}},
      {"flatten": {}}, {"dense": {"out": "classes"}}]})"),
                          "(test)", "model");
  auto net = build_network(desc, Shape{3, 256, 256}, 10);
  REQUIRE(net->activation_bytes_per_sample() > (int64_t(6) << 20));
  REQUIRE(double(net->buffer_size()) * 4 < double(net->activation_bytes_per_sample()));
  CHECK(net->max_sub_batch(Network::kActivationBudget) == 8);
}

namespace {
float max_abs(const float* a, size_t n) {
  float m = 0;
  for (size_t i = 0; i < n; ++i) m = std::max(m, std::fabs(a[i]));
  return m;
}
// Batch-parallel plans on, and 2 threads, for one test; restored however it ends.
struct TeamOn {
  bool was = Network::batch_parallel();
  TeamOn() {
    Network::set_batch_parallel(true);
    dnnl_ctx::set_threads(2);
  }
  ~TeamOn() {
    Network::set_batch_parallel(was);
    dnnl_ctx::set_threads(0);
  }
};
}  // namespace

// Issue 11: on 2 threads a training batch runs as 2 member plans side by side (one thread each,
// their own gradient buffers, summed at the end). Oracle: the same network's whole-batch plan.
TEST_CASE("a batch-parallel plan gives the whole batch's loss, logits and gradient", "[model][team]") {
  const std::string conv = GENERATE(std::string(R"({"conv": {"out": 16, "kernel": 3, "padding": "same"}})"),
                                    std::string(R"({"conv": {"out": 6, "kernel": 5}})"));
  auto desc = parse_model(nlohmann::json::parse(R"({"name": "teamnet", "layers": [)" + conv + R"(,
      {"relu": {}}, {"max_pool": {"kernel": 2}}, {"flatten": {}}, {"dense": {"out": 32}}, {"relu": {}},
      {"dense": {"out": "classes"}}]})"),
                          "(test)", "model");
  auto net = build_network(desc, Shape{3, 32, 32}, 10);
  initialize(*net, Init::PytorchDefault, 4);
  TeamOn on;
  const int64_t member_max = net->max_sub_batch(Network::kActivationBudget / 2);
  // Odd: member 0 gets one more; the large one makes each member split by its budget share.
  // 35: above the tiny-step rule (kSmallStepFlops) and 2 x kMinMemberBatch.
  static_assert(35 > 2 * Network::kMinMemberBatch);
  const int64_t batch = GENERATE_COPY(int64_t(35), 2 * member_max + 5);
  CAPTURE(conv, batch);
  Plan& team = net->plan(batch, true);
  Plan& whole = net->plan(batch, true, true);
  REQUIRE(team.team() == 2);
  REQUIRE(whole.team() == 0);
  CHECK(team.member(0).batch() == batch / 2 + 1);
  CHECK(team.member(1).batch() == batch / 2);
  if (batch > 2 * member_max) CHECK(team.member(0).split() > 0);
  CHECK(net->plan(2 * Network::kMinMemberBatch - 1, true).team() == 0);  // too small to share
  Rng rng(6);
  const int64_t P = net->input_shape().numel();
  for (int64_t i = 0; i < batch * P; ++i) team.input()[i] = whole.input()[i] = float(rng.uniform());
  for (int64_t i = 0; i < batch; ++i) team.labels()[i] = whole.labels()[i] = int32_t(rng.below(10));
  const size_t n = net->buffer_size();

  auto lw = whole.forward_loss();
  whole.backward();
  std::vector<float> gw(net->grads(), net->grads() + n);
  std::vector<float> logits_w(whole.logits(), whole.logits() + batch * 10);
  std::fill(net->grads(), net->grads() + n, std::nanf(""));  // the team must overwrite them
  auto lt = team.forward_loss();
  team.backward();
  CHECK(lt.loss == Approx(lw.loss).epsilon(1e-5));
  CHECK(lt.correct == lw.correct);
  for (int64_t i = 0; i < batch * 10; ++i) REQUIRE(team.logits()[i] == Approx(logits_w[size_t(i)]).margin(1e-4));
  const float norm = max_abs(gw.data(), n);
  CHECK(norm > 0);
  for (auto& r : net->param_refs())  // every value written (the NaNs gone), and close
    for (size_t j = r.offset; j < r.offset + r.count; ++j)
      REQUIRE(std::fabs(net->grads()[j] - gw[j]) <= 1e-4f * norm);

  // Fewer threads than members (inside a parallel region OpenMP gives one): the members run in
  // turn on that thread and the result is the same to the bit (each member runs on one thread
  // either way, and the sum's order is fixed).
  std::vector<float> g2(net->grads(), net->grads() + n);
  std::fill(net->grads(), net->grads() + n, std::nanf(""));
#pragma omp parallel num_threads(2)
#pragma omp single
  {
    team.forward_loss();
    team.backward();
  }
  for (size_t j = 0; j < n; ++j) REQUIRE(std::memcmp(&net->grads()[j], &g2[j], sizeof(float)) == 0);
  // Members read their shares in place and get their own input buffers back.
  for (size_t t = 0; t < team.team(); ++t) {
    const float* in = const_cast<Plan&>(team.member(t)).input();
    CHECK((in < team.input() || in >= team.input() + batch * P));
  }
  // The switch and the thread count decide the kind of plan asked for from then on.
  Network::set_batch_parallel(false);
  CHECK(net->plan(batch, true).team() == 0);
  Network::set_batch_parallel(true);
  dnnl_ctx::set_threads(1);
  CHECK(net->plan(batch, true).team() == 0);
  dnnl_ctx::set_threads(2);
  CHECK(&net->plan(batch, true) == &team);
}

TEST_CASE("batch-parallel members draw their own dropout masks, the same for a seed", "[model][team]") {
  auto desc = parse_model(nlohmann::json::parse(R"({"name": "dropnet", "layers": [{"flatten": {}},
      {"dense": {"out": 64}}, {"relu": {}}, {"dropout": {"rate": 0.5}}, {"dense": {"out": "classes"}}]})"),
                          "(test)", "model");
  TeamOn on;
  const int64_t half = 64;
  auto step = [&](std::vector<float>& grads, std::vector<float>& logits) {
    auto net = build_network(desc, Shape{1, 28, 28}, 10);
    initialize(*net, Init::GlorotUniform, 7);
    net->reseed_dropout(11);
    Plan& p = net->plan(2 * half, true);
    REQUIRE(p.team() == 2);
    Rng rng(8);
    const int64_t P = net->input_shape().numel();
    // The second half repeats the first: with the same masks both members would agree.
    for (int64_t i = 0; i < half * P; ++i) p.input()[i] = p.input()[i + half * P] = float(rng.uniform());
    for (int64_t i = 0; i < half; ++i) p.labels()[i] = p.labels()[i + half] = int32_t(rng.below(10));
    p.forward_loss();
    p.backward();
    grads.assign(net->grads(), net->grads() + net->buffer_size());
    logits.assign(p.logits(), p.logits() + 2 * half * 10);
  };
  std::vector<float> g1, l1, g2, l2;
  step(g1, l1);
  step(g2, l2);
  CHECK(std::memcmp(g1.data(), g2.data(), g1.size() * sizeof(float)) == 0);
  int differ = 0;
  for (int64_t i = 0; i < half * 10; ++i) differ += l1[size_t(i)] != l1[size_t(i + half * 10)];
  CHECK(differ > half * 10 / 2);
}

// Issue 11: tiny steps run on one thread (fork/join costs more than a second core gives there);
// the caller's thread count is restored after each call.
TEST_CASE("tiny training steps run on one thread and restore the caller's thread count", "[model][threads]") {
  auto net = build_model("keras_mnist_mlp", Shape{1, 28, 28}, 10);
  initialize(*net, Init::GlorotUniform, 1);
  dnnl_ctx::set_threads(2);
  const double per_sample = 3.0 * net->forward_flops();
  // Explicit whole plans (as a split step's sub-plans are built): only the tiny-step rule.
  Plan& tiny = net->plan(1, true, true);
  const int64_t big_batch = int64_t(Network::kSmallStepFlops / per_sample) + 1;
  Plan& big = net->plan(big_batch, true, true);
  CHECK(per_sample < Network::kSmallStepFlops);
  CHECK(tiny.threads() == 1);
  CHECK(big.threads() == 0);
  CHECK(net->plan(big_batch - 1, true, true).threads() == 1);
  // A step plan() runs whole runs on one thread below kWholeStepOneThreadFlops, in a plan of
  // its own: the explicit whole plan of the same batch is still there, on every thread.
  CHECK(net->plan(big_batch, true).threads() == 1);
  CHECK(&net->plan(big_batch, true) != &big);
  CHECK(net->plan(big_batch, true, true).threads() == 0);
  tiny.input()[0] = 0.5f;
  tiny.forward_loss();
  tiny.backward();
  CHECK(dnnl_ctx::threads() == 2);

  // In a plan on every thread, small layers run on one (Network::kSmallLayerWork): keras_cifar_cnn
  // at batch 1 keeps conv2 (6.2 MFLOP) and relu1's 28,800 elements on both threads, and puts
  // dense2 (1,290 FLOPs) and relu4 (64 elements) on one; the step restores the caller's count.
  auto cnn = build_model("keras_cifar_cnn", Shape{3, 32, 32}, 10);
  initialize(*cnn, Init::GlorotUniform, 1);
  // plan(): below kWholeStepOneThreadFlops (keras_cifar_cnn's step is whole below batch 32).
  const double cnn_sample = 3.0 * cnn->forward_flops();
  const int64_t whole_batch = int64_t(std::ceil(Network::kWholeStepOneThreadFlops / cnn_sample));
  CAPTURE(cnn_sample, whole_batch);
  REQUIRE(whole_batch > 1);
  REQUIRE(whole_batch < 32);
  CHECK(cnn->plan(1, true).threads() == 1);
  {  // batch-parallel off: the one-thread rule's boundary (on, batch 2 x kMinMemberBatch and up share)
    const bool was = Network::batch_parallel();
    Network::set_batch_parallel(false);
    CHECK(cnn->plan(whole_batch - 1, true).threads() == 1);
    CHECK(cnn->plan(whole_batch, true).threads() == 0);
    Network::set_batch_parallel(true);
    CHECK(cnn->plan(whole_batch - 1, true).team() == (whole_batch - 1 >= 2 * Network::kMinMemberBatch ? 2u : 0u));
    CHECK(cnn->plan(2 * Network::kMinMemberBatch - 1, true).threads() == 1);
    Network::set_batch_parallel(was);
  }
  CHECK(cnn->plan(whole_batch - 1, false).threads() == 0);  // evaluation: the tiny-step rule only
  Plan& one = cnn->plan(1, true, true);
  REQUIRE(one.threads() == 0);
  const auto& L = cnn->layers();
  auto at = [&](const std::string& name) {
    for (size_t i = 0; i < L.size(); ++i)
      if (L[i]->name() == name) return i;
    FAIL("no layer " << name);
    return size_t(0);
  };
  CHECK(cnn->layer_work(at("conv2"), 1) > Network::kSmallLayerWork);
  CHECK(one.layer_threads(at("conv2")) == 0);
  CHECK(one.layer_threads(at("relu1")) == 0);
  CHECK(cnn->layer_work(at("dense2"), 1) == Approx(2.0 * 64 * 10));
  CHECK(one.layer_threads(at("dense2")) == 1);
  CHECK(one.layer_threads(at("relu4")) == 1);
  CHECK(cnn->layer_work(at("dense2"), 1024) > Network::kSmallLayerWork);  // 1.3 MFLOP at batch 1024
  one.forward_loss();
  one.backward();
  CHECK(dnnl_ctx::threads() == 2);
  dnnl_ctx::set_threads(0);
}

namespace {
// A plan's training step, the update fused into the backward pass where the layers can
// (Plan::backward(const FusedSgd*)) or taken by the optimizer alone; returns the fused weights.
std::vector<const float*> sgd_step(Network& net, Plan& p, Optimizer& opt, double lr, bool fuse) {
  p.forward_loss();
  FusedSgd f;
  const bool ok = fuse && opt.begin_fused(net.buffer_size(), lr, net.params(), f);
  const auto done = p.backward(ok ? &f : nullptr);
  opt.finish_fused(net.params(), net.grads(), net.buffer_size(), lr, net.param_refs(), done);
  return done;
}
// One parameter of two networks, plain (a) against fused (b): the same bits for weight gradient
// and weights when `exact`, else the gradient equal to 1e-4 of its largest value, the weights
// to 1e-6 relative.
void compare_param(Network& a, Network& b, const ParamRef& r, bool exact) {
  const float *g0 = a.grads() + r.offset, *g1 = b.grads() + r.offset;
  const float *p0 = a.params() + r.offset, *p1 = b.params() + r.offset;
  if (exact) {
    CHECK(std::memcmp(g0, g1, r.count * sizeof(float)) == 0);
    CHECK(std::memcmp(p0, p1, r.count * sizeof(float)) == 0);
    return;
  }
  float gmax = 0, gerr = 0, perr = 0;
  for (size_t i = 0; i < r.count; ++i) {
    gmax = std::max(gmax, std::fabs(g0[i]));
    gerr = std::max(gerr, std::fabs(g0[i] - g1[i]));
    perr = std::max(perr, std::fabs(p0[i] - p1[i]) / std::max(1.f, std::fabs(p0[i])));
  }
  CHECK(gmax > 0);
  CHECK(gerr <= 1e-4f * gmax);
  CHECK(perr <= 1e-6f);
}
}  // namespace

TEST_CASE("fused dense update: the same bits as backward + SGD where no input gradient is fused",
          "[model][fused]") {
  // keras_mnist_mlp: dense1 (784 x 128, the first layer with parameters: no input gradient) fuses
  // at batch 1; its weight gradient is one product per element, the update SGD's arithmetic, so
  // weights, gradients and velocities stay equal bit for bit over steps (dropout included).
  if (!fused_dense_available()) {  // no AVX-512 (or SGDBENCH_FUSED_UPDATE=0): nothing fuses
    auto net = build_model("keras_mnist_mlp", Shape{1, 28, 28}, 10);
    auto opt = make_optimizer(OptimizerConfig{});
    CHECK(sgd_step(*net, net->plan(1, true), *opt, 0.05, true).empty());
    return;
  }
  OptimizerConfig oc;
  const int variant = GENERATE(0, 1, 2, 3);
  if (variant == 0) oc.momentum = 0.9;
  if (variant == 1) oc.momentum = 0.9, oc.nesterov = true, oc.weight_decay = 1e-3;
  if (variant == 2) oc.weight_decay = 5e-4;  // no momentum: no velocity
  if (variant == 3) oc.momentum = 0.5, oc.dampening = 0.1, oc.weight_decay = 1e-2, oc.weight_decay_on = "all";
  CAPTURE(variant);
  std::unique_ptr<Network> nets[2];
  std::unique_ptr<Optimizer> opts[2];
  for (int k = 0; k < 2; ++k) {
    nets[k] = build_model("keras_mnist_mlp", Shape{1, 28, 28}, 10);
    initialize(*nets[k], Init::GlorotUniform, 3);
    nets[k]->reseed_dropout(5);
    opts[k] = make_optimizer(oc);
  }
  const auto& refs = nets[1]->param_refs();
  const float* dense1 = nets[1]->params() + refs.at(0).offset;
  for (int step = 0; step < 4; ++step) {
    const RandomBatch data(*nets[0], 1, 40 + uint64_t(step));
    for (int k = 0; k < 2; ++k) data.load(nets[k]->plan(1, true));
    const auto plain = sgd_step(*nets[0], nets[0]->plan(1, true), *opts[0], 0.05, false);
    const auto fused = sgd_step(*nets[1], nets[1]->plan(1, true), *opts[1], 0.05, true);
    CHECK(plain.empty());
    REQUIRE(fused == std::vector<const float*>{dense1});  // dense2 (128 x 10) is too small to fuse
    const size_t n = nets[0]->buffer_size();
    CHECK(std::memcmp(nets[0]->grads(), nets[1]->grads(), n * sizeof(float)) == 0);
    CHECK(std::memcmp(nets[0]->params(), nets[1]->params(), n * sizeof(float)) == 0);
  }
  // Batch 2 is above kFusedDenseMaxBatch: nothing fuses.
  Plan& p2 = nets[1]->plan(2, true);
  RandomBatch(*nets[1], 2, 2).load(p2);
  CHECK(sgd_step(*nets[1], p2, *opts[1], 0.05, true).empty());
}

TEST_CASE("fused dense update with an input gradient: equal to backward + SGD to rounding", "[model][fused]") {
  // keras_mnist_cnn's dense1 (5408 x 128) fuses at batch 1 and computes conv1's incoming
  // gradient in another summation order than oneDNN: the dense weights' gradient is still exact
  // in the first step, the rest equal to rounding; two momentum steps (the second uses the velocity).
  if (!fused_dense_available()) return;  // the test above checks that nothing fuses then
  const int64_t batch = 1;
  OptimizerConfig oc;
  oc.momentum = 0.9, oc.weight_decay = 1e-3;
  std::unique_ptr<Network> nets[2];
  std::unique_ptr<Optimizer> opts[2];
  for (int k = 0; k < 2; ++k) {
    nets[k] = build_model("keras_mnist_cnn", Shape{1, 28, 28}, 10);
    initialize(*nets[k], Init::GlorotUniform, 7);
    opts[k] = make_optimizer(oc);
  }
  const auto& refs = nets[0]->param_refs();
  size_t d1 = 0;
  while (refs.at(d1).name != "dense1.weight") ++d1;
  for (int step = 0; step < 2; ++step) {
    const RandomBatch data(*nets[0], batch, 60 + uint64_t(step));
    for (int k = 0; k < 2; ++k) data.load(nets[k]->plan(batch, true));
    sgd_step(*nets[0], nets[0]->plan(batch, true), *opts[0], 0.02, false);
    const auto fused = sgd_step(*nets[1], nets[1]->plan(batch, true), *opts[1], 0.02, true);
    REQUIRE(fused == std::vector<const float*>{nets[1]->params() + refs[d1].offset});
    for (const auto& r : refs) {
      CAPTURE(r.name, step);
      compare_param(*nets[0], *nets[1], r, step == 0 && r.layer >= refs[d1].layer);  // exact: not fed by the fused dx
    }
  }
}

TEST_CASE("fused dense update: odd widths, no bias, one thread only", "[model][fused]") {
  // dense1 (81 -> 1000, no bias: 81 = 64 + 17 columns, a block with a one-lane mask) is the first
  // layer with parameters; dense2 (1000 -> 70: 1000 = 15 x 64 + 40, a half-masked vector) passes
  // an input gradient down. Oracle: the separate backward + SGD. Layers from dense2 on are exact
  // in the first step, dense1 (fed by the fused input gradient) equal to rounding; a momentum that
  // rounds to float 0 takes the no-velocity path in both. oneDNN 2.6 on AVX-512 runs dense2's
  // backward-weights as brgemm (bias summed from +0), the MLP test's image-fed dense1 as gemm:jit.
  if (!fused_dense_available()) {
    WARN("no AVX-512 (or SGDBENCH_FUSED_UPDATE=0): nothing fuses, nothing to compare");
    return;
  }
  auto desc = parse_model(nlohmann::json::parse(R"({"name": "oddnet", "layers": [{"flatten": {}},
      {"dense": {"out": 1000, "bias": false}}, {"relu": {}}, {"dense": {"out": 70}}, {"relu": {}},
      {"dense": {"out": "classes"}}]})"),
                          "(test)", "model");
  OptimizerConfig oc;
  const int variant = GENERATE(0, 1);
  if (variant == 0) oc.momentum = 0.9, oc.weight_decay = 1e-3;
  // Dampening: on the velocity path a momentum of float 0 would scale the update by 0.5.
  if (variant == 1) oc.momentum = 1e-50, oc.dampening = 0.5, oc.weight_decay = 1e-3;
  CAPTURE(variant);
  std::unique_ptr<Network> nets[2];
  std::unique_ptr<Optimizer> opts[2];
  for (int k = 0; k < 2; ++k) {
    nets[k] = build_network(desc, Shape{1, 9, 9}, 10);
    initialize(*nets[k], Init::PytorchDefault, 11);
    opts[k] = make_optimizer(oc);
  }
  const auto& refs = nets[0]->param_refs();
  REQUIRE(refs.size() == 5);  // dense1.weight, dense2.weight + bias, dense3.weight + bias
  for (int step = 0; step < 3; ++step) {
    const RandomBatch data(*nets[0], 1, 80 + uint64_t(step));
    for (int k = 0; k < 2; ++k) data.load(nets[k]->plan(1, true));
    CHECK(sgd_step(*nets[0], nets[0]->plan(1, true), *opts[0], 0.05, false).empty());
    const auto fused = sgd_step(*nets[1], nets[1]->plan(1, true), *opts[1], 0.05, true);
    REQUIRE(fused == std::vector<const float*>{nets[1]->params() + refs[1].offset,  // backward order
                                               nets[1]->params() + refs[0].offset});
    for (const auto& r : refs) {
      CAPTURE(r.name, step);
      compare_param(*nets[0], *nets[1], r, step == 0 && r.offset != refs[0].offset);
    }
  }
  // A batch-1 plan whose dense layer runs on two threads (an explicit whole plan of
  // keras_mnist_cnn: dense1's 1.4 MFLOP is above the one-thread layer limit) does not fuse.
  dnnl_ctx::ThreadScope two(2);
  auto cnn = build_model("keras_mnist_cnn", Shape{1, 28, 28}, 10);
  Plan& p = cnn->plan(1, true, true);
  REQUIRE(p.threads() == 0);
  RandomBatch(*cnn, 1, 3).load(p);
  auto opt = make_optimizer(oc);
  CHECK(sgd_step(*cnn, p, *opt, 0.05, true).empty());
}

TEST_CASE("a split training batch is also held to the tensor limit by its whole input", "[model][limits]") {
  // keras_cifar_cnn trains a large batch in sub-batches of a few dozen samples, but the plan still
  // holds the whole batch's input: 400,000 x 3,072 floats is 4.9 GB, over the 4 GiB limit
  // (checked before anything is allocated); 300,000 (3.7 GB) is under it.
  auto net = build_model("keras_cifar_cnn", Shape{3, 32, 32}, 10);
  CHECK_NOTHROW(net->check_batch(300000, true, "batch size", true));
  // Spec validation (whole_input off) passes it: the trainer caps a batch at the training set.
  CHECK_NOTHROW(net->check_batch(400000, true, "batch size"));
  CHECK_THROWS_WITH(net->check_batch(400000, true, "batch size", true),
                    Catch::Matchers::Contains("400000 samples x 3072 values") &&
                        Catch::Matchers::Contains("use a smaller batch size"));
  CHECK_THROWS_WITH(net->plan(400000, true), Catch::Matchers::Contains("more than the limit"));
}

TEST_CASE("the sub-batch byte target splits plans built after it is set", "[model][split]") {
  // LeNet on CIFAR-10 images, one thread (no batch-parallel members): batch 1024 splits into equal
  // sub-batches of at most max_sub_batch samples, max(6 MiB, 16 x weights) / activation bytes per
  // sample by default; a 3 MiB target halves the 6 MiB share, and the default comes back.
  dnnl_ctx::ThreadScope one(1);
  struct Restore {
    int64_t bytes = Network::sub_batch_bytes();
    ~Restore() { Network::set_sub_batch_bytes(bytes); }
  } restore;
  auto sub_at = [](int64_t bytes) {
    Network::set_sub_batch_bytes(bytes);
    auto net = build_model("lenet", Shape{3, 32, 32}, 10);
    const int64_t A = net->activation_bytes_per_sample();
    const int64_t max_sub = net->max_sub_batch(Network::kActivationBudget);
    CHECK(max_sub ==
          std::max<int64_t>(bytes / A, int64_t(std::ceil(16.0 * double(net->buffer_size() * 4) / double(A)))));
    const int64_t k = (1024 + max_sub - 1) / max_sub;
    CHECK(net->plan(1024, true).split() == (1024 + k - 1) / k);
    return net->plan(1024, true).split();
  };
  const int64_t big = sub_at(int64_t(6) << 20), small = sub_at(int64_t(3) << 20);
  CHECK(small < big);
  Network::set_sub_batch_bytes(0);  // 0: the default
  CHECK(Network::sub_batch_bytes() == Network::kSubBatchBytes);
}

TEST_CASE("two-lane backward: the same bits as one lane, only where it overlaps enough", "[model][lanes]") {
  // Oracle: the one-lane backward of the same network (set_two_lanes(false)). Three momentum SGD
  // steps at batch 1 on 2 threads, with the dense update fused into the backward pass where it
  // can be (keras_cifar_cnn's dense1 runs whole on lane 0) and without (its plain backward on
  // lane 0 beside lane 1's passes).
  dnnl_ctx::set_threads(2);
  const bool was = Network::two_lanes();
  const std::string model = GENERATE("keras_cifar_cnn", "lenet");
  const bool fuse = GENERATE(true, false);
  CAPTURE(model, fuse);
  const auto& z = zoo_entry(model);
  OptimizerConfig oc;
  oc.momentum = 0.9;
  std::unique_ptr<Network> nets[2];
  std::unique_ptr<Optimizer> opts[2];
  for (int k = 0; k < 2; ++k) {
    nets[k] = build_model(model, z.default_input, 10);
    initialize(*nets[k], z.init, 11);
    opts[k] = make_optimizer(oc);
    Network::set_two_lanes(k == 1);
    nets[k]->plan(1, true);  // built now, with the switch as set
  }
  Network::set_two_lanes(was);
  REQUIRE_FALSE(nets[0]->plan(1, true).two_lanes());
  REQUIRE(nets[1]->plan(1, true).two_lanes());
  CHECK(nets[1]->plan(1, true).threads() == 1);
  const size_t n = nets[0]->buffer_size();
  for (int step = 0; step < 3; ++step) {
    CAPTURE(step);
    const RandomBatch data(*nets[0], 1, 70 + uint64_t(step));
    for (int k = 0; k < 2; ++k) {
      data.load(nets[k]->plan(1, true));
      sgd_step(*nets[k], nets[k]->plan(1, true), *opts[k], 0.02, fuse);
    }
    CHECK(dnnl_ctx::threads() == 2);
    CHECK(std::memcmp(nets[0]->grads(), nets[1]->grads(), n * sizeof(float)) == 0);
    CHECK(std::memcmp(nets[0]->params(), nets[1]->params(), n * sizeof(float)) == 0);
  }
  Plan* plans[2] = {&nets[0]->plan(1, true), &nets[1]->plan(1, true)};
  {  // the caller down to one thread: the two-lane plan runs one lane, same bits
    dnnl_ctx::ThreadScope one(1);
    const RandomBatch data(*nets[0], 1, 90);
    for (int k = 0; k < 2; ++k) {
      data.load(*plans[k]);
      sgd_step(*nets[k], *plans[k], *opts[k], 0.02, fuse);
    }
    CHECK(std::memcmp(nets[0]->params(), nets[1]->params(), n * sizeof(float)) == 0);
  }
  {  // called inside a parallel region (nested regions get one thread): one lane after all
    const RandomBatch data(*nets[0], 1, 91);
    for (int k = 0; k < 2; ++k) data.load(*plans[k]);
    sgd_step(*nets[0], *plans[0], *opts[0], 0.02, fuse);
    bool threw = false;
#pragma omp parallel num_threads(2)
#pragma omp single
    try {
      sgd_step(*nets[1], *plans[1], *opts[1], 0.02, fuse);
    } catch (...) {
      threw = true;
    }
    CHECK_FALSE(threw);
    CHECK(std::memcmp(nets[0]->params(), nets[1]->params(), n * sizeof(float)) == 0);
  }
  // With the switch on: below kTwoLaneMinFlops above the first layer (keras_mnist_cnn: a 128 x
  // 10 dense layer; keras_mnist_mlp: its large layers fuse), or built on one thread: one lane.
  Network::set_two_lanes(true);
  for (const char* other : {"keras_mnist_cnn", "keras_mnist_mlp"}) {
    auto net = build_model(other, zoo_entry(other).default_input, 10);
    CHECK_FALSE(net->plan(1, true).two_lanes());
  }
  {
    auto net = build_model(model, z.default_input, 10);
    CHECK(net->plan(1, true).two_lanes());  // the same model with the switch on: two
    dnnl_ctx::ThreadScope one(1);
    auto net1 = build_model(model, z.default_input, 10);
    CHECK_FALSE(net1->plan(1, true).two_lanes());
  }
  Network::set_two_lanes(was);
  dnnl_ctx::set_threads(0);
}
