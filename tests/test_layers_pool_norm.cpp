// Average pooling, global average pooling and batch norm: oneDNN forward/backward equal the naive
// reference (src/reference/pool_norm), the reference gradients pass finite differences, and batch
// norm's running statistics follow PyTorch's update.
#include <cstring>

#include "core/error.hpp"
#include "helpers.hpp"
#include "layers/avg_pool2d.hpp"
#include "layers/batch_norm.hpp"
#include "layers/dense.hpp"
#include "layers/flatten.hpp"
#include "layers/global_avg_pool.hpp"
#include "model/network.hpp"
#include "reference/pool_norm.hpp"

using namespace sgdbench;
using namespace sgdbench::test;

namespace {
// Pooling only sums and scales: float against double differs by a few ulp.
constexpr double kRel = 1e-5, kAbs = 1e-6;
// Batch norm in float: the mean and variance are float sums over up to M = 500 values (in an
// order oneDNN chooses), 1/sqrt(var + eps) amplifies their rounding, and dx subtracts two means
// from dy (cancellation). Observed worst: ~2e-7 absolute on dx, ~1e-6 on a 500-term diff_shift;
// 1e-4 relative / 1e-5 absolute (values are O(1)) leaves a 10x margin and still catches any
// indexing or formula error (those are O(0.1)).
constexpr double kBnRel = 1e-4, kBnAbs = 1e-5;

// diff_dst <- dy, then backward_weights() only (no diff_src needed, as for the first layer).
void backward_weights_only(LayerRig& rig, const ref::T& dy) {
  auto m = to_memory(dy, rig.diff_dst.get_desc());
  std::memcpy(rig.diff_dst.get_data_handle(), m.get_data_handle(), rig.diff_dst.get_desc().get_size());
  rig.exec->backward(false);
  dnnl_ctx::stream().wait();
}

std::vector<float> floats(const ref::T& t) { return std::vector<float>(t.v.begin(), t.v.end()); }
}  // namespace

TEST_CASE("avg_pool2d: oneDNN equals the reference, reference passes finite differences", "[layers][pool]") {
  // N, C, H, W, k, stride, pad (odd sizes drop the last row/column; padding counts in the divisor)
  auto c = GENERATE(std::vector<int64_t>{1, 1, 4, 4, 2, 2, 0}, std::vector<int64_t>{2, 3, 7, 9, 3, 2, 1},
                    std::vector<int64_t>{3, 4, 8, 8, 2, 2, 1}, std::vector<int64_t>{5, 2, 9, 7, 3, 1, 1},
                    std::vector<int64_t>{4, 6, 10, 11, 3, 3, 0}, std::vector<int64_t>{1, 16, 5, 5, 2, 1, 0},
                    std::vector<int64_t>{2, 3, 6, 6, 4, 3, 2}, std::vector<int64_t>{2, 5, 1, 1, 3, 1, 1});
  const int64_t K = c[4], S = c[5], P = c[6];
  CAPTURE(c);
  Rng rng(uint64_t(c[1] * 13 + c[2] * 3 + c[6]));
  auto x = random_grid({c[0], c[1], c[2], c[3]}, rng);
  AvgPool2d L("pool", K, S, P);
  auto y_ref = ref::avgpool_forward(x, K, S, P);
  REQUIRE(L.output_shape(Shape{c[1], c[2], c[3]}) == Shape{y_ref.dims[1], y_ref.dims[2], y_ref.dims[3]});
  LayerRig rig(L, x, {}, true);
  require_close("forward_training", rig.forward(), y_ref, kRel, kAbs);
  auto dy = random_grid(y_ref.dims, rng);
  auto dx_ref = ref::avgpool_backward(x, dy, K, S, P);
  require_close("backward", rig.backward(dy), dx_ref, kRel, kAbs);
  LayerRig inf(L, x, {}, false);
  require_close("forward_inference", inf.forward(), y_ref, kRel, kAbs);
  require_fd_gradient(
      "dx", x, [&](const ref::T& v) { return dot(ref::avgpool_forward(v, K, S, P), dy); }, dx_ref);
}

