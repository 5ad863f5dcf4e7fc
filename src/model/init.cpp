// Initialisers: see init.hpp for the rules.
#include "model/init.hpp"

#include <cmath>

#include "core/error.hpp"

namespace sgdbench {

Init init_from_string(const std::string& s) {
  if (s == "pytorch_default") return Init::PytorchDefault;
  if (s == "glorot_uniform") return Init::GlorotUniform;
  SGD_THROW(Model, "unknown initialiser '", s, "' (known: pytorch_default, glorot_uniform)");
}

std::string to_string(Init i) { return i == Init::PytorchDefault ? "pytorch_default" : "glorot_uniform"; }

void initialize(Network& net, Init init, uint64_t seed) {
  net.reset_state();
  Rng rng(seed, RngPurpose::Init);
  float* p = net.params();
  for (size_t i = 0; i < net.buffer_size(); ++i) p[i] = 0.f;
  for (auto& r : net.param_refs()) {
    double bound = 0;
    if (init == Init::PytorchDefault) {
      bound = 1.0 / std::sqrt(double(r.spec.fan_in));
    } else if (!r.spec.is_bias) {
      bound = std::sqrt(6.0 / double(r.spec.fan_in + r.spec.fan_out));
    }
    float* w = p + r.offset;
    if (!std::isnan(r.spec.fill)) {
      std::fill(w, w + r.count, r.spec.fill);
      continue;
    }
    for (size_t j = 0; j < r.count; ++j) w[j] = bound == 0 ? 0.f : static_cast<float>(rng.uniform(-bound, bound));
  }
}

}  // namespace sgdbench
