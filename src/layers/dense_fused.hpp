// A batch-1 dense layer's backward and SGD update in one pass over its weight matrix: input
// gradient, weight and bias gradients, velocity and weight update.
//
// Why (issue 11): at batch 1 a large dense layer's backward is memory-bound three times over:
// oneDNN's backward-data reads W, backward-weights writes G, and the optimizer then reads W, G and
// the velocity V and writes W and V. keras_mnist_cnn's dense1 (5408 x 128, 2.8 MB) took 38 + 40
// us (ONEDNN_VERBOSE) and the update 82 us (perf: 31%) of a 266 us batch-1 step on 1 thread. One
// pass reads W and V once and writes W, V and G.
//
// Same results as the separate passes: the weight gradient at batch 1 is one product per element,
// added to +0 (the bits oneDNN's GEMM gives, signed zeros included), the bias gradient dy with
// the zero signs of oneDNN's implementation (bias_from_zero); the update is Sgd::update's
// arithmetic, operation for operation (multiplies and adds, no fused multiply-add: this file is
// compiled with -ffp-contract=off and uses separate mul/add intrinsics there). The input gradient
// (a sum over the outputs) is summed in another order than oneDNN's: equal to rounding. The tests
// "fused dense update" hold it to both.
#pragma once
#include <cstdint>

#include "optim/optimizer.hpp"

namespace sgdbench {

// Largest batch fused and the smallest weight matrix (elements; smaller ones stay in cache). At
// batch 4 the pass did more arithmetic than it saved memory traffic: bench_train_step, 1 thread,
// 3 alternating processes, SGDBENCH_FUSED_UPDATE=0 vs 1: keras_mnist_cnn batch 4 337 -> 437 us,
// while batch 1 went 241 -> 197 us and keras_mnist_mlp batch 1 39.9 -> 35.2 us.
constexpr int64_t kFusedDenseMaxBatch = 1;
constexpr int64_t kFusedDenseMinWeights = int64_t(1) << 16;
// The smallest weight matrix (2 MiB, above a core's L2) whose fused pass splits its column
// blocks over the caller's threads (FusedSgd::threads) while the rest of the step runs on one:
// such a matrix streams from L3 on either core, so two cores get twice the bandwidth. On the
// 2-vCPU Zen 4 VM (bench_train_step --threads=2, batch 1, 3 alternating processes, a throwaway
// build with the limit from the environment): keras_mnist_cnn (5408 x 128) 209-231 -> 153-162
// us; split at 64k weights, keras_mnist_mlp (784 x 128, 400 KB: it stays in the L2 of the core
// that runs the forward pass) went 28.7-30.2 -> 63.8-64.2 us and keras_cifar_cnn (1024 x 64)
// 317-319 -> 346-349 us.
constexpr int64_t kFusedDenseSplitMinWeights = int64_t(1) << 19;
// At most this many threads split it: measured on 2 vCPUs only (more would wake workers that
// sleep through the rest of a one-thread step, for a gain nobody has measured).
constexpr int64_t kFusedDenseMaxSplit = 2;

// Whether a layer's fused pass runs faster split or on one thread, on this machine now: the pass
// times itself (the bits are the same either way). On the VMs we measure on, a fork that wakes the
// second vCPU takes 1-2 µs in some minutes and 1.4 ms in others (the host has descheduled it);
// then a split keras_mnist_cnn batch-1 step took 1,400-1,700 µs instead of 155 (one thread: 215).
// So each layer measures both ways, runs the faster, and tries the other every kProbeEvery passes
// (its figure replaced by that one measurement, so a change of state is seen at the next probe).
class SplitChooser {
 public:
  static constexpr int64_t kProbeEvery = 256;
  bool next_split();                                      // the way to run the next pass
  void record(bool split, double seconds);                // how long that pass took
  double seconds(bool split) const { return t_[split]; }  // -1: not measured yet

 private:
  double t_[2] = {-1, -1};  // one thread, split: a running mean (3/4 old), the probe's alone
  int64_t calls_ = 0;
  bool probing_ = false;
};

struct FusedDenseArgs {
  int64_t batch = 0, out = 0, in = 0;
  const float* x = nullptr;   // batch x in, the layer's input (row-major, in W's column order)
  const float* dy = nullptr;  // batch x out, the gradient of its output
  float* dx = nullptr;        // batch x in, written (nullptr: not needed)
  float* w = nullptr;         // out x in, updated in place
  float* g = nullptr;         // out x in, the weight gradient, written
  float* gb = nullptr;        // out, the bias gradient, written (nullptr: no bias)
  // How oneDNN's backward-weights sums the bias gradient: from +0 (brgemm_bwd_w: a -0 in dy gives
  // +0) or from the first row (gemm:jit: -0 kept). Only zero signs differ; the "fused dense
  // update" tests hold both (oneDNN 2.6 on AVX-512: gemm:jit for an image-fed layer, brgemm for
  // a vector-fed one).
  bool bias_from_zero = false;
  float* v = nullptr;         // out x in, the velocity (nullptr when momentum is 0)
  FusedSgd sgd;
  // Where the pass may split (split_threads), this layer's choice between split and not;
  // nullptr: always split there.
  SplitChooser* chooser = nullptr;
};

// True where this CPU has AVX-512, SGDBENCH_FUSED_UPDATE is not 0 and set_fused_dense did not
// turn it off. Read when a plan is built: set it before building (tests compare both ways).
bool fused_dense_available();
void set_fused_dense(bool on);  // on: only where the CPU has AVX-512
void fused_dense_backward_update(const FusedDenseArgs& a);

}  // namespace sgdbench