TEST_CASE("avg_pool2d: configuration, shapes and errors", "[layers][pool]") {
  AvgPool2d a("p", 2), b("p", 3, 2, 1);
  CHECK(a.kind() == "avg_pool");
  CHECK(a.describe() == "avgpool 2");
  CHECK(b.describe() == "avgpool 3 stride 2 pad 1");
  CHECK(AvgPool2d("p", 2, 2, 1).describe() == "avgpool 2 pad 1");
  CHECK(a.stride() == 2);
  CHECK(a.output_shape(Shape{3, 7, 7}) == Shape{3, 3, 3});  // floor, as PyTorch
  CHECK(b.output_shape(Shape{4, 7, 9}) == Shape{4, 4, 5});  // (7 + 2 - 3) / 2 + 1, (9 + 2 - 3) / 2 + 1
  CHECK(b.output_shape(Shape{4, 1, 1}) == Shape{4, 1, 1});  // the padding makes the window fit
  CHECK_THROWS_AS(a.output_shape(Shape{3, 1, 4}), Error);   // window does not fit
  CHECK_THROWS_AS(a.output_shape(Shape{12}), Error);        // not an image
  CHECK_THROWS_AS(AvgPool2d("p", 2, 1, 2), Error);          // pad > kernel / 2 (PyTorch's rule)
  CHECK_THROWS_WITH(a.output_shape(Shape{3, 1, 4}), Catch::Contains("'p'"));
}

TEST_CASE("global_avg_pool: oneDNN equals the reference, reference passes finite differences", "[layers][pool]") {
  auto d =
      GENERATE(std::vector<int64_t>{1, 1, 1, 1}, std::vector<int64_t>{2, 3, 5, 7}, std::vector<int64_t>{5, 16, 4, 4},
               std::vector<int64_t>{3, 8, 7, 7}, std::vector<int64_t>{4, 2, 1, 6});
  CAPTURE(d);
  Rng rng(uint64_t(d[0] * 31 + d[1] * 7 + d[3]));
  auto x = random_grid(d, rng);
  GlobalAvgPool L("gap");
  REQUIRE(L.output_shape(Shape{d[1], d[2], d[3]}) == Shape{d[1], 1, 1});
  auto y_ref = ref::global_avgpool_forward(x);
  LayerRig rig(L, x, {}, true);
  require_close("forward_training", rig.forward(), y_ref, kRel, kAbs);
  auto dy = random_grid(y_ref.dims, rng);
  auto dx_ref = ref::global_avgpool_backward(x, dy);
  require_close("backward", rig.backward(dy), dx_ref, kRel, kAbs);
  LayerRig inf(L, x, {}, false);
  require_close("forward_inference", inf.forward(), y_ref, kRel, kAbs);
  require_fd_gradient(
      "dx", x, [&](const ref::T& v) { return dot(ref::global_avgpool_forward(v), dy); }, dx_ref);
  // Backward spreads dy / (H*W) over the channel.
  CHECK(dx_ref[0] == dy[0] / double(d[2] * d[3]));
}

TEST_CASE("global_avg_pool: configuration and errors", "[layers][pool]") {
  GlobalAvgPool L("gap");
  CHECK(L.kind() == "global_avg_pool");
  CHECK(L.describe() == "global avgpool");
  CHECK_THROWS_AS(L.output_shape(Shape{10}), Error);
}

