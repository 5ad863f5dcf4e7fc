// AvgPool2d: oneDNN pooling_avg_include_padding forward and backward (no workspace needed).
#include "layers/avg_pool2d.hpp"

#include "core/error.hpp"
#include "layers/pool_exec.hpp"

namespace sgdbench {

AvgPool2d::AvgPool2d(std::string name, int64_t kernel, int64_t stride, int64_t pad)
    : Layer(std::move(name)), k_(kernel), stride_(stride > 0 ? stride : kernel), pad_(pad) {
  SGD_CHECK(kernel >= 1, Model, "avg_pool '", this->name(), "': kernel must be positive, got ", kernel);
  SGD_CHECK(stride >= 0, Model, "avg_pool '", this->name(), "': stride must be positive (0: the kernel), got ", stride);
  // PyTorch's rule; it also guarantees every window touches at least one real pixel.
  SGD_CHECK(pad >= 0 && 2 * pad <= kernel, Model, "avg_pool '", this->name(), "': pad must be in [0, kernel/2], got ",
            pad);
}

std::string AvgPool2d::describe() const {
  std::string s = "avgpool " + std::to_string(k_);
  if (stride_ != k_) s += " stride " + std::to_string(stride_);
  if (pad_ != 0) s += " pad " + std::to_string(pad_);
  return s;
}

Shape AvgPool2d::output_shape(const Shape& in) const {
  if (in.rank() != 3) shape_error(in, "expects a CxHxW image");
  const int64_t need = k_ - 2 * pad_;
  if (in[1] < need || in[2] < need)
    shape_error(in, "the " + std::to_string(k_) + "x" + std::to_string(k_) + " window (pad " + std::to_string(pad_) +
                        ") needs at least " + std::to_string(need) + "x" + std::to_string(need));
  return Shape{in[0], (in[1] + 2 * pad_ - k_) / stride_ + 1, (in[2] + 2 * pad_ - k_) / stride_ + 1};
}

std::unique_ptr<LayerExec> AvgPool2d::build(const BuildArgs& a) const {
  auto sd = a.src.get_desc().dims();
  // The right/bottom padding passed to oneDNN is the symmetric pad: with floor output sizes it
  // only has to satisfy (H + 2p - k) / s + 1 == OH.
  return std::make_unique<PoolExec>(a, dnnl::algorithm::pooling_avg_include_padding,
                                    output_shape(Shape{sd[1], sd[2], sd[3]}), k_, k_, stride_, stride_, pad_);
}

}  // namespace sgdbench
