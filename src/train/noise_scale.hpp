// The simple gradient noise scale B_simple = tr(Sigma) / |G|^2 (McCandlish et al. 2018, appendix
// A.1), measured during training from two batch sizes b and B. Two ways to get the gradients
// (the trainer does the work, this class the statistics):
//  - "fixed" (default): at the current parameters, B fresh training samples in B/b chunks of b:
//    |G_b|^2 is the mean of the chunks' squared norms, G_B their mean. Costs B/b extra gradient
//    evaluations per measurement (no update), timed apart from training.
//  - "consecutive": the run's own B/b consecutive batch gradients (b = batch_size), so the big
//    gradient spans B/b steps at moving parameters: free, but biased once the parameters move
//    much within a window (exact only at a learning rate of 0).
// Per measurement the unbiased estimators
//   |G|^2   ~ (B |G_B|^2 - b |G_b|^2) / (B - b)
//   tr(Sig) ~ (|G_b|^2 - |G_B|^2) / (1/b - 1/B)
// (|G_b|^2: the mean over the B/b small gradients) are each kept as a bias-corrected exponential
// moving average, and B_simple is the ratio of the two averages. Not: choosing when to measure
// (the trainer calls observe() once per step).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

namespace sgdbench {

class NoiseScale {
 public:
  // every: steps between measurement starts; small, big: b and B (B a multiple >= 2 of b).
  NoiseScale(int64_t every, int64_t small, int64_t big, double ema);
  // "consecutive": the gradient of step `step` (0-based), the mean over its batch of b samples.
  void observe(const float* g, size_t n, int64_t step);
  // One measurement from |G_b|^2 (the mean over the small gradients) and |G_B|^2.
  void add(double small_sq, double big_sq);
  bool due(int64_t step) const { return step % every_ == 0; }
  int64_t small() const { return small_; }
  int64_t big() const { return big_; }
  // {"b_simple", "grad_sq", "trace_cov", "measurements", "small", "big"}: the smoothed figures
  // (b_simple null while grad_sq <= 0); null before the first measurement ends.
  nlohmann::json point() const;
  int64_t measurements() const { return count_; }

  // The two estimators, from |G_b|^2 and |G_B|^2.
  static double grad_sq(double small_sq, double big_sq, double b, double B);
  static double trace_cov(double small_sq, double big_sq, double b, double B);

 private:
  int64_t every_, small_, big_, k_;
  double ema_;
  std::vector<float> sum_;  // the window's sum of small gradients
  int64_t in_window_ = 0;    // small gradients summed so far (0: not measuring)
  double small_sq_sum_ = 0;
  double avg_g2_ = 0, avg_s_ = 0, weight_ = 0;  // EMAs and their bias correction 1 - ema^count
  double last_g2_ = 0, last_s_ = 0;
  int64_t count_ = 0;
};

}  // namespace sgdbench
