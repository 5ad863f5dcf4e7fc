// BatchNorm: oneDNN batch_normalization forward (training: batch statistics, then the running
// statistics updated on the host; inference: the running statistics) and backward.
#include "layers/batch_norm.hpp"

#include <cstdio>
#include <unordered_map>

#include "core/error.hpp"
#include "dnnl/context.hpp"

namespace sgdbench {

using namespace dnnl;
namespace ctx = dnnl_ctx;

BatchNorm::BatchNorm(std::string name, double momentum, double eps)
    : Layer(std::move(name)), momentum_(momentum), eps_(eps) {
  SGD_CHECK(momentum >= 0.0 && momentum <= 1.0, Model, "batch_norm '", this->name(),
            "': momentum must be in [0, 1], got ", momentum);
  SGD_CHECK(eps > 0.0, Model, "batch_norm '", this->name(), "': eps must be positive, got ", eps);
}

std::string BatchNorm::describe() const {
  std::string s = "batchnorm";
  char b[48];
  if (momentum_ != 0.1) {
    std::snprintf(b, sizeof b, " momentum %g", momentum_);
    s += b;
  }
  if (eps_ != 1e-5) {
    std::snprintf(b, sizeof b, " eps %g", eps_);
    s += b;
  }
  return s;
}

Shape BatchNorm::output_shape(const Shape& in) const {
  if (in.rank() != 3 && in.rank() != 1) shape_error(in, "expects a CxHxW image or a vector");
  return in;
}

std::vector<ParamSpec> BatchNorm::params(const Shape& in, const Shape& mem) const {
  // After a flatten the memory is still the N,C,H,W image (NHWC): the exec could not tell
  // BatchNorm1d over C*H*W features from BatchNorm2d over C channels, so refuse it here.
  if (in.rank() == 1 && mem.rank() == 3)
    shape_error(in, "batch norm of a flattened image is not supported; put it before the flatten");
  const int64_t C = output_shape(in)[0];
  return {
      ParamSpec{
          .name = "weight", .dims = {C}, .fan_in = C, .fan_out = C, .is_bias = false, .decay = false, .fill = 1.f},
      ParamSpec{.name = "bias", .dims = {C}, .fan_in = C, .fan_out = C, .is_bias = true, .decay = false, .fill = 0.f}};
}

std::vector<StateSpec> BatchNorm::state(const Shape& in) const {
  const int64_t C = output_shape(in)[0];
  return {StateSpec{"running_mean", C, 0.f}, StateSpec{"running_var", C, 1.f}};
}

namespace {

class BatchNormExec : public LayerExec {
 public:
  BatchNormExec(const BatchNorm& L, const BuildArgs& a) : training_(a.training), momentum_(L.momentum()) {
    SGD_CHECK(a.params.size() == 2 && a.grads.size() == 2 && a.state.size() == 2, Internal, "batch_norm '", L.name(),
              "' needs 2 parameters and 2 state buffers, got ", a.params.size(), " and ", a.state.size());
    auto& eng = ctx::engine();
    auto src_md = a.src.get_desc();  // (N,C,H,W) nhwc or (N,C) nc; dst and diffs share it
    auto sd = src_md.dims();
    SGD_CHECK(sd.size() == 4 || sd.size() == 2, Internal, "batch_norm '", L.name(), "': src of rank ", sd.size());
    C_ = sd[1];
    M_ = sd[0] * (sd.size() == 4 ? sd[2] * sd[3] : 1);
    running_mean_ = a.state[0];
    running_var_ = a.state[1];
    const float eps = float(L.eps());
    // oneDNN 2.6: separate 1-D scale and shift tensors (use_scale | use_shift), each {C} floats,
    // bound directly on the Network's parameter and gradient buffers.
    const auto affine = normalization_flags::use_scale | normalization_flags::use_shift;
    auto c_md = ctx::plain_md({C_});
    const auto prop = training_ ? prop_kind::forward_training : prop_kind::forward_inference;
    const auto flags = training_ ? affine : affine | normalization_flags::use_global_stats;
    const primitive_attr attr = ctx::user_scratchpad_attr();  // see dnnl_ctx::ScratchArena
    auto fwd_pd = batch_normalization_forward::primitive_desc(
        batch_normalization_forward::desc(prop, src_md, eps, flags), attr, eng);
    SGD_CHECK(fwd_pd.dst_desc() == src_md, Internal, "batch_norm '", L.name(), "': dst layout differs from src");
    fwd_ = batch_normalization_forward(fwd_pd);
    dst = memory(src_md, eng);
    memory scale(c_md, eng, a.params[0]), shift(c_md, eng, a.params[1]);
    if (training_) {
      // Outputs: the batch mean and biased variance, kept for backward.
      mean_ = memory(fwd_pd.mean_desc(), eng);
      var_ = memory(fwd_pd.variance_desc(), eng);
    } else {
      // Inputs: the running statistics, read in place from the state buffer (no copy).
      mean_ = memory(fwd_pd.mean_desc(), eng, running_mean_);
      var_ = memory(fwd_pd.variance_desc(), eng, running_var_);
    }
    fwd_args_ = {{DNNL_ARG_SRC, a.src},   {DNNL_ARG_DST, dst},    {DNNL_ARG_SCALE, scale},
                 {DNNL_ARG_SHIFT, shift}, {DNNL_ARG_MEAN, mean_}, {DNNL_ARG_VARIANCE, var_}};
    ctx::add_scratchpad(fwd_args_, ctx::scratchpad(fwd_pd.scratchpad_desc()));
    if (!training_) return;
    auto bwd_pd = batch_normalization_backward::primitive_desc(
        batch_normalization_backward::desc(prop_kind::backward, src_md, src_md, eps, affine), attr, eng, fwd_pd);
    bwd_ = batch_normalization_backward(bwd_pd);
    diff_src = memory(src_md, eng);
    // oneDNN 2.6 wants DNNL_ARG_SHIFT bound for backward with use_shift (it is not read: the
    // gradients do not depend on beta); without it execute() fails with invalid arguments.
    bwd_args_ = {{DNNL_ARG_SRC, a.src},
                 {DNNL_ARG_MEAN, mean_},
                 {DNNL_ARG_VARIANCE, var_},
                 {DNNL_ARG_SCALE, scale},
                 {DNNL_ARG_SHIFT, shift},
                 {DNNL_ARG_DIFF_SRC, diff_src},
                 {DNNL_ARG_DIFF_SCALE, memory(c_md, eng, a.grads[0])},
                 {DNNL_ARG_DIFF_SHIFT, memory(c_md, eng, a.grads[1])}};
    ctx::add_scratchpad(bwd_args_, ctx::scratchpad(bwd_pd.scratchpad_desc()));
  }

