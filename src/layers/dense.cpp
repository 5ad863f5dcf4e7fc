// Dense on oneDNN inner product: forward, backward data, backward weights (+bias).
// src NC (or NHWC when fed an image), dst NC, weights any-layout bridged to OI / OIHW.
#include "layers/dense.hpp"

#include "core/error.hpp"
#include "dnnl/context.hpp"
#include "layers/dense_fused.hpp"
#include "layers/weighted_exec.hpp"

namespace sgdbench {

using namespace dnnl;
namespace ctx = dnnl_ctx;

namespace {

using DenseBase = WeightedExec<inner_product_forward, inner_product_backward_data, inner_product_backward_weights>;

// The inner-product exec, plus the fused backward + SGD update at small batches
// (dense_fused.hpp) where input, output and weights are all plain row-major in one order.
class DenseExec final : public DenseBase {
 public:
  template <class... A>
  DenseExec(const BuildArgs& a, const dnnl::memory::desc& plain_src, A&&... rest)
      : DenseBase(a, std::forward<A>(rest)...) {
    const auto wd = w_user_.get_desc().dims();
    int64_t in = 1;
    for (size_t k = 1; k < wd.size(); ++k) in *= wd[k];
    batch_ = a.batch, out_ = wd[0], in_ = in;
    // The fused pass runs on the calling thread: only where the layer's primitives were created
    // for one thread too (it would otherwise replace multithreaded oneDNN calls and update).
    fuse_ = training_ && ctx::threads() == 1 && a.batch <= kFusedDenseMaxBatch && out_ * in_ >= kFusedDenseMinWeights &&
            fused_dense_available() && src_.get_desc() == plain_src &&
            dst.get_desc() == dnnl_ctx::plain_md({a.batch, out_});
    if (fuse_) bias_from_zero_ = dnnl_ctx::bias_gradient_from_zero(bwd_w_pd_);
    if (fuse_ && weights_lane_) {
      // A layer that fuses runs its whole backward on lane 0 (with or without the fused update):
      // its weight-gradient pass takes lane 0's scratchpad, never lane 1's, which the other
      // thread may be using meanwhile.
      weights_lane_ = false;
      bind_weight_pass();
    }
  }
  void bind_backward(const dnnl::memory& diff_dst) override {
    DenseBase::bind_backward(diff_dst);
    diff_dst_ = diff_dst;
    if (training_ && diff_dst.get_desc() != dnnl_ctx::plain_md({batch_, out_})) fuse_ = false;
  }
  const float* backward_fused(bool need_diff_src, const FusedSgd& sgd) override {
    if (!fuse_) return nullptr;
    FusedDenseArgs f;
    f.batch = batch_, f.out = out_, f.in = in_;
    f.x = static_cast<const float*>(src_.get_data_handle());
    f.dy = static_cast<const float*>(diff_dst_.get_data_handle());
    f.dx = need_diff_src ? static_cast<float*>(diff_src.get_data_handle()) : nullptr;
    f.w = static_cast<float*>(w_user_.get_data_handle());
    f.g = static_cast<float*>(gw_user_.get_data_handle());
    f.gb = bias_ ? static_cast<float*>(gb_user_.get_data_handle()) : nullptr;
    f.v = sgd.velocity ? sgd.velocity + (f.w - sgd.params) : nullptr;
    f.bias_from_zero = bias_from_zero_;
    f.sgd = sgd;
    f.chooser = &split_;
    fused_dense_backward_update(f);
    return f.w;
  }

 private:
  bool fuse_ = false, bias_from_zero_ = false;
  SplitChooser split_;  // split or not, where the fused pass may split
  int64_t batch_ = 0, out_ = 0, in_ = 0;
  dnnl::memory diff_dst_;
};

}  // namespace

Shape Dense::output_shape(const Shape& in) const {
  if (in.rank() != 1) shape_error(in, "expects a vector (put a flatten in front of it)");
  if (in[0] <= 0) shape_error(in, "empty input");
  return Shape{units_};
}

std::vector<ParamSpec> Dense::params(const Shape& in, const Shape& mem) const {
  std::vector<ParamSpec> p{ParamSpec{"weight", {units_, in[0]}, in[0], units_, false}};
  if (mem.rank() == 3) {
    p[0].dims = {units_, mem[0], mem[1], mem[2]};
    p[0].channels_last = true;
  }
  if (bias_) p.push_back(ParamSpec{"bias", {units_}, in[0], units_, true, false});
  return p;
}

std::unique_ptr<LayerExec> Dense::build(const BuildArgs& a) const {
  // src (N, I) nc, or (N,C,H,W) nhwc after a flatten -> dst (N, O) nc
  auto src_md = a.src.get_desc();
  auto sd = src_md.dims();
  // weights {O, I} for a vector input, {O, C, H, W} for an image. An image-fed dense layer stores
  // its weights channels-last (O,H,W,C: the activations' order, ParamSpec::channels_last), the
  // layout oneDNN's GEMM-based inner product uses with NHWC input, so no weight reorder runs per
  // step; a vector-fed one lets oneDNN choose (format any) and bridges to O,I.
  std::vector<int64_t> w_dims{units_};
  w_dims.insert(w_dims.end(), sd.begin() + 1, sd.end());
  memory::dims wd(w_dims.begin(), w_dims.end());
  const bool image = w_dims.size() == 4;
  auto w_user = image ? memory::desc(wd, ctx::dt::f32, ctx::tag::acdb) : ctx::plain_md(w_dims);
  auto w_any = image ? w_user : memory::desc(wd, ctx::dt::f32, ctx::tag::any);
  auto b_md = bias_ ? ctx::plain_md({units_}) : memory::desc();  // zero desc: no bias term
  auto dst_md = ctx::activation_md({a.batch, units_});
  auto prop = a.training ? prop_kind::forward_training : prop_kind::forward_inference;
  const auto plain_src = memory::desc(sd, ctx::dt::f32, image ? ctx::tag::acdb : ctx::tag::ab);
  return std::make_unique<DenseExec>(
      a, plain_src, w_user, inner_product_forward::desc(prop, src_md, w_any, b_md, dst_md),
      [&] { return inner_product_backward_data::desc(src_md, w_any, dst_md); },
      [&] { return inner_product_backward_weights::desc(src_md, w_any, b_md, dst_md); });
}

}  // namespace sgdbench
