// ReLU on oneDNN eltwise (forward; backward from the saved input). Any activation shape.
#pragma once
#include "layers/layer.hpp"

namespace sgdbench {

class Relu : public Layer {
 public:
  using Layer::Layer;
  std::string kind() const override { return "relu"; }
  std::string describe() const override { return "relu"; }
  Shape output_shape(const Shape& in) const override { return in; }
  bool is_relu() const override { return true; }
  std::unique_ptr<LayerExec> build(const BuildArgs& args) const override;
};

}  // namespace sgdbench