  void forward() override {
    fwd_.execute(ctx::stream(), fwd_args_);
    if (!training_) return;
    ctx::stream().wait();
    // PyTorch's update: the batch variance enters the running variance unbiased (M/(M-1)),
    // although the normalisation used the biased one. One value per channel: M = 1 keeps it biased.
    const float* mean = static_cast<const float*>(mean_.get_data_handle());
    const float* var = static_cast<const float*>(var_.get_data_handle());
    const double unbias = M_ > 1 ? double(M_) / double(M_ - 1) : 1.0;
    for (int64_t c = 0; c < C_; ++c) {
      running_mean_[c] = float((1.0 - momentum_) * running_mean_[c] + momentum_ * mean[c]);
      running_var_[c] = float((1.0 - momentum_) * running_var_[c] + momentum_ * var[c] * unbias);
    }
  }

  void bind_backward(const memory& diff_dst) override { bwd_args_[DNNL_ARG_DIFF_DST] = diff_dst; }

  // One oneDNN primitive computes diff_src, diff_scale and diff_shift together. backward_weights()
  // always runs (and must overwrite the gradients), so it runs the primitive; backward_data() then
  // has nothing left to do. diff_src is thus also computed for the first layer, where nobody reads
  // it: cheaper than running the primitive twice.
  void backward_weights() override { bwd_.execute(ctx::stream(), bwd_args_); }
  void backward_data() override {}

 private:
  bool training_;
  double momentum_;
  int64_t C_ = 0, M_ = 0;
  float *running_mean_ = nullptr, *running_var_ = nullptr;
  memory mean_, var_;
  batch_normalization_forward fwd_;
  batch_normalization_backward bwd_;
  std::unordered_map<int, memory> fwd_args_, bwd_args_;
};

}  // namespace

std::unique_ptr<LayerExec> BatchNorm::build(const BuildArgs& args) const {
  return std::make_unique<BatchNormExec>(*this, args);
}

}  // namespace sgdbench
