// Dense (fully connected) layer y = W x + b on oneDNN inner product. Takes a vector or, after a
// flatten, an image (flattened in C,H,W order as PyTorch's flatten does).
#pragma once
#include "layers/layer.hpp"

namespace sgdbench {

class Dense : public Layer {
 public:
  Dense(std::string name, int64_t units) : Layer(std::move(name)), units_(units) {}
  std::string kind() const override { return "dense"; }
  std::string describe() const override { return "dense " + std::to_string(units_); }
  Shape output_shape(const Shape& in) const override;
  std::vector<ParamSpec> params(const Shape& in) const override;
  double forward_flops(const Shape& in) const override { return 2.0 * double(in.numel()) * double(units_); }
  std::unique_ptr<LayerExec> build(const BuildArgs& args) const override;
  int64_t units() const { return units_; }

 private:
  int64_t units_;
};

}  // namespace sgdbench
