// Every layer: oneDNN forward/backward equals the naive reference (src/reference), and the
// reference gradients pass a finite-difference check in double.
#include <cstring>

#include "helpers.hpp"
#include "layers/conv2d.hpp"
#include "layers/conv_small.hpp"
#include "layers/dense.hpp"
#include "layers/dropout.hpp"
#include "layers/flatten.hpp"
#include "layers/max_pool2d.hpp"
#include "layers/relu.hpp"
#include "layers/softmax_cross_entropy.hpp"

using namespace sgdbench;
using namespace sgdbench::test;

namespace {
constexpr double kRel = 1e-5, kAbs = 1e-6;
}

TEST_CASE("conv2d: oneDNN forward and backward equal the reference", "[layers][conv2d]") {
  // N, C, H, W, OC, K, stride, pad
  auto c = GENERATE(std::vector<int64_t>{1, 1, 5, 5, 2, 3, 1, 0}, std::vector<int64_t>{2, 3, 8, 8, 4, 3, 1, 1},
                    std::vector<int64_t>{4, 3, 12, 12, 6, 5, 1, 0}, std::vector<int64_t>{3, 2, 9, 9, 3, 3, 2, 1},
                    std::vector<int64_t>{1, 6, 14, 14, 16, 5, 1, 0}, std::vector<int64_t>{5, 16, 7, 7, 8, 3, 1, 0},
                    // the channel counts of keras_cifar_cnn, where the weights take blocked layouts
                    // (copied by dnnl/tile_reorder.hpp on AVX-512)
                    std::vector<int64_t>{1, 3, 10, 10, 32, 3, 1, 0}, std::vector<int64_t>{2, 32, 8, 8, 64, 3, 1, 0},
                    std::vector<int64_t>{1, 64, 6, 6, 64, 3, 1, 0});
  const int64_t N = c[0], C = c[1], H = c[2], W = c[3], O = c[4], K = c[5], S = c[6], P = c[7];
  CAPTURE(N, C, H, W, O, K, S, P);
  Rng rng(11 + uint64_t(N * 100 + C));
  auto x = random_grid({N, C, H, W}, rng);
  auto w = random_grid({O, C, K, K}, rng);
  auto b = random_grid({O}, rng);
  Conv2d L("conv", O, K, S, P);
  for (bool training : {false, true}) {
    LayerRig rig(L, x, {w, b}, training);
    auto y = rig.forward();
    auto y_ref = ref::conv2d_forward(x, w, b, S, P);
    REQUIRE(y.dims == y_ref.dims);
    require_close(training ? "forward_training" : "forward_inference", y, y_ref, kRel, kAbs);
    if (!training) continue;
    auto dy = random_grid(y_ref.dims, rng);
    auto dx = rig.backward(dy);
    ref::T dx_ref, dw_ref, db_ref;
    ref::conv2d_backward(x, w, dy, S, P, dx_ref, dw_ref, db_ref);
    require_close("diff_src", dx, dx_ref, kRel, kAbs);
    require_close("diff_weights", rig.grad(0, w.dims), dw_ref, kRel, kAbs);  // conv weights stay O,C,H,W
    require_close("diff_bias", rig.grad(1, b.dims), db_ref, kRel, kAbs);
  }
}

