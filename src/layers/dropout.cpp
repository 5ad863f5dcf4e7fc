// Dropout on the host (oneDNN 2.6 has no dropout primitive): an element-wise mask, which does
// not care about the layout because dst and diff_src share the input's descriptor.
#include "layers/dropout.hpp"

#include <cstdio>
#include <vector>

#include "core/error.hpp"
#include "dnnl/context.hpp"

namespace sgdbench {

Dropout::Dropout(std::string name, double rate) : Layer(std::move(name)), rate_(rate) {
  SGD_CHECK(rate >= 0.0 && rate < 1.0, Model, "dropout rate must be in [0, 1), got ", rate);
}

std::string Dropout::describe() const {
  char b[32];
  std::snprintf(b, sizeof b, "dropout %g", rate_);
  return b;
}

namespace {

class DropoutExec : public LayerExec {
 public:
  DropoutExec(double rate, const BuildArgs& a) : rate_(rate), rng_(a.dropout_rng), src_(a.src) {
    auto md = a.src.get_desc();
    n_ = md.get_size() / sizeof(float);
    active_ = a.training && a.dropout && rate > 0.0;
    if (!active_) {
      dst = a.src;  // identity: alias
      return;
    }
    SGD_CHECK(rng_ != nullptr, Internal, "dropout needs a generator");
    dst = dnnl::memory(md, dnnl_ctx::engine());
    diff_src = dnnl::memory(md, dnnl_ctx::engine());
    mask_.resize(n_);
  }
  void forward() override {
    if (!active_) return;
    const float* x = static_cast<const float*>(src_.get_data_handle());
    float* y = static_cast<float*>(dst.get_data_handle());
    const float scale = static_cast<float>(1.0 / (1.0 - rate_));
    for (size_t i = 0; i < n_; ++i) {
      mask_[i] = rng_->uniform() >= rate_ ? scale : 0.f;
      y[i] = x[i] * mask_[i];
    }
  }
  void bind_backward(const dnnl::memory& diff_dst) override {
    diff_dst_ = diff_dst;
    if (!active_) diff_src = diff_dst;
  }
  void backward_data() override {
    if (!active_) return;
    const float* dy = static_cast<const float*>(diff_dst_.get_data_handle());
    float* dx = static_cast<float*>(diff_src.get_data_handle());
    for (size_t i = 0; i < n_; ++i) dx[i] = dy[i] * mask_[i];
  }

 private:
  double rate_;
  Rng* rng_;
  dnnl::memory src_, diff_dst_;
  size_t n_ = 0;
  bool active_ = false;
  std::vector<float> mask_;
};

}  // namespace

std::unique_ptr<LayerExec> Dropout::build(const BuildArgs& args) const {
  return std::make_unique<DropoutExec>(rate_, args);
}

}  // namespace sgdbench
