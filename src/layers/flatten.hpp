// Flatten C,H,W into one vector (PyTorch's C,H,W order). Moves no data: its output is the same
// memory as its input, and the following dense layer reads it as an image.
#pragma once
#include "layers/layer.hpp"

namespace sgdbench {

class Flatten : public Layer {
 public:
  using Layer::Layer;
  std::string kind() const override { return "flatten"; }
  std::string describe() const override { return "flatten"; }
  bool aliases_input() const override { return true; }
  Shape output_shape(const Shape& in) const override { return Shape{in.numel()}; }
  std::unique_ptr<LayerExec> build(const BuildArgs& args) const override;
};

}  // namespace sgdbench
