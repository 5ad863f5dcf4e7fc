// The execution shared by the pooling layers (max_pool, avg_pool, global_avg_pool): one oneDNN
// pooling forward and backward for a given algorithm, window, stride and padding; max pooling
// keeps its workspace for backward, and applies the gradient of a ReLU right before it
// (BuildArgs::relu_grad_in_pool). Only the window and the algorithm differ per layer.
#pragma once
#include <unordered_map>

#include "dnnl/context.hpp"
#include "layers/layer.hpp"

namespace sgdbench {

class PoolExec : public LayerExec {
  using memory = dnnl::memory;

 public:
  // src (N,C,H,W) nhwc -> dst (N,out) nhwc; window k, stride s, padding p on each side.
  PoolExec(const BuildArgs& a, dnnl::algorithm alg, const Shape& out, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
           int64_t p) {
    namespace ctx = dnnl_ctx;
    using namespace dnnl;
    auto& eng = ctx::engine();
    auto src_md = a.src.get_desc();
    auto dst_md = ctx::activation_md({a.batch, out[0], out[1], out[2]});
    memory::dims k{kh, kw}, s{sh, sw}, pad{p, p};
    auto prop = a.training ? prop_kind::forward_training : prop_kind::forward_inference;
    const primitive_attr attr = ctx::user_scratchpad_attr();  // see dnnl_ctx::ScratchArena
    auto fwd_pd = pooling_forward::primitive_desc(pooling_forward::desc(prop, alg, src_md, dst_md, s, k, pad, pad),
                                                  attr, eng);
    fwd_ = pooling_forward(fwd_pd);
    dst = memory(dst_md, eng);
    fwd_args_ = {{DNNL_ARG_SRC, a.src}, {DNNL_ARG_DST, dst}};
    ctx::add_scratchpad(fwd_args_, ctx::scratchpad(fwd_pd.scratchpad_desc()));
    if (!a.training) return;
    if (alg == algorithm::pooling_max) {
      ws_ = memory(fwd_pd.workspace_desc(), eng);
      fwd_args_[DNNL_ARG_WORKSPACE] = ws_;
    }
    auto bwd_pd = pooling_backward::primitive_desc(pooling_backward::desc(alg, src_md, dst_md, s, k, pad, pad),
                                                   attr, eng, fwd_pd);
    bwd_ = pooling_backward(bwd_pd);
    bwd_scratch_ = ctx::scratchpad(bwd_pd.scratchpad_desc());
    diff_src = memory(src_md, eng);
    if (a.relu_grad_in_pool && alg == algorithm::pooling_max) {
      // The ReLU before this pool: its gradient mask [dst > 0] on diff_dst, in place.
      const auto relu = algorithm::eltwise_relu_use_dst_for_bwd;
      auto hint = eltwise_forward::primitive_desc(eltwise_forward::desc(prop, relu, dst_md, 0.f), attr, eng);
      auto relu_pd = eltwise_backward::primitive_desc(eltwise_backward::desc(relu, dst_md, dst_md, 0.f), attr, eng, hint);
      relu_bwd_ = eltwise_backward(relu_pd);
      relu_scratch_ = ctx::scratchpad(relu_pd.scratchpad_desc());
    }
  }
  void forward() override { fwd_.execute(dnnl_ctx::stream(), fwd_args_); }
  void bind_backward(const memory& diff_dst) override {
    bwd_args_ = {{DNNL_ARG_DIFF_DST, diff_dst}, {DNNL_ARG_DIFF_SRC, diff_src}};
    if (ws_) bwd_args_[DNNL_ARG_WORKSPACE] = ws_;
    dnnl_ctx::add_scratchpad(bwd_args_, bwd_scratch_);
    if (relu_bwd_) {
      relu_args_ = {{DNNL_ARG_DST, dst}, {DNNL_ARG_DIFF_DST, diff_dst}, {DNNL_ARG_DIFF_SRC, diff_dst}};
      dnnl_ctx::add_scratchpad(relu_args_, relu_scratch_);
    }
  }
  void backward_data() override {
    if (relu_bwd_) relu_bwd_.execute(dnnl_ctx::stream(), relu_args_);
    bwd_.execute(dnnl_ctx::stream(), bwd_args_);
  }

 private:
  memory ws_, bwd_scratch_, relu_scratch_;
  dnnl::eltwise_backward relu_bwd_;
  std::unordered_map<int, memory> relu_args_;
  dnnl::pooling_forward fwd_;
  dnnl::pooling_backward bwd_;
  std::unordered_map<int, memory> fwd_args_, bwd_args_;
};

}  // namespace sgdbench