TEST_CASE("conv2d: small-channel loops equal the reference", "[layers][conv2d][small_conv]") {
  if (!small_channel_kernels_in_use()) {
    WARN("no AVX-512F on this CPU, or SGDBENCH_SMALL_CHANNELS=0: convolutions run on oneDNN only");
    return;
  }
  // N, C, H, W, OC, K: LeNet's first layers (output rows 28 and 24 wide: two 16-column blocks, the
  // second overlapping), rows of 19, 33 (three blocks), 16 (one block) and 1 column, an odd number
  // of output rows with wide rows, one output row, channels 1-8 (every forward width), kernels
  // 3, 5 and 7 with several weight-gradient group sizes.
  auto c = GENERATE(std::vector<int64_t>{2, 3, 32, 32, 6, 5}, std::vector<int64_t>{3, 1, 28, 28, 6, 5},
                    std::vector<int64_t>{1, 3, 20, 21, 8, 3}, std::vector<int64_t>{5, 2, 9, 7, 1, 7},
                    std::vector<int64_t>{4, 4, 18, 35, 7, 3}, std::vector<int64_t>{3, 1, 5, 5, 2, 3},
                    std::vector<int64_t>{1, 3, 29, 20, 6, 5}, std::vector<int64_t>{2, 1, 20, 20, 4, 5},
                    std::vector<int64_t>{2, 2, 7, 40, 3, 7}, std::vector<int64_t>{1, 4, 3, 18, 8, 3},
                    std::vector<int64_t>{2, 3, 20, 20, 5, 5});
  const int64_t N = c[0], C = c[1], H = c[2], W = c[3], O = c[4], K = c[5];
  const bool bias = GENERATE(true, false), relu = GENERATE(false, true);
  const int threads = GENERATE(1, 2);
  CAPTURE(N, C, H, W, O, K, bias, relu, threads);
  REQUIRE(small_conv_eligible(C, O, K, 1, 0));
  dnnl_ctx::ThreadScope scope(threads);
  Rng rng(23 + uint64_t(N * 100 + C * 10 + O));
  auto x = random_grid({N, C, H, W}, rng);
  auto w = random_grid({O, C, K, K}, rng);
  auto b = random_grid({O}, rng);
  if (!bias) std::fill(b.v.begin(), b.v.end(), 0.0);
  Conv2d L("conv", O, K, 1, 0, bias);
  std::vector<ref::T> ps{w};
  if (bias) ps.push_back(b);
  for (bool training : {false, true}) {
    LayerRig rig(L, x, ps, training, {}, relu);
    // Twice, new weights the second time: backward data (oneDNN) must see them too.
    for (int round = 0; round < (training ? 2 : 1); ++round) {
      if (round == 1) {
        w = random_grid(w.dims, rng);
        for (size_t i = 0; i < w.size(); ++i) rig.params[0][i] = float(w[i]);
      }
      auto y = rig.forward();
      auto y_ref = ref::conv2d_forward(x, w, b, 1, 0);
      if (relu)
        for (auto& v : y_ref.v) v = std::max(v, 0.0);
      REQUIRE(y.dims == y_ref.dims);
      require_close(training ? "forward_training" : "forward_inference", y, y_ref, kRel, kAbs);
      if (!training) continue;
      auto dy = random_grid(y_ref.dims, rng);
      ref::T dx;
      if (round == 0) {
        dx = rig.backward(dy);
      } else {
        // From inside a parallel region: OpenMP then gives one thread where two were asked for,
        // and the threads' partial sums of the round before must not leak in.
#pragma omp parallel num_threads(2)
#pragma omp single
        dx = rig.backward(dy);
      }
      ref::T dx_ref, dw_ref, db_ref;
      ref::conv2d_backward(x, w, dy, 1, 0, dx_ref, dw_ref, db_ref);
      require_close("diff_src", dx, dx_ref, kRel, kAbs);
      require_close("diff_weights", rig.grad(0, w.dims), dw_ref, kRel, kAbs);
      if (bias) require_close("diff_bias", rig.grad(1, b.dims), db_ref, kRel, kAbs);
    }
  }
}

TEST_CASE("conv2d: the small-channel switch and what it takes", "[layers][conv2d][small_conv]") {
  const bool before = small_channel_kernels();
  set_small_channel_kernels(true);
  const bool cpu = __builtin_cpu_supports("avx512f");
  CHECK(small_channel_kernels_in_use() == cpu);
  CHECK(small_conv_eligible(3, 6, 5, 1, 0) == cpu);
  CHECK_FALSE(small_conv_eligible(3, 6, 5, 2, 0));   // stride
  CHECK_FALSE(small_conv_eligible(3, 6, 5, 1, 1));   // padding
  CHECK_FALSE(small_conv_eligible(5, 6, 5, 1, 0));   // input channels
  CHECK_FALSE(small_conv_eligible(3, 9, 5, 1, 0));   // output channels
  CHECK_FALSE(small_conv_eligible(3, 6, 4, 1, 0));   // kernel
  set_small_channel_kernels(false);
  CHECK_FALSE(small_conv_eligible(3, 6, 5, 1, 0));
  set_small_channel_kernels(true);
  CHECK(small_conv_eligible(3, 6, 5, 1, 0) == cpu);
  set_small_channel_kernels(before);
}

