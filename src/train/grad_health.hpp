// Gradient health: clipping (by value, by global L2 norm, PyTorch's rules) and the per-parameter
// gradient and weight norms the trainer logs. Not: when to clip or log (the trainer decides).
#pragma once
#include <cstddef>

#include <nlohmann/json.hpp>

namespace sgdbench {

class Network;

// L2 norm of g[0..n), accumulated in double.
double l2_norm(const float* g, size_t n);

struct ClipResult {
  double norm_before = 0;  // global L2 norm after value clipping, before norm clipping
  double scale = 1;        // the factor norm clipping applied (1 = none)
};
// In place: clamps every element to [-max_value, max_value] (max_value > 0), then scales the
// whole vector by min(1, max_norm / (norm + 1e-6)) (max_norm > 0) as
// torch.nn.utils.clip_grad_norm_ does.
ClipResult clip_gradient(float* g, size_t n, double max_norm, double max_value);

// {"total": |g|, "params": {"conv1.weight": |g_conv1.weight|, ...}} over net's parameters, for
// the buffer g laid out as net.params() (net.grads() or a gradient accumulator).
nlohmann::json param_norms(const Network& net, const float* g);

}  // namespace sgdbench
