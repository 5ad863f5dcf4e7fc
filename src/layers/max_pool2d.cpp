// MaxPool2d: oneDNN pooling_max forward (with workspace in training) and backward.
#include "layers/max_pool2d.hpp"

#include <unordered_map>

#include "dnnl/context.hpp"

namespace sgdbench {

using namespace dnnl;
namespace ctx = dnnl_ctx;

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

namespace {

class PoolExec : public LayerExec {
 public:
  PoolExec(const MaxPool2d& L, const BuildArgs& a) : training_(a.training) {
    auto& eng = ctx::engine();
    auto src_md = a.src.get_desc();
    auto sd = src_md.dims();
    Shape out = L.output_shape(Shape{sd[1], sd[2], sd[3]});
    // src (N,C,H,W) nhwc -> dst (N,C,OH,OW) nhwc
    auto dst_md = ctx::activation_md({a.batch, out[0], out[1], out[2]});
    memory::dims k{L.kernel(), L.kernel()}, s{L.stride(), L.stride()}, p{0, 0};
    auto prop = a.training ? prop_kind::forward_training : prop_kind::forward_inference;
    auto fwd_pd = pooling_forward::primitive_desc(
        pooling_forward::desc(prop, algorithm::pooling_max, src_md, dst_md, s, k, p, p), eng);
    fwd_ = pooling_forward(fwd_pd);
    dst = memory(dst_md, eng);
    fwd_args_ = {{DNNL_ARG_SRC, a.src}, {DNNL_ARG_DST, dst}};
    if (!training_) return;
    ws_ = memory(fwd_pd.workspace_desc(), eng);
    fwd_args_[DNNL_ARG_WORKSPACE] = ws_;
    auto bwd_pd = pooling_backward::primitive_desc(
        pooling_backward::desc(algorithm::pooling_max, src_md, dst_md, s, k, p, p), eng, fwd_pd);
    bwd_ = pooling_backward(bwd_pd);
    diff_src = memory(src_md, eng);
  }
  void forward() override { fwd_.execute(ctx::stream(), fwd_args_); }
  void bind_backward(const memory& diff_dst) override {
    bwd_args_ = {{DNNL_ARG_DIFF_DST, diff_dst}, {DNNL_ARG_DIFF_SRC, diff_src}, {DNNL_ARG_WORKSPACE, ws_}};
  }
  void backward_data() override { bwd_.execute(ctx::stream(), bwd_args_); }

 private:
  bool training_;
  memory ws_;
  pooling_forward fwd_;
  pooling_backward bwd_;
  std::unordered_map<int, memory> fwd_args_, bwd_args_;
};

}  // namespace

std::unique_ptr<LayerExec> MaxPool2d::build(const BuildArgs& args) const {
  return std::make_unique<PoolExec>(*this, args);
}

}  // namespace sgdbench