TEST_CASE("conv2d: reference gradients pass finite differences", "[layers][conv2d][fd]") {
  Rng rng(3);
  const int64_t S = GENERATE(1, 2), P = GENERATE(0, 1);
  auto x = random_t({2, 2, 6, 6}, rng);
  auto w = random_t({3, 2, 3, 3}, rng);
  auto b = random_t({3}, rng);
  auto r = random_t(ref::conv2d_forward(x, w, b, S, P).dims, rng);
  ref::T dx, dw, db;
  ref::conv2d_backward(x, w, r, S, P, dx, dw, db);
  require_fd_gradient(
      "dx", x, [&](const ref::T& v) { return dot(ref::conv2d_forward(v, w, b, S, P), r); }, dx);
  require_fd_gradient(
      "dw", w, [&](const ref::T& v) { return dot(ref::conv2d_forward(x, v, b, S, P), r); }, dw);
  require_fd_gradient(
      "db", b, [&](const ref::T& v) { return dot(ref::conv2d_forward(x, w, v, S, P), r); }, db);
}

namespace {
// An image-fed dense layer stores its weights O,H,W,C (ParamSpec::channels_last): permute the
// canonical O,C,H,W weights into that order and back.
ref::T permute_ohwc(const ref::T& w, const std::vector<int64_t>& in, bool to_ohwc) {
  if (in.size() != 4) return w;
  const int64_t O = w.dims[0], C = in[1], H = in[2], W = in[3];
  ref::T out(w.dims);
  for (int64_t o = 0; o < O; ++o)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t x = 0; x < W; ++x) {
          size_t chw = size_t(((o * C + c) * H + h) * W + x), hwc = size_t(((o * H + h) * W + x) * C + c);
          if (to_ohwc)
            out[hwc] = w[chw];
          else
            out[chw] = w[hwc];
        }
  return out;
}
}  // namespace

TEST_CASE("dense: oneDNN forward and backward equal the reference", "[layers][dense]") {
  // N, input dims (vector or image after a flatten), units
  auto c = GENERATE(std::vector<int64_t>{1, 7, 3}, std::vector<int64_t>{4, 20, 10}, std::vector<int64_t>{32, 64, 17},
                    std::vector<int64_t>{3, 2, 5, 5, 12}, std::vector<int64_t>{1, 16, 5, 5, 120});
  std::vector<int64_t> in_dims(c.begin(), c.end() - 1);
  const int64_t O = c.back(), N = c[0];
  int64_t I = 1;
  for (size_t i = 1; i < in_dims.size(); ++i) I *= in_dims[i];
  CAPTURE(in_dims, O);
  Rng rng(17 + uint64_t(I));
  auto x = random_grid(in_dims, rng);
  auto w = random_grid({O, I}, rng);
  auto b = random_grid({O}, rng);
  Dense L("fc", O);
  for (bool training : {false, true}) {
    LayerRig rig(L, x, {permute_ohwc(w, in_dims, true), b}, training);
    auto y = rig.forward();
    auto y_ref = ref::dense_forward(x, w, b);
    require_close("forward", y, y_ref, kRel, kAbs);
    if (!training) continue;
    auto dy = random_grid({N, O}, rng);
    auto dx = rig.backward(dy);
    ref::T dx_ref, dw_ref, db_ref;
    ref::dense_backward(x, w, dy, dx_ref, dw_ref, db_ref);
    require_close("diff_src", dx, dx_ref, kRel, kAbs);
    require_close("diff_weights", permute_ohwc(rig.grad(0, w.dims), in_dims, false), dw_ref, kRel, kAbs);
    require_close("diff_bias", rig.grad(1, b.dims), db_ref, kRel, kAbs);
  }
}

