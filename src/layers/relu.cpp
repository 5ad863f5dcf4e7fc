// ReLU: eltwise_relu forward, eltwise backward reading the forward's input; or, fused into the
// layer before (BuildArgs::fused_relu), no forward of its own and a backward reading its output;
// before a max pool (BuildArgs::relu_grad_moved) no backward of its own: the pool applies it.
#include "layers/relu.hpp"

#include <unordered_map>

#include "dnnl/context.hpp"

namespace sgdbench {

using namespace dnnl;
namespace ctx = dnnl_ctx;

namespace {

class ReluExec : public LayerExec {
 public:
  explicit ReluExec(const BuildArgs& a)
      : training_(a.training), fused_(a.fused_relu), moved_(a.relu_grad_moved), src_(a.src) {
    auto& eng = ctx::engine();
    auto md = a.src.get_desc();
    auto prop = a.training ? prop_kind::forward_training : prop_kind::forward_inference;
    // Fused: src already holds relu(x); the backward's mask is [relu(x) > 0] (use_dst_for_bwd).
    const auto algo = fused_ ? algorithm::eltwise_relu_use_dst_for_bwd : algorithm::eltwise_relu;
    const primitive_attr attr = ctx::user_scratchpad_attr();  // see dnnl_ctx::ScratchArena
    auto fwd_pd = eltwise_forward::primitive_desc(eltwise_forward::desc(prop, algo, md, 0.f), attr, eng);
    if (fused_) {
      dst = src_;  // the layer before wrote the ReLU's output
    } else {
      fwd_ = eltwise_forward(fwd_pd);
      dst = memory(md, eng);
      fwd_args_ = {{DNNL_ARG_SRC, src_}, {DNNL_ARG_DST, dst}};
      ctx::add_scratchpad(fwd_args_, ctx::scratchpad(fwd_pd.scratchpad_desc()));
    }
    if (!training_ || moved_) return;  // moved_: the max pool after it applies the mask
    auto bwd_pd = eltwise_backward::primitive_desc(eltwise_backward::desc(algo, md, md, 0.f), attr, eng, fwd_pd);
    bwd_ = eltwise_backward(bwd_pd);
    bwd_scratch_ = ctx::scratchpad(bwd_pd.scratchpad_desc());
  }
  void forward() override {
    if (!fused_) fwd_.execute(ctx::stream(), fwd_args_);
  }
  // In place: diff_src is diff_dst's memory (the layer after is done with it once its own
  // backward has run), so the backward streams two tensors, not three.
  void bind_backward(const memory& diff_dst) override {
    diff_src = diff_dst;
    if (moved_) return;
    bwd_args_ = {{fused_ ? DNNL_ARG_DST : DNNL_ARG_SRC, src_}, {DNNL_ARG_DIFF_DST, diff_dst}, {DNNL_ARG_DIFF_SRC, diff_src}};
    ctx::add_scratchpad(bwd_args_, bwd_scratch_);
  }
  void backward_data() override {
    if (!moved_) bwd_.execute(ctx::stream(), bwd_args_);
  }

 private:
  bool training_, fused_, moved_;
  memory src_, bwd_scratch_;
  eltwise_forward fwd_;
  eltwise_backward bwd_;
  std::unordered_map<int, memory> fwd_args_, bwd_args_;
};

}  // namespace

std::unique_ptr<LayerExec> Relu::build(const BuildArgs& args) const { return std::make_unique<ReluExec>(args); }

}  // namespace sgdbench
