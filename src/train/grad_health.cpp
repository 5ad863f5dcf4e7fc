// Gradient clipping and norms (see grad_health.hpp).
#include "train/grad_health.hpp"

#include <algorithm>
#include <cmath>

#include "model/network.hpp"

namespace sgdbench {

double l2_norm(const float* g, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; ++i) s += double(g[i]) * double(g[i]);
  return std::sqrt(s);
}

ClipResult clip_gradient(float* g, size_t n, double max_norm, double max_value) {
  ClipResult r;
  if (max_value > 0) {
    const float v = float(max_value);
    for (size_t i = 0; i < n; ++i) g[i] = std::clamp(g[i], -v, v);
  }
  if (max_norm > 0) {
    r.norm_before = l2_norm(g, n);
    const double coef = max_norm / (r.norm_before + 1e-6);
    if (coef < 1) {
      r.scale = coef;
      const float c = float(coef);
      for (size_t i = 0; i < n; ++i) g[i] *= c;
    }
  }
  return r;
}

nlohmann::json param_norms(const Network& net, const float* g) {
  nlohmann::json params = nlohmann::json::object();
  double total = 0;
  for (auto& r : net.param_refs()) {
    const double v = l2_norm(g + r.offset, r.count);
    params[r.name] = v;
    total += v * v;
  }
  return {{"total", std::sqrt(total)}, {"params", params}};
}

}  // namespace sgdbench
