// MaxPool2d: oneDNN pooling_max forward (with workspace in training) and backward.
#include "layers/max_pool2d.hpp"

#include "layers/pool_exec.hpp"

namespace sgdbench {

std::string MaxPool2d::describe() const {
  std::string s = "maxpool " + std::to_string(k_);
  if (stride_ != k_) s += " stride " + std::to_string(stride_);
  return s;
}

Shape MaxPool2d::output_shape(const Shape& in) const {
  if (in.rank() != 3) shape_error(in, "expects a CxHxW image");
  if (in[1] < k_ || in[2] < k_)
    shape_error(in, "the " + std::to_string(k_) + "x" + std::to_string(k_) + " window needs at least " +
                        std::to_string(k_) + "x" + std::to_string(k_));
  return Shape{in[0], (in[1] - k_) / stride_ + 1, (in[2] - k_) / stride_ + 1};
}

std::unique_ptr<LayerExec> MaxPool2d::build(const BuildArgs& a) const {
  auto sd = a.src.get_desc().dims();
  return std::make_unique<PoolExec>(a, dnnl::algorithm::pooling_max, output_shape(Shape{sd[1], sd[2], sd[3]}), k_, k_,
                                    stride_, stride_, 0);
}

}  // namespace sgdbench
