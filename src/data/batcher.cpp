// Batcher: seeded per-epoch order, gather + preprocess into float buffers.
#include "data/batcher.hpp"

#include <numeric>

#include "core/error.hpp"
#include "core/rng.hpp"

namespace sgdbench {

Batcher::Batcher(const Split& split, const Shape& shape, const Preprocess& pre, int64_t batch, bool shuffle,
                 uint64_t seed, bool drop_last)
    : split_(split),
      sample_size_(shape.numel()),
      pre_(pre),
      batch_(batch),
      shuffle_(shuffle),
      drop_last_(drop_last),
      seed_(seed) {
  SGD_CHECK(batch > 0, Internal, "batch size must be positive");
  SGD_CHECK(int64_t(pre.scale.size()) == shape[0], Internal, "preprocessing has ", pre.scale.size(),
            " channels, data has ", shape[0]);
  order_.resize(size_t(split.size()));
  start_epoch(0);
}

void Batcher::start_epoch(int64_t epoch) {
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

int64_t Batcher::next(float* x, int32_t* y, int64_t lo, int64_t hi) {
  int64_t n = next_size();
  if (n == 0) return 0;
  if (hi < 0) hi = n;
  SGD_CHECK(0 <= lo && lo <= hi && hi <= n, Internal, "batch slice [", lo, ", ", hi, ") of ", n);
  if (hi > lo) gather(split_, sample_size_, pre_, order_.data() + pos_ + lo, hi - lo, x, y);
  pos_ += n;
  // Shuffled samples come from all over a data set larger than the caches: ask for the next
  // batch's images now, so they arrive while this batch trains (the gather then hits cache).
  const int64_t next_n = std::min<int64_t>(batch_, int64_t(order_.size()) - pos_);
  for (int64_t i = 0; i < next_n; ++i) {
    const uint8_t* img = split_.images.data() + order_[size_t(pos_ + i)] * sample_size_;
    for (int64_t b = 0; b < sample_size_; b += 64) __builtin_prefetch(img + b);
  }
  return n;
}

namespace {
// One sample: uint8 -> float with a per-channel affine map (restrict: lets the compiler vectorise).
inline void convert_sample(const uint8_t* __restrict src, float* __restrict dst, int64_t C, int64_t HW,
                           const float* __restrict scale, const float* __restrict shift) {
  for (int64_t c = 0; c < C; ++c) {
    const float a = scale[c], b = shift[c];
    const uint8_t* s = src + c * HW;
    float* d = dst + c * HW;
    for (int64_t j = 0; j < HW; ++j) d[j] = float(s[j]) * a + b;
  }
}
}  // namespace

void Batcher::gather(const Split& split, int64_t P, const Preprocess& pre, const int64_t* idx, int64_t n, float* x,
                     int32_t* y) {
  const int64_t C = int64_t(pre.scale.size()), HW = P / C;
  const uint8_t* images = split.images.data();
  if (n * P < (int64_t(1) << 18)) {  // small batches: a parallel region costs more than it saves
    for (int64_t i = 0; i < n; ++i) {
      convert_sample(images + idx[i] * P, x + i * P, C, HW, pre.scale.data(), pre.shift.data());
      y[i] = split.labels[size_t(idx[i])];
    }
    return;
  }
#pragma omp parallel for
  for (int64_t i = 0; i < n; ++i) {
    convert_sample(images + idx[i] * P, x + i * P, C, HW, pre.scale.data(), pre.shift.data());
    y[i] = split.labels[size_t(idx[i])];
  }
}

}  // namespace sgdbench
