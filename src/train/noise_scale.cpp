// The gradient noise scale estimator (see noise_scale.hpp).
#include "train/noise_scale.hpp"

#include <algorithm>
#include <cmath>

namespace sgdbench {

NoiseScale::NoiseScale(int64_t every, int64_t small, int64_t big, double ema)
    : every_(every), small_(small), big_(big), k_(big / small), ema_(ema) {}

double NoiseScale::grad_sq(double small_sq, double big_sq, double b, double B) {
  return (B * big_sq - b * small_sq) / (B - b);
}

double NoiseScale::trace_cov(double small_sq, double big_sq, double b, double B) {
  return (small_sq - big_sq) / (1.0 / b - 1.0 / B);
}

void NoiseScale::observe(const float* g, size_t n, int64_t step) {
  if (in_window_ == 0) {
    if (step % every_ != 0) return;
    sum_.assign(n, 0.f);
    small_sq_sum_ = 0;
  }
  // One pass: |g|^2 and the running sum (fp32 sums of at most B/b gradients; vectorised).
  float* s = sum_.data();
  double sq = 0;
  constexpr size_t kBlock = 4096;  // fp32 partial sums per block, added up in double
  const long blocks = long((n + kBlock - 1) / kBlock);
  for (long blk = 0; blk < blocks; ++blk) {
    const size_t b0 = size_t(blk) * kBlock, b1 = std::min(n, b0 + kBlock);
    float part = 0;
#pragma omp simd reduction(+ : part)
    for (size_t i = b0; i < b1; ++i) {
      part += g[i] * g[i];
      s[i] += g[i];
    }
    sq += part;
  }
  small_sq_sum_ += sq;
  if (++in_window_ < k_) return;
  double big = 0;
  for (long blk = 0; blk < blocks; ++blk) {
    const size_t b0 = size_t(blk) * kBlock, b1 = std::min(n, b0 + kBlock);
    float part = 0;
#pragma omp simd reduction(+ : part)
    for (size_t i = b0; i < b1; ++i) part += s[i] * s[i];
    big += part;
  }
  big /= double(k_) * double(k_);
  in_window_ = 0;
  add(small_sq_sum_ / double(k_), big);
}

void NoiseScale::add(double small, double big) {
  last_g2_ = grad_sq(small, big, double(small_), double(big_));
  last_s_ = trace_cov(small, big, double(small_), double(big_));
  avg_g2_ = ema_ * avg_g2_ + (1 - ema_) * last_g2_;
  avg_s_ = ema_ * avg_s_ + (1 - ema_) * last_s_;
  ++count_;
  weight_ = 1 - std::pow(ema_, double(count_));
}

nlohmann::json NoiseScale::point() const {
  if (count_ == 0) return nullptr;
  const double g2 = avg_g2_ / weight_, s = avg_s_ / weight_;
  return {{"b_simple", g2 > 0 ? nlohmann::json(s / g2) : nlohmann::json(nullptr)},
          {"grad_sq", g2},
          {"trace_cov", s},
          {"measurements", count_},
          {"small", small_},
          {"big", big_}};
}

}  // namespace sgdbench
