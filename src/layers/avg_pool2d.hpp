// Average pooling, square window, stride = window by default, zero padding counted in the divisor
// (PyTorch AvgPool2d(k, s, p) with count_include_pad=True: floor of the output size).
#pragma once
#include "layers/layer.hpp"

namespace sgdbench {

class AvgPool2d : public Layer {
 public:
  AvgPool2d(std::string name, int64_t kernel, int64_t stride = 0, int64_t pad = 0);
  std::string kind() const override { return "avg_pool"; }
  std::string describe() const override;
  Shape output_shape(const Shape& in) const override;
  std::unique_ptr<LayerExec> build(const BuildArgs& args) const override;
  int64_t kernel() const { return k_; }
  int64_t stride() const { return stride_; }
  int64_t pad() const { return pad_; }

 private:
  int64_t k_, stride_, pad_;
};

}  // namespace sgdbench