TEST_CASE("dense: reference gradients pass finite differences", "[layers][dense][fd]") {
  Rng rng(5);
  auto x = random_t({3, 6}, rng);
  auto w = random_t({4, 6}, rng);
  auto b = random_t({4}, rng);
  auto r = random_t({3, 4}, rng);
  ref::T dx, dw, db;
  ref::dense_backward(x, w, r, dx, dw, db);
  require_fd_gradient(
      "dx", x, [&](const ref::T& v) { return dot(ref::dense_forward(v, w, b), r); }, dx);
  require_fd_gradient(
      "dw", w, [&](const ref::T& v) { return dot(ref::dense_forward(x, v, b), r); }, dw);
  require_fd_gradient(
      "db", b, [&](const ref::T& v) { return dot(ref::dense_forward(x, w, v), r); }, db);
}

TEST_CASE("relu: oneDNN equals the reference, reference passes finite differences", "[layers][relu]") {
  auto dims = GENERATE(std::vector<int64_t>{1, 10}, std::vector<int64_t>{4, 3, 5, 5}, std::vector<int64_t>{32, 128});
  Rng rng(uint64_t(dims.size() * 31 + dims[0]));
  auto x = random_t(dims, rng);
  Relu L("relu");
  LayerRig rig(L, x, {}, true);
  require_close("forward", rig.forward(), ref::relu_forward(x), kRel, kAbs);
  auto dy = random_t(dims, rng);
  require_close("backward", rig.backward(dy), ref::relu_backward(x, dy), kRel, kAbs);
  LayerRig inf(L, x, {}, false);
  require_close("forward_inference", inf.forward(), ref::relu_forward(x), kRel, kAbs);
  require_fd_gradient(
      "dx", x, [&](const ref::T& v) { return dot(ref::relu_forward(v), dy); }, ref::relu_backward(x, dy));
}

TEST_CASE("max_pool2d: oneDNN equals the reference, reference passes finite differences", "[layers][pool]") {
  // N, C, H, W, k, stride (odd sizes: the last row/column is dropped, as in PyTorch)
  auto c = GENERATE(std::vector<int64_t>{1, 1, 4, 4, 2, 2}, std::vector<int64_t>{2, 6, 28, 28, 2, 2},
                    std::vector<int64_t>{3, 4, 7, 9, 2, 2}, std::vector<int64_t>{1, 3, 9, 9, 3, 2},
                    std::vector<int64_t>{8, 16, 10, 10, 2, 2});
  const int64_t K = c[4], S = c[5];
  CAPTURE(c);
  Rng rng(uint64_t(c[1] * 7 + c[2]));
  auto x = random_t({c[0], c[1], c[2], c[3]}, rng);
  MaxPool2d L("pool", K, S);
  LayerRig rig(L, x, {}, true);
  auto y_ref = ref::maxpool_forward(x, K, S);
  require_close("forward", rig.forward(), y_ref, kRel, kAbs);
  auto dy = random_t(y_ref.dims, rng);
  require_close("backward", rig.backward(dy), ref::maxpool_backward(x, dy, K, S), kRel, kAbs);
  LayerRig inf(L, x, {}, false);
  require_close("forward_inference", inf.forward(), y_ref, kRel, kAbs);
  require_fd_gradient(
      "dx", x, [&](const ref::T& v) { return dot(ref::maxpool_forward(v, K, S), dy); },
      ref::maxpool_backward(x, dy, K, S));
}

TEST_CASE("flatten: passes values through in C,H,W order", "[layers][flatten]") {
  Rng rng(9);
  auto x = random_t({2, 3, 4, 5}, rng);
  Flatten L("flatten");
  REQUIRE(L.output_shape(Shape{3, 4, 5}) == Shape{60});
  LayerRig rig(L, x, {}, true);
  require_close("forward", rig.forward(), x, 0, 0);
  auto dy = random_t(x.dims, rng);
  require_close("backward", rig.backward(dy), dy, 0, 0);
}

