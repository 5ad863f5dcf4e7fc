// Dropout on the host (oneDNN 2.6 has no dropout primitive): an element-wise mask, which does
// not care about the layout because dst and diff_src share the input's descriptor.
#include "layers/dropout.hpp"

#include <cmath>
#include <cstdio>
#include <vector>

#include "core/error.hpp"
#include "core/parallel.hpp"
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

constexpr int64_t kParallelElements = int64_t(1) << 14;

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
  // The mask of element i is a counter-based draw: splitmix64 of (a per-forward key from the
  // layer's generator, i). Each element's draw is independent of the others, so the loop runs on
  // every thread and the masks do not depend on the thread count; the generator still decides
  // them (seed, rank stream, the trainer's save/restore around re-evaluations).
  void forward() override {
    if (!active_) return;
    const float* x = static_cast<const float*>(src_.get_data_handle());
    float* y = static_cast<float*>(dst.get_data_handle());
    float* m = mask_.data();
    const float scale = static_cast<float>(1.0 / (1.0 - rate_));
    // uniform = (h >> 11) * 2^-53 >= rate  <=>  (h >> 11) >= ceil(rate * 2^53), exactly.
    const uint64_t keep_from = uint64_t(std::ceil(std::ldexp(rate_, 53)));
    const uint64_t key = rng_->next();
    const auto n = static_cast<int64_t>(n_);
    parallel_for(n, n >= kParallelElements, [&](int64_t i) {
      uint64_t c = key + uint64_t(i) * 0x9E3779B97F4A7C15ull;
      m[i] = (splitmix64(c) >> 11) >= keep_from ? scale : 0.f;
      y[i] = x[i] * m[i];
    });
  }
  void bind_backward(const dnnl::memory& diff_dst) override {
    diff_dst_ = diff_dst;
    if (!active_) diff_src = diff_dst;
  }
  void backward_data() override {
    if (!active_) return;
    const float* dy = static_cast<const float*>(diff_dst_.get_data_handle());
    float* dx = static_cast<float*>(diff_src.get_data_handle());
    const float* m = mask_.data();
    const auto n = static_cast<int64_t>(n_);
    parallel_for(n, n >= kParallelElements, [&](int64_t i) { dx[i] = dy[i] * m[i]; });
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
