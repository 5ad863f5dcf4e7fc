// Small-channel convolution loops (see conv_small.hpp). Layout of the work:
//  - forward, per image: the NHWC input is split into C planes of rows padded to Wp floats (with
//    an extra zero row and zero padding, so vector loads never need a mask), kept for the weight
//    gradient in training plans; then for each pair of output rows and each block of 16 output
//    columns, OC x 2 accumulators take the C*K*K terms (a row load, a broadcast weight, an FMA);
//    bias and ReLU are applied and the 16 x OC results interleaved back into NHWC with permutes.
//  - weight gradient, per image: diff_dst is split into OC planes (rows padded with zeros to a
//    multiple of 16), then for each input channel, kernel row and group of G output channels,
//    G x K accumulators sum diff_dst x input over the image; each thread adds into its own
//    vector accumulators, reduced in thread order at the end (deterministic for a thread count).
#include "layers/conv_small.hpp"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "core/env.hpp"
#include "core/parallel.hpp"
#include "core/tensor.hpp"
#include "dnnl/context.hpp"

// GCC 12 reports its own AVX-512 headers' _mm512_undefined_ps() temporaries as maybe-uninitialized.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace sgdbench {

namespace {

constexpr int kMaxC = 4, kMaxOC = 8;

bool g_small_channels = env_switch("SGDBENCH_SMALL_CHANNELS", true);

#define SGD_AVX512 __attribute__((target("avx512f")))

// 16 pixels of n channels: between n vectors in pixel-major order (NHWC) and n vectors of one
// channel each. Output vector k lane m takes input vector pair q (vectors 2q, 2q+1) lane idx.
struct Shuffle {
  int n = 0;
  alignas(64) int32_t idx[kMaxOC][16] = {};
  uint16_t mask[kMaxOC][kMaxOC / 2] = {};
};

Shuffle deinterleave(int n) {  // NHWC -> planes: plane c lane l = flat[n*l + c]
  Shuffle s;
  s.n = n;
  for (int c = 0; c < n; ++c)
    for (int l = 0; l < 16; ++l) {
      const int f = n * l + c;
      s.idx[c][l] = f & 31;
      s.mask[c][f >> 5] |= uint16_t(1u << l);
    }
  return s;
}

Shuffle interleave(int n) {  // planes -> NHWC: flat[16k + m] = plane (f % n) lane (f / n)
  Shuffle s;
  s.n = n;
  for (int k = 0; k < n; ++k)
    for (int m = 0; m < 16; ++m) {
      const int f = 16 * k + m, l = f / n, c = f % n;
      s.idx[k][m] = (c & 1) * 16 + l;
      s.mask[k][c >> 1] |= uint16_t(1u << m);
    }
  return s;
}

// The first `count` lanes (none when count <= 0, all when >= 16).
inline __mmask16 lanes(int count) { return count <= 0 ? 0 : count >= 16 ? 0xffff : __mmask16((1u << count) - 1); }

SGD_AVX512 inline void shuffle(const Shuffle& s, const __m512* in, __m512* out) {
  const int pairs = (s.n + 1) / 2;
  for (int k = 0; k < s.n; ++k) {
    const __m512i idx = _mm512_load_si512(s.idx[k]);
    __m512 r = _mm512_setzero_ps();
    for (int q = 0; q < pairs; ++q) {
      if (!s.mask[k][q]) continue;
      const __m512 b = 2 * q + 1 < s.n ? in[2 * q + 1] : in[2 * q];
      r = _mm512_mask_mov_ps(r, __mmask16(s.mask[k][q]), _mm512_permutex2var_ps(in[2 * q], idx, b));
    }
    out[k] = r;
  }
}

// n channel-interleaved floats of `count` (<= 16) pixels at src -> n planes (dst + c * plane),
// lanes past `count` zero.
SGD_AVX512 inline void split_pixels(const Shuffle& s, const float* src, int count, float* dst, int64_t plane) {
  __m512 in[kMaxOC], out[kMaxOC];
  const int n = s.n;
  if (count == 16) {
    for (int k = 0; k < n; ++k) in[k] = _mm512_loadu_ps(src + 16 * k);
  } else {
    for (int k = 0, left = count * n; k < n; ++k, left -= 16)
      in[k] = _mm512_maskz_loadu_ps(lanes(left), src + 16 * k);
  }
  shuffle(s, in, out);
  for (int k = 0; k < n; ++k) _mm512_storeu_ps(dst + k * plane, out[k]);
}

struct Geo {
  int C, H, W, OC, K, OH, OW;
  int Wp;    // input plane row stride (>= W + 16, zero past W)
  int OWp;   // diff_dst plane row stride (OW rounded up to 16)
  int64_t xplane, ximage;  // floats per input plane ((H + 1) rows) and per image
  int64_t dplane, dimage;  // floats per diff_dst plane and per image
  int64_t in_image, out_image;  // floats per image of src and of dst (NHWC)
};

SGD_AVX512 void split_image(const Geo& g, const Shuffle& s, const float* src, float* xt) {
  for (int h = 0; h < g.H; ++h)
    for (int w = 0; w < g.W; w += 16)
      split_pixels(s, src + (int64_t(h) * g.W + w) * g.C, std::min(16, g.W - w), xt + int64_t(h) * g.Wp + w,
                   g.xplane);
}

template <int OC>
SGD_AVX512 void forward_image(const Geo& g, const Shuffle& il, const float* xt, const float* wt, const float* bias,
                              bool relu, float* dst) {
  const int C = g.C, K = g.K, OH = g.OH, OW = g.OW, Wp = g.Wp;
  const int64_t CKK = int64_t(C) * K * K;
  for (int oh = 0; oh < OH; oh += 2) {
    const bool two = oh + 1 < OH;
    for (int ob = 0; ob < OW; ob += 16) {
      // The last block of a row wider than 16 ends at the row's end (recomputing a few columns,
      // which it writes with the same values); a row narrower than 16 is one partial block.
      const int o = ob + 16 > OW && OW >= 16 ? OW - 16 : ob;
      const int count = std::min(16, OW - o);
      __m512 a0[kMaxOC], a1[kMaxOC];  // OC used; sized for shuffle()
#pragma GCC unroll 8
      for (int k = 0; k < OC; ++k) a0[k] = a1[k] = bias ? _mm512_set1_ps(bias[k]) : _mm512_setzero_ps();
      for (int c = 0; c < C; ++c)
        for (int kh = 0; kh < K; ++kh) {
          const float* r0 = xt + c * g.xplane + int64_t(oh + kh) * Wp + o;
          const float* r1 = r0 + Wp;  // the next output row's input row (the zero row at the end)
          const float* wk = wt + (int64_t(c) * K + kh) * K;
          for (int kw = 0; kw < K; ++kw) {
            const __m512 x0 = _mm512_loadu_ps(r0 + kw), x1 = _mm512_loadu_ps(r1 + kw);
#pragma GCC unroll 8
            for (int k = 0; k < OC; ++k) {
              const __m512 wv = _mm512_set1_ps(wk[k * CKK + kw]);
              a0[k] = _mm512_fmadd_ps(x0, wv, a0[k]);
              a1[k] = _mm512_fmadd_ps(x1, wv, a1[k]);
            }
          }
        }
      for (int r = 0; r < (two ? 2 : 1); ++r) {
        __m512* a = r ? a1 : a0;
        if (relu)
#pragma GCC unroll 8
          for (int k = 0; k < OC; ++k) a[k] = _mm512_max_ps(a[k], _mm512_setzero_ps());
        __m512 out[kMaxOC];
        shuffle(il, a, out);
        float* d = dst + (int64_t(oh + r) * OW + o) * OC;
        if (count == 16) {
#pragma GCC unroll 8
          for (int k = 0; k < OC; ++k) _mm512_storeu_ps(d + 16 * k, out[k]);
        } else {
          for (int k = 0, left = count * OC; k < OC; ++k, left -= 16)
            _mm512_mask_storeu_ps(d + 16 * k, lanes(left), out[k]);
        }
      }
    }
  }
}

// acc[(gi * C * K + kh) * K + kw] (gi < G, one kernel row kh of input channel c already offset
// into acc) += sum over the image of diff_dst plane (oc0 + gi) x input plane c shifted by (kh, kw).
template <int K, int G>
SGD_AVX512 void weight_grad_rows(const Geo& g, const float* xc, const float* dy, __m512* acc, int64_t acc_oc_stride) {
  __m512 a[G][K];
  for (int gi = 0; gi < G; ++gi)
    for (int kw = 0; kw < K; ++kw) a[gi][kw] = _mm512_setzero_ps();
  for (int oh = 0; oh < g.OH; ++oh) {
    const float* xr = xc + int64_t(oh) * g.Wp;
    const float* dr = dy + int64_t(oh) * g.OWp;
    for (int ob = 0; ob < g.OWp; ob += 16) {
      __m512 d[G];
#pragma GCC unroll 8
      for (int gi = 0; gi < G; ++gi) d[gi] = _mm512_load_ps(dr + gi * g.dplane + ob);
#pragma GCC unroll 8
      for (int kw = 0; kw < K; ++kw) {
        __m512 x = _mm512_loadu_ps(xr + ob + kw);
        asm("" : "+v"(x));  // one load per column shift, not one per FMA (GCC folds it otherwise)
#pragma GCC unroll 8
        for (int gi = 0; gi < G; ++gi) a[gi][kw] = _mm512_fmadd_ps(d[gi], x, a[gi][kw]);
      }
    }
  }
  for (int gi = 0; gi < G; ++gi)
    for (int kw = 0; kw < K; ++kw) acc[gi * acc_oc_stride + kw] = _mm512_add_ps(acc[gi * acc_oc_stride + kw], a[gi][kw]);
}

using RowsFn = void (*)(const Geo&, const float*, const float*, __m512*, int64_t);

// Most output channels per group for a kernel width: G x K accumulators, G diff_dst rows and one
// input row within the 32 vector registers.
constexpr int max_group(int K) { return std::min(kMaxOC, 29 / (K + 1)); }

template <int K, int... Gs>
RowsFn rows_fn(int G, std::integer_sequence<int, Gs...>) {
  RowsFn f = nullptr;
  ((G == Gs + 1 ? (f = &weight_grad_rows<K, Gs + 1>, 0) : 0), ...);
  return f;
}

RowsFn pick_rows(int K, int G) {
  switch (K) {
    case 3: return rows_fn<3>(G, std::make_integer_sequence<int, max_group(3)>{});
    case 5: return rows_fn<5>(G, std::make_integer_sequence<int, max_group(5)>{});
    case 7: return rows_fn<7>(G, std::make_integer_sequence<int, max_group(7)>{});
    default: return nullptr;
  }
}

using ForwardFn = void (*)(const Geo&, const Shuffle&, const float*, const float*, const float*, bool, float*);

template <int... Os>
ForwardFn forward_fn(int OC, std::integer_sequence<int, Os...>) {
  ForwardFn f = nullptr;
  ((OC == Os + 1 ? (f = &forward_image<Os + 1>, 0) : 0), ...);
  return f;
}

SGD_AVX512 float hsum(__m512 v) { return _mm512_reduce_add_ps(v); }

int slots_for_threads() { return std::max(omp_get_max_threads(), omp_get_num_procs()); }

class SmallConvExec : public LayerExec {
  using memory = dnnl::memory;

