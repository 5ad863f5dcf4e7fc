// The execution shared by layers with a weight and an optional bias (conv, dense): one forward, one
// backward-data and one backward-weights primitive, weights bridged between the canonical
// parameter buffer and the layout each primitive chose. Only the descriptors differ per layer.
#pragma once
#include <functional>
#include <unordered_map>

#include "dnnl/context.hpp"
#include "layers/layer.hpp"

namespace sgdbench {

template <class Fwd, class BwdData, class BwdW>
class WeightedExec : public LayerExec {
  using memory = dnnl::memory;

 public:
  // w_user_md: how the weights are stored in the parameter buffer (see ParamSpec::channels_last).
  WeightedExec(const BuildArgs& a, const memory::desc& w_user_md, const typename Fwd::desc& fwd_d,
               const std::function<typename BwdData::desc()>& bwd_data_d,
               const std::function<typename BwdW::desc()>& bwd_w_d)
      : training_(a.training), bias_(a.params.size() > 1), weights_lane_(a.training && a.weights_lane) {
    namespace ctx = dnnl_ctx;
    auto& eng = ctx::engine();
    // relu_after: the next layer's ReLU runs as a post-op on the result (BuildArgs::relu_after).
    dnnl::primitive_attr attr;
    if (a.relu_after) {
      dnnl::post_ops po;
      po.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
      attr.set_post_ops(po);
    }
    ctx::with_user_scratchpad(attr);  // see dnnl_ctx::ScratchArena
    fwd_pd_ = typename Fwd::primitive_desc(fwd_d, attr, eng);
    fwd_ = Fwd(fwd_pd_);
    fwd_scratch_ = ctx::scratchpad(fwd_pd_.scratchpad_desc());
    w_user_ = memory(w_user_md, eng, a.params[0]);
    if (bias_) b_user_ = memory(ctx::plain_md({w_user_md.dims()[0]}), eng, a.params[1]);
    w_fwd_.bind(w_user_, fwd_pd_.weights_desc(), true, false);
    src_ = a.src;
    dst = memory(fwd_pd_.dst_desc(), eng);
    fwd_args_ = {{DNNL_ARG_SRC, src_}, {DNNL_ARG_WEIGHTS, w_fwd_.mem}, {DNNL_ARG_DST, dst}};
    if (bias_) fwd_args_[DNNL_ARG_BIAS] = b_user_;
    ctx::add_scratchpad(fwd_args_, fwd_scratch_);
    if (!training_) return;
    const dnnl::primitive_attr bwd_attr = ctx::user_scratchpad_attr();
    bwd_data_pd_ = typename BwdData::primitive_desc(bwd_data_d(), bwd_attr, eng, fwd_pd_);
    bwd_data_ = BwdData(bwd_data_pd_);
    bwd_data_scratch_ = ctx::scratchpad(bwd_data_pd_.scratchpad_desc());
    bwd_w_pd_ = typename BwdW::primitive_desc(bwd_w_d(), bwd_attr, eng, fwd_pd_);
    bwd_w_ = BwdW(bwd_w_pd_);
    // Backward data reuses the forward's weight copy when layouts agree (weights do not change
    // between forward and backward).
    share_w_ = bwd_data_pd_.weights_desc() == fwd_pd_.weights_desc();
    if (!share_w_) w_bwd_.bind(w_user_, bwd_data_pd_.weights_desc(), true, false);
    gw_user_ = memory(w_user_.get_desc(), eng, a.grads[0]);
    if (bias_) gb_user_ = memory(b_user_.get_desc(), eng, a.grads[1]);
    bind_weight_pass();
    diff_src = memory(src_.get_desc(), eng);
  }

  // The weight-gradient primitive reads src and diff_dst and writes the gradients (through its
  // own copies when layouts differ): never what backward_data writes.
  bool weights_beside_data() const override { return weights_lane_; }

  // The forward runs elsewhere (conv_small.hpp): backward_data then pulls the weights itself.
  void forward_elsewhere() { forward_elsewhere_ = true; }

  void forward() override {
    if (!weights_unchanged_) w_fwd_.pull(w_user_);
    fwd_.execute(dnnl_ctx::stream(), fwd_args_);
  }

  void bind_backward(const memory& diff_dst) override {
    if (!training_) return;
    bwd_w_args_ = {{DNNL_ARG_SRC, src_}, {DNNL_ARG_DIFF_DST, diff_dst}, {DNNL_ARG_DIFF_WEIGHTS, gw_.mem}};
    if (bias_) bwd_w_args_[DNNL_ARG_DIFF_BIAS] = gb_.mem;
    dnnl_ctx::add_scratchpad(bwd_w_args_, bwd_w_scratch_);
    bwd_data_args_ = {{DNNL_ARG_DIFF_DST, diff_dst},
                      {DNNL_ARG_WEIGHTS, share_w_ ? w_fwd_.mem : w_bwd_.mem},
                      {DNNL_ARG_DIFF_SRC, diff_src}};
    dnnl_ctx::add_scratchpad(bwd_data_args_, bwd_data_scratch_);
  }

  void backward_weights() override {
    bwd_w_.execute(dnnl_ctx::stream(), bwd_w_args_);
    gw_.push(gw_user_);
    if (bias_) gb_.push(gb_user_);
  }

  void backward_data() override {
    if (weights_unchanged_) {
      // the copies the sub-batch before made are current
    } else if (!share_w_) {
      w_bwd_.pull(w_user_);
    } else if (forward_elsewhere_) {
      w_fwd_.pull(w_user_);
    }
    bwd_data_.execute(dnnl_ctx::stream(), bwd_data_args_);
  }

 protected:
  // The weight-gradient pass's scratchpad and its copies out to the gradient buffer, in lane 1
  // of the plan's arena when weights_lane_ (only those: the other passes run on lane 0).
  void bind_weight_pass() {
    dnnl_ctx::ScratchLane lane(weights_lane_ ? 1 : 0);
    bwd_w_scratch_ = dnnl_ctx::scratchpad(bwd_w_pd_.scratchpad_desc());
    gw_.bind(gw_user_, bwd_w_pd_.diff_weights_desc(), false, true);
    if (bias_) gb_.bind(gb_user_, bwd_w_pd_.diff_bias_desc(), false, true);
  }
  bool training_, bias_, weights_lane_;
  bool share_w_ = true, forward_elsewhere_ = false;
  typename Fwd::primitive_desc fwd_pd_;
  Fwd fwd_;
  typename BwdData::primitive_desc bwd_data_pd_;
  BwdData bwd_data_;
  typename BwdW::primitive_desc bwd_w_pd_;
  BwdW bwd_w_;
  memory src_, w_user_, b_user_, gw_user_, gb_user_;
  memory fwd_scratch_, bwd_data_scratch_, bwd_w_scratch_;
  dnnl_ctx::LayoutBridge w_fwd_, w_bwd_, gw_, gb_;
  std::unordered_map<int, memory> fwd_args_, bwd_data_args_, bwd_w_args_;
};

}  // namespace sgdbench
