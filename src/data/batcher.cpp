// Batcher: seeded per-epoch order, gather + preprocess (+ augment) into float buffers, and the
// optional prefetch thread.
#include "data/batcher.hpp"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "core/error.hpp"
#include "core/parallel.hpp"
#include "core/rng.hpp"
#include "dnnl/context.hpp"

namespace sgdbench {

Batcher::Batcher(const Split& split, const Shape& shape, const Preprocess& pre, int64_t batch, bool shuffle,
                 uint64_t seed, bool drop_last, Augment aug)
    : split_(split),
      shape_(shape),
      sample_size_(shape.numel()),
      pre_(pre),
      batch_(batch),
      shuffle_(shuffle),
      drop_last_(drop_last),
      seed_(seed),
      aug_(aug) {
  SGD_CHECK(batch > 0, Internal, "batch size must be positive");
  SGD_CHECK(int64_t(pre.scale.size()) == shape[0], Internal, "preprocessing has ", pre.scale.size(),
            " channels, data has ", shape[0]);
  order_.resize(size_t(split.size()));
  start_epoch(0);
}

Batcher::~Batcher() { set_prefetch(false); }

void Batcher::set_slice(int part, int parts) { part_ = part, parts_ = parts; }

std::pair<int64_t, int64_t> slice_of(int64_t n, int part, int parts) {
  return {n * part / parts, n * (part + 1) / parts};
}

std::pair<int64_t, int64_t> Batcher::slice(int64_t n) const { return slice_of(n, part_, parts_); }

void Batcher::set_prefetch(bool on) {
  if (on == thread_.joinable()) return;
  if (on) {
    quit_ = false, job_ = false, ready_ = false, staged_pos_ = -1;
    stage_x_.resize(size_t(batch_ * sample_size_));  // the largest batch (data-parallel: a slice of it)
    stage_y_.resize(size_t(batch_));
    thread_ = std::thread([this] { worker(); });
    return;
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    quit_ = true;
  }
  cv_.notify_all();
  thread_.join();
  staged_pos_ = -1;
}

void Batcher::worker() {
  dnnl_ctx::apply_denormal_mode();  // the same arithmetic as the computing threads
  std::unique_lock<std::mutex> l(mu_);
  for (;;) {
    cv_.wait(l, [&] { return quit_ || job_; });
    if (quit_) return;
    const int64_t pos = staged_pos_, n = staged_n_;
    l.unlock();
    fill(pos, n, stage_x_.data(), stage_y_.data(), false);  // no OpenMP team beside the computing one
    l.lock();
    job_ = false, ready_ = true;
    cv_.notify_all();
  }
}

void Batcher::wait_staged() {
  std::unique_lock<std::mutex> l(mu_);
  cv_.wait(l, [&] { return ready_; });
}

void Batcher::start_epoch(int64_t epoch) {
  if (thread_.joinable() && staged_pos_ >= 0) wait_staged();  // the worker reads order_
  staged_pos_ = -1, ahead_pos_ = -1;
  epoch_ = epoch;
  std::iota(order_.begin(), order_.end(), 0);
  if (shuffle_) {
    Rng r(seed_, RngPurpose::Shuffle, uint64_t(epoch));
    for (size_t i = order_.size(); i > 1; --i) std::swap(order_[i - 1], order_[size_t(r.below(i))]);
  }
  pos_ = 0;
}

int64_t Batcher::batches_per_epoch() const {
  int64_t n = split_.size();
  return drop_last_ ? n / batch_ : (n + batch_ - 1) / batch_;
}

int64_t Batcher::next_size() const {
  int64_t n = std::min<int64_t>(batch_, int64_t(order_.size()) - pos_);
  return n <= 0 || (drop_last_ && n < batch_) ? 0 : n;
}

void Batcher::fill(int64_t pos, int64_t n, float* x, int32_t* y, bool threads) const {
  const auto [lo, hi] = slice(n);
  if (hi <= lo) return;
  // Augmentation stream of a sample: its position in the epoch (the same on every rank).
  const uint64_t stream = uint64_t(epoch_) * uint64_t(order_.size() + 1) + uint64_t(pos + lo);
  gather(split_, sample_size_, pre_, order_.data() + pos + lo, hi - lo, x, y, &shape_, aug_, seed_, stream, threads);
}

namespace {
// How much of the next batch's images next() asks for ahead (an L2's share: 1-2 MiB on the CPUs
// we run on, and the step's own working set needs the rest).
constexpr int64_t kAheadBytes = int64_t(256) << 10;
// A batch asked for ahead is gathered on one thread below this many elements (unaugmented): its
// images are in cache or on their way, and a parallel region would cost more than it saves.
// bench_data's BM_BatchEpoch on 2 threads (Fashion-MNIST, 2026-12-02, a VM whose cores hand a
// line over in ~300 ns) took 17-20 -> 5.8 ms at batch 32 and 10.7-11 -> 6.0 ms at batch 128 with
// this limit instead of the gather's own 16k; at batch 1024 (800k elements) the same.
constexpr int64_t kAheadSerialBelow = int64_t(1) << 20;
// Asks for the first `bytes` of sample k's P bytes of images (a split's buffer).
inline void prefetch_sample(const uint8_t* images, int64_t k, int64_t P, int64_t bytes) {
  for (int64_t b = 0; b < std::min(P, bytes); b += 64) __builtin_prefetch(images + k * P + b);
}
inline void prefetch_sample(const uint8_t* images, int64_t k, int64_t P) { prefetch_sample(images, k, P, P); }
}  // namespace

int64_t Batcher::next(float* x, int32_t* y) {
  const int64_t n = next_size();
  if (n == 0) return 0;
  const auto [lo, hi] = slice(n);
  if (staged_pos_ == pos_) {
    wait_staged();
    const size_t m = size_t(hi - lo);
    if (m > 0) {
      std::memcpy(x, stage_x_.data(), m * size_t(sample_size_) * sizeof(float));
      std::memcpy(y, stage_y_.data(), m * sizeof(int32_t));
    }
  } else {
    const bool ahead = ahead_pos_ == pos_ && !aug_.on() && (hi - lo) * sample_size_ < kAheadSerialBelow;
    fill(pos_, n, x, y, !ahead);
  }
  pos_ += n;
  const int64_t next_n = next_size();
  if (thread_.joinable() && next_n > 0) {  // the next batch of this epoch, on the worker
    {
      std::lock_guard<std::mutex> l(mu_);
      staged_pos_ = pos_, staged_n_ = next_n, job_ = true, ready_ = false;
    }
    cv_.notify_all();
  } else if (next_n > 0) {
    // The next batch's images (this rank's slice, its first kAheadBytes) and labels asked for
    // from memory before this batch trains: the core keeps a few dozen of these misses in flight
    // and the rest follow while the step runs, so the gather mostly finds them in cache where it
    // otherwise waits for each sample (it prefetches only two samples ahead itself). Measured in
    // the MLP's trainer step at batch 32 (25 KB a batch, ~150 us a step): its gather 12.5 -> 5.8 us.
    const auto [nlo, nhi] = slice(next_n);
    const int64_t* idx = order_.data() + pos_ + nlo;
    int64_t left = kAheadBytes;
    for (int64_t i = 0; i < nhi - nlo && left > 0; ++i, left -= sample_size_) {
      prefetch_sample(split_.images.data(), idx[i], sample_size_, left);
      __builtin_prefetch(split_.labels.data() + idx[i]);
    }
    ahead_pos_ = pos_;
  }
  return n;
}

namespace {
// One sample: uint8 -> float with a per-channel affine map (restrict: lets the compiler vectorise).
__attribute__((always_inline)) inline void convert_body(const uint8_t* __restrict src, float* __restrict dst,
                                                        int64_t C, int64_t HW, const float* __restrict scale,
                                                        const float* __restrict shift) {
  for (int64_t c = 0; c < C; ++c) {
    const float a = scale[c], b = shift[c];
    const uint8_t* s = src + c * HW;
    float* d = dst + c * HW;
    for (int64_t j = 0; j < HW; ++j) d[j] = float(s[j]) * a + b;
  }
}
// The same loop compiled for AVX2 (8 lanes instead of SSE2's 4), chosen at run time. Not FMA: a
// fused multiply-add would round once where SSE2 rounds twice, and the batch must be the same
// on every machine.
__attribute__((target("avx2"))) void convert_avx2(const uint8_t* __restrict src, float* __restrict dst, int64_t C,
                                                  int64_t HW, const float* __restrict scale,
                                                  const float* __restrict shift) {
  convert_body(src, dst, C, HW, scale, shift);
}
void convert_sse2(const uint8_t* __restrict src, float* __restrict dst, int64_t C, int64_t HW,
                  const float* __restrict scale, const float* __restrict shift) {
  convert_body(src, dst, C, HW, scale, shift);
}
const auto convert_sample = __builtin_cpu_supports("avx2") ? convert_avx2 : convert_sse2;
}  // namespace

bool Batcher::convert_paths_agree(const uint8_t* src, int64_t C, int64_t HW, const float* scale, const float* shift) {
  if (convert_sample == convert_sse2) return true;  // no AVX2: one path only
  std::vector<float> a(size_t(C * HW)), b(size_t(C * HW));
  convert_avx2(src, a.data(), C, HW, scale, shift);
  convert_sse2(src, b.data(), C, HW, scale, shift);
  return std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

namespace {

// One augmented sample: out(c, y, x) = in(c, y + dy - P, fx + dx - P) with fx = W-1-x when
// flipped, else x (crop, then flip, as torchvision); outside the image the raw value is 0.
void augment_sample(const uint8_t* src, float* dst, int64_t C, int64_t H, int64_t W, const float* scale,
                    const float* shift, const Augment& aug, Rng& r) {
  const int64_t P = aug.crop_pad;
  const int64_t dy = P > 0 ? int64_t(r.below(uint64_t(2 * P + 1))) - P : 0;
  const int64_t dx = P > 0 ? int64_t(r.below(uint64_t(2 * P + 1))) - P : 0;
  const bool flip = aug.hflip && (r.next() >> 63);
  for (int64_t c = 0; c < C; ++c) {
    const float a = scale[c], b = shift[c];
    for (int64_t yy = 0; yy < H; ++yy) {
      const int64_t sy = yy + dy;
      float* d = dst + (c * H + yy) * W;
      if (sy < 0 || sy >= H) {
        std::fill(d, d + W, b);
        continue;
      }
      const uint8_t* s = src + (c * H + sy) * W;
      for (int64_t xx = 0; xx < W; ++xx) {
        const int64_t sx = (flip ? W - 1 - xx : xx) + dx;
        d[xx] = sx < 0 || sx >= W ? b : float(s[sx]) * a + b;
      }
    }
  }
}
}  // namespace

void Batcher::gather(const Split& split, int64_t P, const Preprocess& pre, const int64_t* idx, int64_t n, float* x,
                     int32_t* y, const Shape* shape, const Augment& aug, uint64_t seed, uint64_t first_stream,
                     bool threads) {
  const int64_t C = int64_t(pre.scale.size()), HW = P / C;
  const uint8_t* images = split.images.data();
  const bool augment = aug.on() && shape;
  // The labels first, in a loop of their own: scattered loads that miss the cache overlap there,
  // where one per sample (after its image's conversion) would each wait for memory.
  for (int64_t i = 0; i < n; ++i) y[i] = split.labels[size_t(idx[i])];
  for (int64_t i = 0; i < std::min<int64_t>(n, 2); ++i) prefetch_sample(images, idx[i], P);
  auto one = [&](int64_t i) {
    // The sample after next on its way from memory while this one converts.
    if (i + 2 < n) prefetch_sample(images, idx[i + 2], P);
    if (augment) {
      Rng r(seed, RngPurpose::Augment, first_stream + uint64_t(i));
      augment_sample(images + idx[i] * P, x + i * P, C, (*shape)[1], (*shape)[2], pre.scale.data(), pre.shift.data(),
                     aug, r);
    } else {
      convert_sample(images + idx[i] * P, x + i * P, C, HW, pre.scale.data(), pre.shift.data());
    }
  };
  // Small batches: a parallel region costs more than it saves. 16k elements (20 Fashion-MNIST or 5
  // CIFAR-10 images): bench_data's BM_BatchEpoch on 2 threads took 10.5 -> 7.3 ms at batch 32 and
  // 10.2 -> 5.5 ms at batch 128 when this went from 256k down to 16k (the threads' misses overlap).
  // (Batcher::next passes threads = false up to kAheadSerialBelow for a batch it asked for ahead.)
  if (!threads || n * P < (int64_t(1) << 14) || !parallel_pays()) {
    for (int64_t i = 0; i < n; ++i) one(i);
    return;
  }
#pragma omp parallel for
  for (int64_t i = 0; i < n; ++i) one(i);
}

}  // namespace sgdbench
