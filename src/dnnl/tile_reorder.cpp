// TileReorder (see tile_reorder.hpp): the layout analysis reads oneDNN 2.6's blocking descriptor
// (`memory::desc::data`, which 3.x hides behind queries: keep this file in src/dnnl/).
#include "dnnl/tile_reorder.hpp"

#include <immintrin.h>

#include <algorithm>

#include "core/env.hpp"

// GCC 12 reports its own AVX-512 headers' _mm512_undefined_ps() temporaries as maybe-uninitialized.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace sgdbench::dnnl_ctx {

namespace {

#define SGD_AVX512 __attribute__((target("avx512f")))

// r[0..15] rows -> r[0..15] columns.
SGD_AVX512 inline void transpose16(__m512 r[16]) {
  // Fully unrolled whatever the build type (at -O2 GCC keeps the arrays in memory: 3x slower).
  __m512 a[16], b[16];
#pragma GCC unroll 16
  for (int i = 0; i < 8; ++i) {
    a[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    a[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
#pragma GCC unroll 16
  for (int i = 0; i < 4; ++i) {
    b[4 * i + 0] = _mm512_shuffle_ps(a[4 * i + 0], a[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    b[4 * i + 1] = _mm512_shuffle_ps(a[4 * i + 0], a[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    b[4 * i + 2] = _mm512_shuffle_ps(a[4 * i + 1], a[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    b[4 * i + 3] = _mm512_shuffle_ps(a[4 * i + 1], a[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  // b[4i + m], 128-bit lane L: rows 4i..4i+3 of column 4L + m.
#pragma GCC unroll 16
  for (int m = 0; m < 4; ++m) {
    __m512 u0 = _mm512_shuffle_f32x4(b[m], b[4 + m], _MM_SHUFFLE(2, 0, 2, 0));
    __m512 u1 = _mm512_shuffle_f32x4(b[m], b[4 + m], _MM_SHUFFLE(3, 1, 3, 1));
    __m512 v0 = _mm512_shuffle_f32x4(b[8 + m], b[12 + m], _MM_SHUFFLE(2, 0, 2, 0));
    __m512 v1 = _mm512_shuffle_f32x4(b[8 + m], b[12 + m], _MM_SHUFFLE(3, 1, 3, 1));
    r[0 + m] = _mm512_shuffle_f32x4(u0, v0, _MM_SHUFFLE(2, 0, 2, 0));
    r[8 + m] = _mm512_shuffle_f32x4(u0, v0, _MM_SHUFFLE(3, 1, 3, 1));
    r[4 + m] = _mm512_shuffle_f32x4(u1, v1, _MM_SHUFFLE(2, 0, 2, 0));
    r[12 + m] = _mm512_shuffle_f32x4(u1, v1, _MM_SHUFFLE(3, 1, 3, 1));
  }
}

struct Walk {
  int64_t x_len, xps, y_len, groups;
  const int64_t *xg, *yo, *op, *ob;
  size_t outer;
};

// plain rows (16 lanes along X, y contiguous) -> blocked runs of 16 along X.
SGD_AVX512 void run_to_blocked(const Walk& w, const float* plain, float* blocked) {
  __m512 r[16];
  for (size_t o = 0; o < w.outer; ++o)
    for (int64_t g = 0; g < w.groups; ++g) {
      const int lanes = int(std::min<int64_t>(16, w.x_len - 16 * g));
      const float* p = plain + w.op[o] + 16 * g * w.xps;
      float* q = blocked + w.ob[o] + w.xg[g];
      for (int64_t y0 = 0; y0 < w.y_len; y0 += 16) {
        const int k = int(std::min<int64_t>(16, w.y_len - y0));
        const __mmask16 cols = __mmask16((1u << k) - 1u);
#pragma GCC unroll 16
        for (int l = 0; l < 16; ++l)
          r[l] = l < lanes ? _mm512_maskz_loadu_ps(cols, p + l * w.xps + y0) : _mm512_setzero_ps();
        transpose16(r);
        for (int j = 0; j < k; ++j) _mm512_storeu_ps(q + w.yo[y0 + j], r[j]);
      }
    }
}

SGD_AVX512 void run_to_plain(const Walk& w, const float* blocked, float* plain) {
  __m512 r[16];
  for (size_t o = 0; o < w.outer; ++o)
    for (int64_t g = 0; g < w.groups; ++g) {
      const int lanes = int(std::min<int64_t>(16, w.x_len - 16 * g));
      float* p = plain + w.op[o] + 16 * g * w.xps;
      const float* q = blocked + w.ob[o] + w.xg[g];
      for (int64_t y0 = 0; y0 < w.y_len; y0 += 16) {
        const int k = int(std::min<int64_t>(16, w.y_len - y0));
        const __mmask16 cols = __mmask16((1u << k) - 1u);
#pragma GCC unroll 16
        for (int j = 0; j < 16; ++j) r[j] = j < k ? _mm512_loadu_ps(q + w.yo[y0 + j]) : _mm512_setzero_ps();
        transpose16(r);
        for (int l = 0; l < lanes; ++l) _mm512_mask_storeu_ps(p + l * w.xps + y0, cols, r[l]);
      }
    }
}

}  // namespace

bool tile_reorder_enabled() {
  static const bool on = env_switch("SGDBENCH_TILE_REORDER", true) && __builtin_cpu_supports("avx512f");
  return on;
}

std::optional<TileReorder> TileReorder::make(const dnnl::memory::desc& plain_md, const dnnl::memory::desc& blocked_md) {
  if (!tile_reorder_enabled()) return std::nullopt;
  const dnnl_memory_desc_t& p = plain_md.data;
  const dnnl_memory_desc_t& b = blocked_md.data;
  const int n = p.ndims;
  if (n < 1 || n > 6 || b.ndims != n || p.data_type != dnnl_f32 || b.data_type != dnnl_f32) return std::nullopt;
  if (p.format_kind != dnnl_blocked || b.format_kind != dnnl_blocked) return std::nullopt;
  if (p.offset0 != 0 || b.offset0 != 0 || p.extra.flags != 0 || b.extra.flags != 0) return std::nullopt;
  const auto& pb = p.format_desc.blocking;
  const auto& bb = b.format_desc.blocking;
  if (pb.inner_nblks != 0 || bb.inner_nblks < 1) return std::nullopt;
  for (int k = 0; k < n; ++k) {
    if (p.dims[k] != b.dims[k] || p.padded_dims[k] != p.dims[k] || p.padded_offsets[k] || b.padded_offsets[k])
      return std::nullopt;
    if (p.dims[k] < 1) return std::nullopt;
  }
  // Blocked side: offset of index v along dim k is (v / blk[k]) * stride[k] + (v % blk[k]) * istr[k].
  std::vector<int64_t> blk(size_t(n), 1), istr(size_t(n), 0);
  int64_t inner = 1;
  for (int j = bb.inner_nblks - 1; j >= 0; --j) {
    const int k = bb.inner_idxs[j];
    if (k < 0 || k >= n || blk[size_t(k)] != 1) return std::nullopt;  // one block level per dim
    blk[size_t(k)] = bb.inner_blks[j];
    istr[size_t(k)] = inner;
    inner *= bb.inner_blks[j];
  }
  const int x = bb.inner_idxs[bb.inner_nblks - 1];
  if (blk[size_t(x)] % 16 != 0) return std::nullopt;
  auto boff = [&](int k, int64_t v) {
    const int64_t B = blk[size_t(k)];
    return (v / B) * bb.strides[k] + (v % B) * istr[size_t(k)];
  };
  // Plain side: the dims other than X (extent > 1), by stride; the innermost contiguous ones are y.
  std::vector<int> rest;
  for (int k = 0; k < n; ++k)
    if (k != x && p.dims[k] > 1) rest.push_back(k);
  std::sort(rest.begin(), rest.end(), [&](int a, int c) { return pb.strides[a] < pb.strides[c]; });
  std::vector<int> ydims, odims;
  int64_t run = 1;
  for (int k : rest) {
    if (odims.empty() && pb.strides[k] == run) {
      ydims.push_back(k);
      run *= p.dims[k];
    } else {
      odims.push_back(k);
    }
  }
  if (!rest.empty() && ydims.empty()) return std::nullopt;

  TileReorder t;
  t.x_len_ = p.dims[x];
  t.x_plain_stride_ = pb.strides[x];
  for (int64_t g = 0; 16 * g < t.x_len_; ++g) t.x_group_off_.push_back(boff(x, 16 * g));
  t.y_off_.resize(size_t(run));
  for (int64_t y = 0; y < run; ++y) {
    int64_t v = y, off = 0;
    for (int k : ydims) {
      off += boff(k, v % p.dims[k]);
      v /= p.dims[k];
    }
    t.y_off_[size_t(y)] = off;
  }
  int64_t outer = 1;
  for (int k : odims) outer *= p.dims[k];
  t.outer_plain_.resize(size_t(outer));
  t.outer_blocked_.resize(size_t(outer));
  for (int64_t o = 0; o < outer; ++o) {
    int64_t v = o, po = 0, bo = 0;
    for (int k : odims) {
      const int64_t i = v % p.dims[k];
      v /= p.dims[k];
      po += i * pb.strides[k];
      bo += boff(k, i);
    }
    t.outer_plain_[size_t(o)] = po;
    t.outer_blocked_[size_t(o)] = bo;
  }
  return t;
}

void TileReorder::to_blocked(const float* plain, float* blocked) const {
  Walk w{x_len_, x_plain_stride_, int64_t(y_off_.size()), int64_t(x_group_off_.size()), x_group_off_.data(),
         y_off_.data(), outer_plain_.data(), outer_blocked_.data(), outer_plain_.size()};
  run_to_blocked(w, plain, blocked);
}

void TileReorder::to_plain(const float* blocked, float* plain) const {
  Walk w{x_len_, x_plain_stride_, int64_t(y_off_.size()), int64_t(x_group_off_.size()), x_group_off_.data(),
         y_off_.data(), outer_plain_.data(), outer_blocked_.data(), outer_plain_.size()};
  run_to_plain(w, blocked, plain);
}

}  // namespace sgdbench::dnnl_ctx

#pragma GCC diagnostic pop
