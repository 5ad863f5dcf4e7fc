// The gradient noise scale estimator (see noise_scale.hpp).
#include "train/noise_scale.hpp"

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
    sum_.assign(n, 0.0);
    small_sq_sum_ = 0;
  }
  double sq = 0;
  double* s = sum_.data();
  for (size_t i = 0; i < n; ++i) {
    const double gi = g[i];
    sq += gi * gi;
    s[i] += gi;
  }
  small_sq_sum_ += sq;
  if (++in_window_ < k_) return;
  double big = 0;
  for (size_t i = 0; i < n; ++i) big += s[i] * s[i];
  big /= double(k_) * double(k_);
  const double small = small_sq_sum_ / double(k_);
  last_g2_ = grad_sq(small, big, double(small_), double(big_));
  last_s_ = trace_cov(small, big, double(small_), double(big_));
  avg_g2_ = ema_ * avg_g2_ + (1 - ema_) * last_g2_;
  avg_s_ = ema_ * avg_s_ + (1 - ema_) * last_s_;
  ++count_;
  weight_ = 1 - std::pow(ema_, double(count_));
  in_window_ = 0;
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
