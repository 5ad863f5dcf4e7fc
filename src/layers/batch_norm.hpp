// Batch normalisation with PyTorch semantics: BatchNorm2d over the channels of a CxHxW image,
// BatchNorm1d over the features of a vector. Learnable gamma/beta are parameters; the running
// mean/variance are non-trainable state, updated by every training-mode forward.
#pragma once
#include "layers/layer.hpp"

namespace sgdbench {

class BatchNorm : public Layer {
 public:
  BatchNorm(std::string name, double momentum = 0.1, double eps = 1e-5);
  std::string kind() const override { return "batch_norm"; }
  std::string describe() const override;
  Shape output_shape(const Shape& in) const override;
  // "weight" (gamma, fill 1) and "bias" (beta, fill 0), C values each, never decayed.
  std::vector<ParamSpec> params(const Shape& in, const Shape& mem) const override;
  // "running_mean" (fill 0) and "running_var" (fill 1), C values each.
  std::vector<StateSpec> state(const Shape& in) const override;
  std::unique_ptr<LayerExec> build(const BuildArgs& args) const override;
  double momentum() const { return momentum_; }
  double eps() const { return eps_; }

 private:
  double momentum_, eps_;
};

}  // namespace sgdbench
