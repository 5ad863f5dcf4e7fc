// Conv2d on oneDNN: forward (training/inference), backward data, backward weights (+bias).
// src/dst NHWC, weights in whatever layout oneDNN prefers (format_tag::any) bridged to OIHW.
// Convolutions with few channels run their forward and weight gradient in conv_small.cpp.
#include "layers/conv2d.hpp"

#include "core/error.hpp"
#include "dnnl/context.hpp"
#include "layers/conv_small.hpp"
#include "layers/weighted_exec.hpp"

namespace sgdbench {

using namespace dnnl;
namespace ctx = dnnl_ctx;

std::string Conv2d::describe() const {
  std::string s = "conv " + std::to_string(oc_) + " " + std::to_string(k_) + "x" + std::to_string(k_);
  if (stride_ != 1) s += " stride " + std::to_string(stride_);
  if (pad_ != 0) s += " pad " + std::to_string(pad_);
  if (!bias_) s += " no bias";
  return s;
}

Shape Conv2d::output_shape(const Shape& in) const {
  if (in.rank() != 3) shape_error(in, "expects a CxHxW image");
  int64_t h = in[1] + 2 * pad_, w = in[2] + 2 * pad_;
  if (h < k_ || w < k_)
    shape_error(in, "the " + std::to_string(k_) + "x" + std::to_string(k_) + " kernel needs at least " +
                        std::to_string(k_) + "x" + std::to_string(k_) + " (after padding)");
  return Shape{oc_, (h - k_) / stride_ + 1, (w - k_) / stride_ + 1};
}

std::vector<ParamSpec> Conv2d::params(const Shape& in, const Shape&) const {
  int64_t ic = in[0];
  std::vector<ParamSpec> p{ParamSpec{"weight", {oc_, ic, k_, k_}, ic * k_ * k_, oc_ * k_ * k_, false}};
  if (bias_) p.push_back(ParamSpec{"bias", {oc_}, ic * k_ * k_, oc_ * k_ * k_, true, false});
  return p;
}

double Conv2d::forward_flops(const Shape& in) const {
  Shape o = output_shape(in);
  return 2.0 * double(o.numel()) * double(in[0] * k_ * k_);
}

std::unique_ptr<LayerExec> Conv2d::build(const BuildArgs& a) const {
  auto sd = a.src.get_desc().dims();
  Shape in{sd[1], sd[2], sd[3]};
  Shape out = output_shape(in);
  // src (N,C,H,W) nhwc -> dst (N,OC,OH,OW) nhwc; weights (OC,C,K,K) any; bias (OC)
  auto src_md = a.src.get_desc();
  auto dst_md = ctx::activation_md({a.batch, out[0], out[1], out[2]});
  auto w_any = memory::desc({oc_, in[0], k_, k_}, ctx::dt::f32, ctx::tag::any);
  auto b_md = bias_ ? ctx::plain_md({oc_}) : memory::desc();  // zero desc: no bias term
  memory::dims strides{stride_, stride_}, pad{pad_, pad_};
  auto prop = a.training ? prop_kind::forward_training : prop_kind::forward_inference;
  auto algo = algorithm::convolution_direct;
  using Exec = WeightedExec<convolution_forward, convolution_backward_data, convolution_backward_weights>;
  auto exec = std::make_unique<Exec>(
      a, ctx::plain_md({oc_, in[0], k_, k_}),
      convolution_forward::desc(prop, algo, src_md, w_any, b_md, dst_md, strides, pad, pad),
      [&] { return convolution_backward_data::desc(algo, src_md, w_any, dst_md, strides, pad, pad); },
      [&] { return convolution_backward_weights::desc(algo, src_md, w_any, b_md, dst_md, strides, pad, pad); });
  // Few channels (a first layer): forward and weight gradient in conv_small's loops.
  if (small_conv_eligible(in[0], oc_, k_, stride_, pad_) && src_md == ctx::activation_md(sd)) {
    exec->forward_elsewhere();
    return make_small_conv(a, std::move(exec), in[0], in[1], in[2], oc_, k_);
  }
  return exec;
}

}  // namespace sgdbench
