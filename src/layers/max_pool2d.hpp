// Max pooling, square window, stride = window by default, no padding (PyTorch MaxPool2d(k) and
// Keras MaxPooling2D(k): floor of the output size). oneDNN pooling keeps its workspace for backward.
#pragma once
#include "layers/layer.hpp"

namespace sgdbench {

class MaxPool2d : public Layer {
 public:
  MaxPool2d(std::string name, int64_t kernel, int64_t stride = 0)
      : Layer(std::move(name)), k_(kernel), stride_(stride > 0 ? stride : kernel) {}
  std::string kind() const override { return "max_pool"; }
  bool is_max_pool() const override { return true; }
  std::string describe() const override;
  Shape output_shape(const Shape& in) const override;
  std::unique_ptr<LayerExec> build(const BuildArgs& args) const override;
  int64_t kernel() const { return k_; }
  int64_t stride() const { return stride_; }

 private:
  int64_t k_, stride_;
};

}  // namespace sgdbench
