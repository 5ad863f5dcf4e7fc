// The fused small-batch dense backward + SGD update (dense_fused.hpp), AVX-512.
#include "layers/dense_fused.hpp"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>

#include "core/env.hpp"

namespace sgdbench {

namespace {
bool& fused_flag() {
  static bool on = env_switch("SGDBENCH_FUSED_UPDATE", true) && __builtin_cpu_supports("avx512f");
  return on;
}
}  // namespace

bool fused_dense_available() { return fused_flag(); }
void set_fused_dense(bool on) { fused_flag() = on && __builtin_cpu_supports("avx512f"); }

namespace {

// Columns [i0, i0 + 64) of every row o = 0..O-1, in that order: the input gradient of those
// columns stays in registers (acc) across the rows, where a row-by-row pass re-reads the whole
// input gradient for every row (at batch 4, 86 KB for keras_mnist_cnn: out of L1). The next
// block of the same row is asked for ahead (it comes 3 streams x O rows later, from L2 or L3).
// B = batch (a compile-time count; 1 is the one used).
template <int B, bool Mom, bool Nesterov, bool Dx>
// `end`: where this thread's columns end (the next block there belongs to another thread).
__attribute__((target("avx512f"))) void block(const FusedDenseArgs& a, int64_t i0, int64_t end) {
  const int64_t I = a.in, O = a.out;
  __mmask16 m[4];
  for (int k = 0; k < 4; ++k) {
    const int64_t left = I - i0 - 16 * k;
    m[k] = left >= 16 ? __mmask16(0xFFFF) : left <= 0 ? __mmask16(0) : __mmask16((1u << left) - 1);
  }
  const __m512 lr = _mm512_set1_ps(a.sgd.lr), wd = _mm512_set1_ps(a.sgd.weight_decay);
  const __m512 mu = _mm512_set1_ps(a.sgd.momentum), damp = _mm512_set1_ps(a.sgd.damp);
  const bool first = a.sgd.first;
  __m512 acc[B][4];
  for (int b = 0; b < B; ++b)
    for (int k = 0; k < 4; ++k) acc[b][k] = _mm512_setzero_ps();
  const bool ahead = i0 + 64 < std::min(I, end);
  for (int64_t o = 0; o < O; ++o) {
    float* __restrict w = a.w + o * I + i0;
    float* __restrict g = a.g + o * I + i0;
    float* __restrict v = Mom ? a.v + o * I + i0 : nullptr;
    if (ahead)
      for (int k = 0; k < 4; ++k) {
        _mm_prefetch(reinterpret_cast<const char*>(w + 64 + 16 * k), _MM_HINT_T0);
        if (Mom) _mm_prefetch(reinterpret_cast<const char*>(v + 64 + 16 * k), _MM_HINT_T0);
      }
    __m512 dyb[B];
    for (int b = 0; b < B; ++b) dyb[b] = _mm512_set1_ps(a.dy[b * O + o]);
    for (int k = 0; k < 4; ++k) {
      if (!m[k]) break;
      const int64_t i = 16 * k;
      const __m512 wi = _mm512_maskz_loadu_ps(m[k], w + i);
      if (Dx)
        for (int b = 0; b < B; ++b) acc[b][k] = _mm512_fmadd_ps(dyb[b], wi, acc[b][k]);
      // The weight gradient: 0 + dy * x at batch 1 (one rounding, and +0 where the product is
      // -0: the GEMM's accumulator starts at +0), then the rest of the batch summed.
      __m512 gi = _mm512_fmadd_ps(dyb[0], _mm512_maskz_loadu_ps(m[k], a.x + i0 + i), _mm512_setzero_ps());
      for (int b = 1; b < B; ++b)
        gi = _mm512_fmadd_ps(dyb[b], _mm512_maskz_loadu_ps(m[k], a.x + b * I + i0 + i), gi);
      _mm512_mask_storeu_ps(g + i, m[k], gi);
      // Sgd::update, operation for operation: g' = g + wd*p; v = first ? g' : mu*v + damp*g';
      // p -= lr*v (Nesterov: p -= lr*(g' + mu*v)); without momentum p -= lr*g'.
      const __m512 gd = _mm512_add_ps(gi, _mm512_mul_ps(wd, wi));
      __m512 step = gd;
      if (Mom) {
        const __m512 vi = first ? gd
                                : _mm512_add_ps(_mm512_mul_ps(mu, _mm512_maskz_loadu_ps(m[k], v + i)),
                                                _mm512_mul_ps(damp, gd));
        _mm512_mask_storeu_ps(v + i, m[k], vi);
        step = Nesterov ? _mm512_add_ps(gd, _mm512_mul_ps(mu, vi)) : vi;
      }
      _mm512_mask_storeu_ps(w + i, m[k], _mm512_sub_ps(wi, _mm512_mul_ps(lr, step)));
    }
  }
  if (Dx)
    for (int b = 0; b < B; ++b)
      for (int k = 0; k < 4; ++k)
        if (m[k]) _mm512_mask_storeu_ps(a.dx + b * I + i0 + 16 * k, m[k], acc[b][k]);
}

// Column blocks [b0, b1) of 64.
template <int B, bool Mom, bool Nesterov, bool Dx>
void blocks(const FusedDenseArgs& a, int64_t b0, int64_t b1) {
  for (int64_t k = b0; k < b1; ++k) block<B, Mom, Nesterov, Dx>(a, 64 * k, 64 * b1);
}

// The threads the pass splits over: the caller's (FusedSgd::threads) up to kFusedDenseMaxSplit,
// none inside a parallel region (a two-lane backward; also a team of one), and one for a matrix
// too small to pay for the fork and join.
int split_threads(const FusedDenseArgs& a) {
  if (a.sgd.threads < 2 || omp_get_level() > 0 || a.out * a.in < kFusedDenseSplitMinWeights) return 1;
  return int(std::min<int64_t>({a.sgd.threads, kFusedDenseMaxSplit, (a.in + 63) / 64}));
}

template <int B>
void run(const FusedDenseArgs& a, int64_t b0, int64_t b1) {
  const bool mom = a.v != nullptr, nes = mom && a.sgd.nesterov, dx = a.dx != nullptr;
  if (!mom) return dx ? blocks<B, false, false, true>(a, b0, b1) : blocks<B, false, false, false>(a, b0, b1);
  if (nes) return dx ? blocks<B, true, true, true>(a, b0, b1) : blocks<B, true, true, false>(a, b0, b1);
  return dx ? blocks<B, true, false, true>(a, b0, b1) : blocks<B, true, false, false>(a, b0, b1);
}

}  // namespace

bool SplitChooser::next_split() {
  ++calls_;
  probing_ = false;
  if (t_[1] < 0) return probing_ = true;  // measure both ways first
  if (t_[0] < 0) return !(probing_ = true);
  const bool best = t_[1] < t_[0];
  if (calls_ % kProbeEvery == 0) {
    probing_ = true;
    return !best;
  }
  return best;
}

void SplitChooser::record(bool split, double seconds) {
  double& t = t_[split];
  t = probing_ || t < 0 ? seconds : 0.75 * t + 0.25 * seconds;
}

void fused_dense_backward_update(const FusedDenseArgs& a) {
  // Batch 1: the bias gradient is dy, with the zero signs of the oneDNN implementation it stands for
  // (FusedDenseArgs::bias_from_zero).
  if (a.gb && a.bias_from_zero)
    for (int64_t o = 0; o < a.out; ++o) a.gb[o] = 0.f + a.dy[o];
  else if (a.gb)
    std::copy(a.dy, a.dy + a.out, a.gb);
  // Batch 1 (kFusedDenseMaxBatch: at 4 the summed batch was slower, see there). Each thread takes
  // a contiguous range of column blocks: every block writes its own columns of W, G, V and dx, so
  // the bits do not depend on the split.
  const int64_t nb = (a.in + 63) / 64;
  const int T = split_threads(a);
  if (T == 1) return run<1>(a, 0, nb);
  const bool split = !a.chooser || a.chooser->next_split();
  const auto t0 = std::chrono::steady_clock::now();
  if (split) {
    // The caller's floating-point mode (flush-to-zero, denormals-are-zero) in every thread: the
    // same arithmetic on all columns whatever a pool thread was left with.
    const unsigned csr = _mm_getcsr();
#pragma omp parallel num_threads(T)
    {
      _mm_setcsr(csr);
      const int64_t t = omp_get_thread_num(), n = omp_get_num_threads();
      run<1>(a, nb * t / n, nb * (t + 1) / n);
    }
  } else {
    run<1>(a, 0, nb);
  }
  if (a.chooser) a.chooser->record(split, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

}  // namespace sgdbench