TEST_CASE("batch_norm: oneDNN equals the reference (training, inference, running statistics)", "[layers][batch_norm]") {
  // (N, F) for BatchNorm1d, (N, C, H, W) for BatchNorm2d; batch >= 2
  auto dims =
      GENERATE(std::vector<int64_t>{2, 5}, std::vector<int64_t>{7, 3}, std::vector<int64_t>{32, 10},
               std::vector<int64_t>{2, 3, 4, 4}, std::vector<int64_t>{3, 4, 5, 7}, std::vector<int64_t>{5, 16, 3, 3},
               std::vector<int64_t>{4, 2, 1, 1}, std::vector<int64_t>{5, 3, 10, 10});
  const double momentum = GENERATE(0.1, 0.3), eps = 1e-5;
  CAPTURE(dims, momentum);
  const int64_t C = dims[1];
  Rng rng(uint64_t(dims[0] * 101 + C * 7 + dims.size()));
  auto x = random_t(dims, rng, -1, 3);  // mean away from zero
  auto gamma = random_t({C}, rng, 0.5, 1.5), beta = random_t({C}, rng);
  auto rmean0 = random_t({C}, rng), rvar0 = random_t({C}, rng, 0.5, 2);
  BatchNorm L("bn", momentum, eps);
  REQUIRE(L.params(Shape(std::vector<int64_t>(dims.begin() + 1, dims.end())),
                   Shape(std::vector<int64_t>(dims.begin() + 1, dims.end())))
              .size() == 2);

  // Training: batch statistics; the running statistics move towards them.
  auto rmean = rmean0, rvar = rvar0;
  auto y_ref = ref::batchnorm_forward(x, gamma, beta, eps, true, rmean, rvar, momentum);
  LayerRig rig(L, x, {gamma, beta}, true, {floats(rmean0), floats(rvar0)});
  require_close("forward_training", rig.forward(), y_ref, kBnRel, kBnAbs);
  require_close("running_mean", from_floats(rig.state[0].data(), {C}), rmean, kBnRel, kBnAbs);
  require_close("running_var", from_floats(rig.state[1].data(), {C}), rvar, kBnRel, kBnAbs);

  // Backward with the statistics saved by that forward.
  auto dy = random_t(y_ref.dims, rng);
  ref::T dx_ref, dg_ref, db_ref;
  ref::batchnorm_backward(x, gamma, dy, eps, dx_ref, dg_ref, db_ref);
  require_close("diff_src", rig.backward(dy), dx_ref, kBnRel, kBnAbs);
  require_close("diff_scale", rig.grad(0, {C}), dg_ref, kBnRel, kBnAbs);
  require_close("diff_shift", rig.grad(1, {C}), db_ref, kBnRel, kBnAbs);

  // A second training forward updates the running statistics again (as every PyTorch forward).
  ref::batchnorm_forward(x, gamma, beta, eps, true, rmean, rvar, momentum);
  rig.forward();
  require_close("running_mean after 2 steps", from_floats(rig.state[0].data(), {C}), rmean, kBnRel, kBnAbs);
  require_close("running_var after 2 steps", from_floats(rig.state[1].data(), {C}), rvar, kBnRel, kBnAbs);

  // Gradients also right (and overwritten: the rig starts them at garbage) without diff_src.
  LayerRig wonly(L, x, {gamma, beta}, true, {floats(rmean0), floats(rvar0)});
  wonly.forward();
  backward_weights_only(wonly, dy);
  require_close("diff_scale (weights only)", wonly.grad(0, {C}), dg_ref, kBnRel, kBnAbs);
  require_close("diff_shift (weights only)", wonly.grad(1, {C}), db_ref, kBnRel, kBnAbs);

  // Inference: the running statistics, read and left unchanged.
  auto im = rmean0, iv = rvar0;
  auto yi_ref = ref::batchnorm_forward(x, gamma, beta, eps, false, im, iv, momentum);
  LayerRig inf(L, x, {gamma, beta}, false, {floats(rmean0), floats(rvar0)});
  require_close("forward_inference", inf.forward(), yi_ref, kBnRel, kBnAbs);
  require_close("inference keeps running_mean", from_floats(inf.state[0].data(), {C}), rmean0, 0, 0);
  require_close("inference keeps running_var", from_floats(inf.state[1].data(), {C}), rvar0, 0, 0);
  // It reads the state in place: a new value is seen by the next forward without a rebuild.
  std::fill(inf.state[0].begin(), inf.state[0].end(), 0.f);
  std::fill(inf.state[1].begin(), inf.state[1].end(), 1.f);
  ref::T zero({C}), one({C});
  for (auto& v : one.v) v = 1;
  require_close("forward_inference, new state", inf.forward(),
                ref::batchnorm_forward(x, gamma, beta, eps, false, zero, one, momentum), kBnRel, kBnAbs);
}

