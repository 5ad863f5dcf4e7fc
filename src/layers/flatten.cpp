// Flatten: aliasing only (dst = src, diff_src = diff_dst).
#include "layers/flatten.hpp"

namespace sgdbench {

namespace {
class FlattenExec : public LayerExec {
 public:
  explicit FlattenExec(const BuildArgs& a) { dst = a.src; }
  void forward() override {}
  void bind_backward(const dnnl::memory& diff_dst) override { diff_src = diff_dst; }
  void backward_data() override {}
};
}  // namespace

std::unique_ptr<LayerExec> Flatten::build(const BuildArgs& args) const { return std::make_unique<FlattenExec>(args); }

}  // namespace sgdbench