 public:
  SmallConvExec(const BuildArgs& a, std::unique_ptr<LayerExec> inner, const Geo& g)
      : inner_(std::move(inner)), g_(g), training_(a.training), relu_(a.relu_after), N_(a.batch) {
    dst = inner_->dst;
    diff_src = inner_->diff_src;
    src_ = a.src;
    w_ = a.params[0];
    b_ = a.params.size() > 1 ? a.params[1] : nullptr;
    if (training_) {
      gw_ = a.grads[0];
      gb_ = a.grads.size() > 1 ? a.grads[1] : nullptr;
    }
    split_ = deinterleave(g.C);
    split_dy_ = deinterleave(g.OC);
    join_ = interleave(g.OC);
    fwd_ = forward_fn(g.OC, std::make_integer_sequence<int, kMaxOC>{});
    threads_ = slots_for_threads();
    // Training keeps every image's planes for the weight gradient; inference one per thread.
    // Zeroed: the planes' padding must read as zeros.
    const int64_t xslots = training_ ? N_ : std::min<int64_t>(N_, threads_);
    xt_ = Tensor(Shape{xslots * g.ximage});
    if (training_) {
      const int gmax = max_group(g.K);
      const int groups = (g.OC + gmax - 1) / gmax;
      group_ = (g.OC + groups - 1) / groups;
      for (int oc0 = 0, gi = 0; oc0 < g.OC; oc0 += group_, ++gi) rows_[gi] = pick_rows(g.K, std::min(group_, g.OC - oc0));
      dyt_ = Tensor(Shape{threads_ * g.dimage});
      nacc_ = int64_t(g.OC) * g.C * g.K * g.K + g.OC;
      acc_.resize(size_t(threads_));
      for (auto& v : acc_) v = Tensor(Shape{nacc_ * 16});
    }
  }