TEST_CASE("batch_norm: hand-computed statistics", "[layers][batch_norm]") {
  const double eps = 1e-5;
  BatchNorm L("bn");  // momentum 0.1
  ref::T gamma({2}), beta({2});
  gamma.v = {1, 2};
  beta.v = {0, 0.5};
  // Two samples, two features: feature 0 {1, 3}: mean 2, biased var 1, unbiased 2; feature 1
  // {10, 14}: mean 12, biased var 4, unbiased 8.
  ref::T x({2, 2});
  x.v = {1, 10, 3, 14};
  ref::T rm({2}), rv({2});
  rv.v = {1, 1};
  LayerRig rig(L, x, {gamma, beta}, true, {{0.f, 0.f}, {1.f, 1.f}});
  auto y = rig.forward();
  ref::T y_hand({2, 2});
  const double s0 = 1 / std::sqrt(1 + eps), s1 = 1 / std::sqrt(4 + eps);
  y_hand.v = {-s0, 2 * -2 * s1 + 0.5, s0, 2 * 2 * s1 + 0.5};
  require_close("y", y, y_hand, 1e-6, 1e-6);
  require_close("reference y", ref::batchnorm_forward(x, gamma, beta, eps, true, rm, rv, 0.1), y_hand, 1e-12, 1e-12);
  // running_mean = 0.9 * 0 + 0.1 * mean, running_var = 0.9 * 1 + 0.1 * unbiased var.
  ref::T rm_hand({2}), rv_hand({2});
  rm_hand.v = {0.2, 1.2};
  rv_hand.v = {1.1, 1.7};
  require_close("running_mean", from_floats(rig.state[0].data(), {2}), rm_hand, 1e-6, 1e-6);
  require_close("running_var", from_floats(rig.state[1].data(), {2}), rv_hand, 1e-6, 1e-6);
  require_close("reference running_mean", rm, rm_hand, 1e-12, 1e-12);
  require_close("reference running_var", rv, rv_hand, 1e-12, 1e-12);

  // One value per channel (N = H = W = 1): y = beta, and the biased variance 0 enters the
  // running variance (no division by M - 1 = 0).
  ref::T x1({1, 2, 1, 1});
  x1.v = {5, -3};
  LayerRig one(L, x1, {gamma, beta}, true, {{0.f, 0.f}, {1.f, 1.f}});
  ref::T beta4({1, 2, 1, 1});
  beta4.v = {0, 0.5};
  require_close("y (M = 1)", one.forward(), beta4, 1e-6, 1e-6);
  ref::T rm1({2}), rv1({2});
  rm1.v = {0.5, -0.3};
  rv1.v = {0.9, 0.9};
  require_close("running_mean (M = 1)", from_floats(one.state[0].data(), {2}), rm1, 1e-6, 1e-6);
  require_close("running_var (M = 1)", from_floats(one.state[1].data(), {2}), rv1, 1e-6, 1e-6);
}

TEST_CASE("batch_norm: reference gradients pass finite differences", "[layers][batch_norm][fd]") {
  auto dims = GENERATE(std::vector<int64_t>{3, 4}, std::vector<int64_t>{2, 3, 3, 2}, std::vector<int64_t>{4, 2, 1, 1});
  CAPTURE(dims);
  const double eps = 1e-5;
  const int64_t C = dims[1];
  Rng rng(uint64_t(dims.size() * 17 + dims[0]));
  auto x = random_t(dims, rng, -1, 3);
  auto gamma = random_t({C}, rng, 0.5, 1.5), beta = random_t({C}, rng);
  auto dy = random_t(dims, rng);
  ref::T dx, dgamma, dbeta;
  ref::batchnorm_backward(x, gamma, dy, eps, dx, dgamma, dbeta);
  // Scalar loss sum(dy * y) in training mode (the running statistics are scratch copies).
  auto loss = [&](const ref::T& xv, const ref::T& g, const ref::T& b) {
    ref::T rm({C}), rv({C});
    return dot(ref::batchnorm_forward(xv, g, b, eps, true, rm, rv, 0.1), dy);
  };
  require_fd_gradient(
      "dx", x, [&](const ref::T& v) { return loss(v, gamma, beta); }, dx);
  require_fd_gradient(
      "dgamma", gamma, [&](const ref::T& v) { return loss(x, v, beta); }, dgamma);
  require_fd_gradient(
      "dbeta", beta, [&](const ref::T& v) { return loss(x, gamma, v); }, dbeta);
}

