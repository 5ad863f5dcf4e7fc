// Softmax cross-entropy: forward value, accuracy count and gradient in one pass.
#include "layers/softmax_cross_entropy.hpp"

#include <cmath>

namespace sgdbench {

LossResult softmax_cross_entropy(const float* logits, const int32_t* labels, int64_t n, int64_t k, float* diff,
                                 double grad_scale) {
  LossResult r;
  double total = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float* z = logits + i * k;
    int64_t arg = 0;
    for (int64_t j = 1; j < k; ++j)
      if (z[j] > z[arg]) arg = j;
    const double m = z[arg];
    double sum = 0;
    for (int64_t j = 0; j < k; ++j) sum += std::exp(double(z[j]) - m);
    const double lse = m + std::log(sum);
    const int32_t y = labels[i];
    total += lse - double(z[y]);
    if (arg == y) ++r.correct;
    if (diff) {
      float* d = diff + i * k;
      for (int64_t j = 0; j < k; ++j) {
        double p = std::exp(double(z[j]) - lse);
        d[j] = static_cast<float>((p - (j == y ? 1.0 : 0.0)) * grad_scale);
      }
    }
  }
  r.loss = n > 0 ? total / double(n) : 0.0;
  return r;
}

}  // namespace sgdbench