  // Threads for a pass over the batch: the caller's, at most one per image and per scratch slot.
  int team() const { return int(std::min<int64_t>(std::min<int64_t>(omp_get_max_threads(), threads_), N_)); }

  void forward() override {
    const float* src = static_cast<const float*>(src_.get_data_handle());
    float* out = static_cast<float*>(dst.get_data_handle());
    const int nt = team();
    auto image = [&](int64_t n) {
      float* xt = xt_.data() + (training_ ? n : omp_get_thread_num()) * g_.ximage;
      split_image(g_, split_, src + n * g_.in_image, xt);
      fwd_(g_, join_, xt, w_, b_, relu_, out + n * g_.out_image);
    };
    if (nt > 1 && parallel_pays()) {  // a team of one would cost a futex call (core/parallel.hpp)
#pragma omp parallel for schedule(static) num_threads(nt)
      for (int64_t n = 0; n < N_; ++n) image(n);
    } else {
      for (int64_t n = 0; n < N_; ++n) image(n);
    }
  }

  void bind_backward(const memory& diff_dst) override {
    inner_->bind_backward(diff_dst);
    diff_dst_ = diff_dst;
  }

  void backward_weights() override { weight_grad(); }
  void backward_data() override { inner_->backward_data(); }
  // weight_grad reads the planes forward kept and diff_dst, and writes its own accumulators and
  // the gradients; on a second lane its OpenMP team is one thread (slot 0).
  bool weights_beside_data() const override { return training_; }
  void set_weights_unchanged(bool on) override { inner_->set_weights_unchanged(on); }

