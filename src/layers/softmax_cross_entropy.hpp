// Softmax cross-entropy loss, mean over the batch, on the host (logits are tiny: N x classes).
// Numerically stable: log-sum-exp with the row maximum subtracted, accumulated in double.
#pragma once
#include <cstdint>

namespace sgdbench {

struct LossResult {
  double loss = 0;      // mean over the batch
  int64_t correct = 0;  // rows whose arg-max equals the label
};

// logits: N x K row-major; labels: N values in [0, K). When diff is not null it receives
// d(loss)/d(logits) = (softmax - onehot) * grad_scale (grad_scale = 1/N for the batch mean).
LossResult softmax_cross_entropy(const float* logits, const int32_t* labels, int64_t n, int64_t k, float* diff,
                                 double grad_scale);

}  // namespace sgdbench
