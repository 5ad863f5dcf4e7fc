// ReLU: eltwise_relu forward, eltwise backward reading the forward's input.
#include "layers/relu.hpp"

#include <unordered_map>

#include "dnnl/context.hpp"

namespace sgdbench {

using namespace dnnl;
namespace ctx = dnnl_ctx;

namespace {

class ReluExec : public LayerExec {
 public:
  explicit ReluExec(const BuildArgs& a) : training_(a.training), src_(a.src) {
    auto& eng = ctx::engine();
    auto md = a.src.get_desc();
    auto prop = a.training ? prop_kind::forward_training : prop_kind::forward_inference;
    auto fwd_pd = eltwise_forward::primitive_desc(eltwise_forward::desc(prop, algorithm::eltwise_relu, md, 0.f), eng);
    fwd_ = eltwise_forward(fwd_pd);
    dst = memory(md, eng);
    fwd_args_ = {{DNNL_ARG_SRC, src_}, {DNNL_ARG_DST, dst}};
    if (!training_) return;
    auto bwd_pd =
        eltwise_backward::primitive_desc(eltwise_backward::desc(algorithm::eltwise_relu, md, md, 0.f), eng, fwd_pd);
    bwd_ = eltwise_backward(bwd_pd);
    diff_src = memory(md, eng);
  }
  void forward() override { fwd_.execute(ctx::stream(), fwd_args_); }
  void bind_backward(const memory& diff_dst) override {
    bwd_args_ = {{DNNL_ARG_SRC, src_}, {DNNL_ARG_DIFF_DST, diff_dst}, {DNNL_ARG_DIFF_SRC, diff_src}};
  }
  void backward_data() override { bwd_.execute(ctx::stream(), bwd_args_); }

 private:
  bool training_;
  memory src_;
  eltwise_forward fwd_;
  eltwise_backward bwd_;
  std::unordered_map<int, memory> fwd_args_, bwd_args_;
};

}  // namespace

std::unique_ptr<LayerExec> Relu::build(const BuildArgs& args) const { return std::make_unique<ReluExec>(args); }

}  // namespace sgdbench