TEST_CASE("dropout: inverted mask, seeded, identity at inference", "[layers][dropout]") {
  const double p = GENERATE(0.2, 0.5);
  Rng rng(21);
  auto x = random_t({64, 256}, rng, 0.5, 1.5);  // no zeros, so the mask is y / x
  Dropout L("dropout", p);
  LayerRig rig(L, x, {}, true);
  auto y = rig.forward();
  ref::T mask(x.dims);
  size_t dropped = 0;
  const double scale = 1.0 / (1.0 - p);
  for (size_t i = 0; i < x.size(); ++i) {
    mask[i] = y[i] / x[i];
    bool ok = std::fabs(mask[i]) < 1e-12 || std::fabs(mask[i] - scale) < 1e-5;
    if (!ok) FAIL("mask value " << mask[i] << " is neither 0 nor 1/(1-p)");
    if (mask[i] < 0.5)
      ++dropped, mask[i] = 0;
    else
      mask[i] = scale;
  }
  // Binomial(16384, p): 6 standard deviations.
  const double n = double(x.size()), sd = std::sqrt(n * p * (1 - p));
  CHECK(std::fabs(double(dropped) - n * p) < 6 * sd);
  require_close("forward", y, ref::dropout_forward(x, mask), 1e-6, 1e-7);
  auto dy = random_t(x.dims, rng);
  require_close("backward", rig.backward(dy), ref::dropout_backward(dy, mask), 1e-6, 1e-7);
  // A new forward draws a new mask; the same seed gives the same masks.
  auto y2 = rig.forward();
  CHECK(max_norm_rel_error(y2, y) > 0);
  LayerRig again(L, x, {}, true);
  require_close("same seed, same mask", again.forward(), y, 0, 0);
  // 16,384 elements: the mask loop runs on every thread; the masks do not depend on how many.
  const int before = dnnl_ctx::threads();
  for (int t : {1, 2}) {
    dnnl_ctx::set_threads(t);
    LayerRig threaded(L, x, {}, true);
    require_close("same mask on any thread count", threaded.forward(), y, 0, 0);
  }
  dnnl_ctx::set_threads(before);
  LayerRig inf(L, x, {}, false);
  require_close("inference is identity", inf.forward(), x, 0, 0);
  require_fd_gradient(
      "dx", x, [&](const ref::T& v) { return dot(ref::dropout_forward(v, mask), dy); },
      ref::dropout_backward(dy, mask));
}

TEST_CASE("softmax cross-entropy equals the reference and is stable", "[layers][loss]") {
  const int64_t N = GENERATE(1, 3, 32), K = 10;
  Rng rng{uint64_t(N)};
  auto z = random_t({N, K}, rng, -5, 5);
  std::vector<int32_t> labels(static_cast<size_t>(N));
  for (auto& l : labels) l = int32_t(rng.below(K));
  std::vector<float> zf(z.v.begin(), z.v.end()), diff(z.size());
  auto r = softmax_cross_entropy(zf.data(), labels.data(), N, K, diff.data(), 1.0 / double(N));
  ref::T dz_ref;
  double loss_ref = ref::softmax_cross_entropy(z, labels, &dz_ref);
  CHECK_THAT(r.loss, Catch::Matchers::WithinRel(loss_ref, 1e-6));
  require_close("dlogits", from_floats(diff.data(), z.dims), dz_ref, kRel, kAbs);
  require_fd_gradient(
      "dlogits", z, [&](const ref::T& v) { return ref::softmax_cross_entropy(v, labels, nullptr); }, dz_ref);
  // Huge logits: no overflow (log-sum-exp subtracts the maximum).
  for (auto& v : zf) v *= 1000.f;
  auto big = softmax_cross_entropy(zf.data(), labels.data(), N, K, diff.data(), 1.0 / double(N));
  CHECK(std::isfinite(big.loss));
  for (float d : diff) CHECK(std::isfinite(d));
}