 private:
  // Thread t of `got`: its images' weight and bias gradient partial sums, into its accumulator.
  SGD_AVX512 void weight_grad_part(const float* dy, int t, int got, int64_t wcount) {
    const int C = g_.C, K = g_.K, OC = g_.OC;
    __m512* acc = reinterpret_cast<__m512*>(acc_[size_t(t)].data());
    for (int64_t j = 0; j < nacc_; ++j) acc[j] = _mm512_setzero_ps();
    float* dyt = dyt_.data() + t * g_.dimage;
    const int64_t n0 = N_ * t / got, n1 = N_ * (t + 1) / got;  // contiguous shares, fixed by N and got
    for (int64_t n = n0; n < n1; ++n) {
      const float* d = dy + n * g_.out_image;
      for (int oh = 0; oh < g_.OH; ++oh)
        for (int ow = 0; ow < g_.OW; ow += 16)  // the last block's lanes past OW are zeros
          split_pixels(split_dy_, d + (int64_t(oh) * g_.OW + ow) * OC, std::min(16, g_.OW - ow),
                       dyt + int64_t(oh) * g_.OWp + ow, g_.dplane);
      const float* xt = xt_.data() + n * g_.ximage;
      for (int oc0 = 0, gi = 0; oc0 < OC; oc0 += group_, ++gi) {
        const RowsFn rows = rows_[gi];
        for (int c = 0; c < C; ++c)
          for (int kh = 0; kh < K; ++kh)
            rows(g_, xt + c * g_.xplane + int64_t(kh) * g_.Wp, dyt + oc0 * g_.dplane,
                 acc + ((int64_t(oc0) * C + c) * K + kh) * K, int64_t(C) * K * K);
      }
      for (int oc = 0; oc < OC; ++oc) {
        __m512 s = acc[wcount + oc];
        const float* p = dyt + oc * g_.dplane;
        for (int64_t j = 0; j < g_.dplane; j += 16) s = _mm512_add_ps(s, _mm512_load_ps(p + j));
        acc[wcount + oc] = s;
      }
    }
  }