TEST_CASE("batch_norm: parameters, state and shapes", "[layers][batch_norm]") {
  BatchNorm L("bn");
  CHECK(L.kind() == "batch_norm");
  CHECK(L.describe() == "batchnorm");
  CHECK(BatchNorm("bn", 0.01, 1e-3).describe() == "batchnorm momentum 0.01 eps 0.001");
  CHECK(L.output_shape(Shape{6, 5, 5}) == Shape{6, 5, 5});
  CHECK(L.output_shape(Shape{20}) == Shape{20});
  CHECK_THROWS_AS(L.output_shape(Shape{2, 3}), Error);
  CHECK_THROWS_AS(BatchNorm("bn", 1.5), Error);
  CHECK_THROWS_AS(BatchNorm("bn", 0.1, 0.0), Error);
  for (const Shape& in : {Shape{6, 5, 5}, Shape{6}}) {
    auto p = L.params(in, in);
    REQUIRE(p.size() == 2);
    CHECK(p[0].name == "weight");
    CHECK(p[0].dims == std::vector<int64_t>{6});
    CHECK(p[0].fill == 1.f);
    CHECK_FALSE(p[0].decay);
    CHECK_FALSE(p[0].is_bias);
    CHECK(p[1].name == "bias");
    CHECK(p[1].dims == std::vector<int64_t>{6});
    CHECK(p[1].fill == 0.f);
    CHECK_FALSE(p[1].decay);
    CHECK(p[1].is_bias);
    auto s = L.state(in);
    REQUIRE(s.size() == 2);
    CHECK((s[0].name == "running_mean" && s[0].count == 6 && s[0].fill == 0.f));
    CHECK((s[1].name == "running_var" && s[1].count == 6 && s[1].fill == 1.f));
  }
  // After a flatten the memory is still the image: refused rather than silently per-channel.
  CHECK_THROWS_AS(L.params(Shape{150}, Shape{6, 5, 5}), Error);
}

TEST_CASE("batch_norm and pooling in a Network: state buffer wiring, train and eval plans", "[layers][batch_norm]") {
  std::vector<std::unique_ptr<Layer>> layers;
  layers.push_back(std::make_unique<BatchNorm>("bn1"));
  layers.push_back(std::make_unique<AvgPool2d>("pool", 3, 2, 1));
  layers.push_back(std::make_unique<GlobalAvgPool>("gap"));
  layers.push_back(std::make_unique<Flatten>("flatten"));
  layers.push_back(std::make_unique<Dense>("fc", 4));
  layers.push_back(std::make_unique<BatchNorm>("bn2"));
  Network net("bn_net", Shape{3, 7, 7}, 4, std::move(layers));
  REQUIRE(net.state_refs().size() == 4);
  CHECK(net.state_refs()[0].name == "bn1.running_mean");
  CHECK(net.state_refs()[3].name == "bn2.running_var");
  CHECK(net.output_shapes()[1] == Shape{3, 4, 4});
  CHECK(net.output_shapes()[2] == Shape{3, 1, 1});
  const float* rv1 = net.state() + net.state_refs()[1].offset;
  CHECK(rv1[0] == 1.f);
  std::fill(net.params(), net.params() + net.buffer_size(), 0.5f);
  auto& train = net.plan(4, true);
  Rng rng(5);
  for (int64_t i = 0; i < 4 * 3 * 7 * 7; ++i) train.input()[i] = float(rng.uniform(0, 4));  // var ~4/3
  for (int64_t i = 0; i < 4; ++i) train.labels()[i] = int32_t(i);
  train.forward_loss();
  CHECK(rv1[0] != 1.f);  // moved towards the batch variance
  std::fill(net.grads(), net.grads() + net.buffer_size(), -7.f);
  train.backward();
  auto& g = net.param("bn1.weight");
  for (size_t i = 0; i < g.count; ++i) CHECK(std::isfinite(net.grads()[g.offset + i]));
  CHECK(net.grads()[net.param("bn2.bias").offset] != -7.f);
  auto& eval = net.plan(4, false);
  std::memcpy(eval.input(), train.input(), sizeof(float) * 4 * 3 * 7 * 7);
  const float keep = rv1[0];
  eval.forward();
  CHECK(rv1[0] == keep);  // inference leaves the state alone
  for (int i = 0; i < 16; ++i) CHECK(std::isfinite(eval.logits()[i]));
}
