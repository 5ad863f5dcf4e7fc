// GlobalAvgPool: oneDNN average pooling with one HxW window per channel; backward spreads
// diff_dst / (H*W) over the window.
#include "layers/global_avg_pool.hpp"

#include <unordered_map>

#include "dnnl/context.hpp"

namespace sgdbench {

using namespace dnnl;
namespace ctx = dnnl_ctx;

Shape GlobalAvgPool::output_shape(const Shape& in) const {
  if (in.rank() != 3) shape_error(in, "expects a CxHxW image");
  return Shape{in[0], 1, 1};
}

namespace {

class GlobalAvgPoolExec : public LayerExec {
 public:
  GlobalAvgPoolExec(const GlobalAvgPool& L, const BuildArgs& a) {
    auto& eng = ctx::engine();
    auto src_md = a.src.get_desc();
    auto sd = src_md.dims();
    Shape out = L.output_shape(Shape{sd[1], sd[2], sd[3]});
    // src (N,C,H,W) nhwc -> dst (N,C,1,1) nhwc (same bytes as N,C nc for the flatten after it).
    auto dst_md = ctx::activation_md({a.batch, out[0], 1, 1});
    memory::dims k{sd[2], sd[3]}, s{sd[2], sd[3]}, p{0, 0};
    // No padding, so include/exclude padding agree: every window averages exactly H*W values.
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

std::unique_ptr<LayerExec> GlobalAvgPool::build(const BuildArgs& args) const {
  return std::make_unique<GlobalAvgPoolExec>(*this, args);
}

}  // namespace sgdbench
