// Every layer of the anchor models at its real shape: forward, backward-data and
// backward-weights separately, batch 1 .. 1024. images/s, and GFLOP/s for conv and dense (each
// pass of those does the forward's multiply-adds). Names: BM_Layer/<model>/<layer>/<pass>.
#include "common.hpp"
#include "dnnl/context.hpp"
#include "model/zoo.hpp"

using namespace sgdbench;

namespace {

enum class Pass { Forward, BackwardData, BackwardWeights };

void BM_Layer(benchmark::State& state, const bench::AnchorModel& m, size_t layer, Pass pass) {
  const int64_t batch = state.range(0);
  auto net = build_model(m.model, m.input, 10);
  initialize(*net, zoo_entry(m.model).init, 1);
  auto& plan = net->plan(batch, true, /*whole=*/true);
  bench::fill_random_batch(*net, plan);
  // One full step so every activation and gradient buffer holds real values.
  plan.forward_loss();
  plan.backward();
  LayerExec& e = plan.exec(layer);
  dnnl_ctx::ThreadScope scope(plan.layer_threads(layer));  // as the plan runs it
  auto& s = dnnl_ctx::stream();
  for (auto _ : state) {
    switch (pass) {
      case Pass::Forward:
        e.forward();
        break;
      case Pass::BackwardData:
        e.backward_data();
        break;
      case Pass::BackwardWeights:
        e.backward_weights();
        break;
    }
    s.wait();
  }
  const Shape& in = net->layer_input(layer);
  bench::set_rates(state, batch, net->layers()[layer]->forward_flops(in) * double(batch));
}

}  // namespace

int main(int argc, char** argv) {
  for (auto& m : bench::anchor_models()) {
    auto net = build_model(m.model, m.input, 10);
    // The passes a training step runs (Plan::backward): none below the first layer with
    // parameters, no input gradient for that one, and no forward for a ReLU fused into the conv
    // or dense layer before it (that layer's forward includes it).
    const size_t first = net->first_param_layer();
    for (size_t i = first; i < net->layers().size(); ++i) {
      const Layer& L = *net->layers()[i];
      if (L.aliases_input()) continue;  // moves no data
      std::vector<std::pair<const char*, Pass>> passes;
      if (!net->relu_fused(i)) passes.push_back({"fwd", Pass::Forward});
      if (i > first) passes.push_back({"bwd_data", Pass::BackwardData});
      if (net->has_params(i)) passes.push_back({"bwd_weights", Pass::BackwardWeights});
      for (auto& [pname, pass] : passes) {
        std::string name = "BM_Layer/" + m.name + "/" + L.name() + "/" + pname;
        auto* b = benchmark::RegisterBenchmark(name.c_str(), BM_Layer, m, i, pass);
        b->ArgNames({"batch"})->Unit(benchmark::kMicrosecond)->UseRealTime();
        for (auto n : bench::batch_sizes()) b->Arg(n);
      }
    }
  }
  return bench::run_main(argc, argv);
}