  SGD_AVX512 void weight_grad() {
    const float* dy = static_cast<const float*>(diff_dst_.get_data_handle());
    const int nt = team();
    const int C = g_.C, K = g_.K, OC = g_.OC;
    const int64_t wcount = int64_t(OC) * C * K * K;
    int ran = 1;  // threads OpenMP gave (fewer than nt under OMP_DYNAMIC or inside a parallel region)
    // The region only calls weight_grad_part: clang outlines a parallel region into a function
    // of its own, without this function's avx512f target, so no vector may live in it.
    if (nt > 1 && parallel_pays()) {
#pragma omp parallel num_threads(nt)
      {
        const int t = omp_get_thread_num(), got = omp_get_num_threads();
        if (t == 0) ran = got;
        weight_grad_part(dy, t, got, wcount);
      }
    } else {
      weight_grad_part(dy, 0, 1, wcount);
    }
    // Reduce: lanes, then threads in order.
    for (int64_t j = 0; j < nacc_; ++j) {
      float s = 0.f;
      for (int t = 0; t < ran; ++t) s += hsum(reinterpret_cast<const __m512*>(acc_[size_t(t)].data())[j]);
      if (j < wcount)
        gw_[j] = s;
      else if (gb_)
        gb_[j - wcount] = s;
    }
  }

  std::unique_ptr<LayerExec> inner_;
  Geo g_;
  bool training_, relu_;
  int64_t N_;
  memory src_, diff_dst_;
  const float* w_ = nullptr;
  const float* b_ = nullptr;
  float* gw_ = nullptr;
  float* gb_ = nullptr;
  Shuffle split_, split_dy_, join_;
  ForwardFn fwd_ = nullptr;
  RowsFn rows_[kMaxOC] = {};  // weight gradient, one per group of output channels
  int threads_ = 1, group_ = 1;
  int64_t nacc_ = 0;
  Tensor xt_, dyt_;
  std::vector<Tensor> acc_;
};

}  // namespace

#pragma GCC diagnostic pop

void set_small_channel_kernels(bool on) { g_small_channels = on; }
bool small_channel_kernels() { return g_small_channels; }
bool small_channel_kernels_in_use() {
  static const bool cpu = __builtin_cpu_supports("avx512f");
  return g_small_channels && cpu;
}

bool small_conv_eligible(int64_t C, int64_t OC, int64_t K, int64_t stride, int64_t pad) {
  return small_channel_kernels_in_use() && stride == 1 && pad == 0 && C >= 1 && C <= kMaxC && OC >= 1 && OC <= kMaxOC &&
         (K == 3 || K == 5 || K == 7);
}

std::unique_ptr<LayerExec> make_small_conv(const BuildArgs& a, std::unique_ptr<LayerExec> onednn, int64_t C,
                                           int64_t H, int64_t W, int64_t OC, int64_t K) {
  Geo g{};
  g.C = int(C), g.H = int(H), g.W = int(W), g.OC = int(OC), g.K = int(K);
  g.OH = int(H - K + 1), g.OW = int(W - K + 1);
  g.Wp = int((W + 15) / 16 * 16 + 16);
  g.OWp = int((g.OW + 15) / 16 * 16);
  g.xplane = int64_t(H + 1) * g.Wp;
  g.ximage = g.xplane * C;
  g.dplane = int64_t(g.OH) * g.OWp;
  g.dimage = g.dplane * OC;
  g.in_image = C * H * W;
  g.out_image = OC * g.OH * g.OW;
  return std::make_unique<SmallConvExec>(a, std::move(onednn), g);
}

}  // namespace sgdbench
