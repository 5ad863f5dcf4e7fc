// 2-D convolution (cross-correlation, as PyTorch and Keras) with optional bias, square kernel,
// stride and symmetric zero padding; oneDNN convolution primitives. Not: dilation, groups.
#pragma once
#include "layers/layer.hpp"

namespace sgdbench {

class Conv2d : public Layer {
 public:
  Conv2d(std::string name, int64_t out_channels, int64_t kernel, int64_t stride = 1, int64_t pad = 0, bool bias = true)
      : Layer(std::move(name)), oc_(out_channels), k_(kernel), stride_(stride), pad_(pad), bias_(bias) {}
  std::string kind() const override { return "conv"; }
  std::string describe() const override;
  Shape output_shape(const Shape& in) const override;
  std::vector<ParamSpec> params(const Shape& in, const Shape& mem) const override;
  double forward_flops(const Shape& in) const override;
  std::unique_ptr<LayerExec> build(const BuildArgs& args) const override;
  bool can_fuse_relu() const override { return true; }
  int64_t out_channels() const { return oc_; }
  int64_t kernel() const { return k_; }
  int64_t stride() const { return stride_; }
  int64_t pad() const { return pad_; }
  bool bias() const { return bias_; }

 private:
  int64_t oc_, k_, stride_, pad_;
  bool bias_;
};

}  // namespace sgdbench
