// AvgPool2d: oneDNN pooling_avg_include_padding forward and backward (no workspace needed).
#include "layers/avg_pool2d.hpp"

#include <unordered_map>

#include "core/error.hpp"
#include "dnnl/context.hpp"

namespace sgdbench {

using namespace dnnl;
namespace ctx = dnnl_ctx;

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

namespace {

class AvgPoolExec : public LayerExec {
 public:
  AvgPoolExec(const AvgPool2d& L, const BuildArgs& a) {
    auto& eng = ctx::engine();
    auto src_md = a.src.get_desc();
    auto sd = src_md.dims();
    Shape out = L.output_shape(Shape{sd[1], sd[2], sd[3]});
    // src (N,C,H,W) nhwc -> dst (N,C,OH,OW) nhwc. The right/bottom padding passed to oneDNN is the
    // symmetric pad: with floor output sizes it only has to satisfy (H + 2p - k) / s + 1 == OH.
    auto dst_md = ctx::activation_md({a.batch, out[0], out[1], out[2]});
    memory::dims k{L.kernel(), L.kernel()}, s{L.stride(), L.stride()}, p{L.pad(), L.pad()};
    auto alg = algorithm::pooling_avg_include_padding;
    auto prop = a.training ? prop_kind::forward_training : prop_kind::forward_inference;
    auto fwd_pd = pooling_forward::primitive_desc(pooling_forward::desc(prop, alg, src_md, dst_md, s, k, p, p), eng);
    fwd_ = pooling_forward(fwd_pd);
    dst = memory(dst_md, eng);
    fwd_args_ = {{DNNL_ARG_SRC, a.src}, {DNNL_ARG_DST, dst}};
    if (!a.training) return;
    auto bwd_pd =
        pooling_backward::primitive_desc(pooling_backward::desc(alg, src_md, dst_md, s, k, p, p), eng, fwd_pd);
    bwd_ = pooling_backward(bwd_pd);
    diff_src = memory(src_md, eng);
  }
  void forward() override { fwd_.execute(ctx::stream(), fwd_args_); }
  void bind_backward(const memory& diff_dst) override {
    bwd_args_ = {{DNNL_ARG_DIFF_DST, diff_dst}, {DNNL_ARG_DIFF_SRC, diff_src}};
  }
  void backward_data() override { bwd_.execute(ctx::stream(), bwd_args_); }

 private:
  pooling_forward fwd_;
  pooling_backward bwd_;
  std::unordered_map<int, memory> fwd_args_, bwd_args_;
};

}  // namespace

std::unique_ptr<LayerExec> AvgPool2d::build(const BuildArgs& args) const {
  return std::make_unique<AvgPoolExec>(*this, args);
}

}  // namespace sgdbench
