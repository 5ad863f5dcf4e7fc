// Dense (fully connected) layer y = W x + b on oneDNN inner product. Takes a vector or, after a
// flatten, an image (flattened in C,H,W order as PyTorch's flatten does).
#pragma once
#include "layers/layer.hpp"

namespace sgdbench {

class Dense : public Layer {
 public:
  Dense(std::string name, int64_t units, bool bias = true) : Layer(std::move(name)), units_(units), bias_(bias) {}
  std::string kind() const override { return "dense"; }
  std::string describe() const override { return "dense " + std::to_string(units_) + (bias_ ? "" : " no bias"); }
  Shape output_shape(const Shape& in) const override;
  // An image-fed dense layer (mem is CxHxW: it follows a flatten) stores its weights
  // channels-last ({O, C, H, W} dims, ParamSpec::channels_last): the one place that decides it.
  std::vector<ParamSpec> params(const Shape& in, const Shape& mem) const override;
  double forward_flops(const Shape& in) const override { return 2.0 * double(in.numel()) * double(units_); }
  std::unique_ptr<LayerExec> build(const BuildArgs& args) const override;
  bool can_fuse_relu() const override { return true; }
  int64_t units() const { return units_; }
  bool bias() const { return bias_; }

 private:
  int64_t units_;
  bool bias_;
};

}  // namespace sgdbench
