// Global average pooling: CxHxW -> Cx1x1, the mean of each channel (PyTorch AdaptiveAvgPool2d(1));
// a flatten follows it in models.
#pragma once
#include "layers/layer.hpp"

namespace sgdbench {

class GlobalAvgPool : public Layer {
 public:
  explicit GlobalAvgPool(std::string name) : Layer(std::move(name)) {}
  std::string kind() const override { return "global_avg_pool"; }
  std::string describe() const override { return "global avgpool"; }
  Shape output_shape(const Shape& in) const override;
  std::unique_ptr<LayerExec> build(const BuildArgs& args) const override;
};

}  // namespace sgdbench
