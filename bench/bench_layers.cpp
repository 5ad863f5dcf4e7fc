// Every layer of the anchor models at its real shape: forward, backward-data and
// backward-weights separately, batch 1 .. 1024. images/s, and GFLOP/s for conv and dense (each
// pass of those does the forward's multiply-adds). Names: BM_Layer/<model>/<layer>/<pass>.
// BM_WeightCopy/<OxIxKxK>/<layout>/<onednn|tile>/<to_blocked|to_plain>: one copy of a weight
// between its parameter order and a primitive's blocked layout (dnnl/tile_reorder.hpp), floats/s.
#include <cstring>
#include <optional>

#include "common.hpp"
#include "dnnl/context.hpp"
#include "dnnl/tile_reorder.hpp"
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

using dnnl::memory;

void BM_WeightCopy(benchmark::State& state, memory::dims dims, memory::format_tag layout, bool tile, bool to_blocked) {
  auto& eng = dnnl_ctx::engine();
  memory p({dims, memory::data_type::f32, memory::format_tag::abcd}, eng);
  memory b({dims, memory::data_type::f32, layout}, eng);
  std::memset(p.get_data_handle(), 0, p.get_desc().get_size());
  std::memset(b.get_data_handle(), 0, b.get_desc().get_size());
  std::optional<dnnl_ctx::TileReorder> t;
  dnnl_ctx::Reorder r;
  if (tile) {
    t = dnnl_ctx::TileReorder::make(p.get_desc(), b.get_desc());
    if (!t) {
      state.SkipWithError("the tile copies do not handle this layout on this CPU");
      return;
    }
  } else {
    r = to_blocked ? dnnl_ctx::Reorder(p, b) : dnnl_ctx::Reorder(b, p);
  }
  auto* pv = static_cast<float*>(p.get_data_handle());
  auto* bv = static_cast<float*>(b.get_data_handle());
  for (auto _ : state) {
    if (t)
      to_blocked ? t->to_blocked(pv, bv) : t->to_plain(bv, pv);
    else
      to_blocked ? r.execute(p, b) : r.execute(b, p);
    dnnl_ctx::stream().wait();
    benchmark::DoNotOptimize(bv);
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * int64_t(p.get_desc().get_size() / 4));
}

void register_weight_copies() {
  using tag = memory::format_tag;
  // keras_cifar_cnn's conv weights in the layouts oneDNN 2.6 gives them on AVX-512 at batch 1.
  const std::vector<std::pair<memory::dims, std::vector<std::pair<tag, const char*>>>> cases = {
      {{32, 3, 3, 3}, {{tag::Acdb32a, "Acdb32a"}, {tag::Acdb16a, "Acdb16a"}}},
      {{64, 32, 3, 3}, {{tag::Acdb32a, "Acdb32a"}, {tag::ABcd16a16b, "ABcd16a16b"}, {tag::ABcd16b16a, "ABcd16b16a"}}},
      {{64, 64, 3, 3}, {{tag::Acdb64a, "Acdb64a"}, {tag::ABcd16a16b, "ABcd16a16b"}, {tag::ABcd16b16a, "ABcd16b16a"}}}};
  for (const auto& [dims, layouts] : cases)
    for (const auto& [layout, lname] : layouts)
      for (bool tile : {false, true})
        for (bool to_blocked : {true, false}) {
          std::string name = "BM_WeightCopy/" + std::to_string(dims[0]) + "x" + std::to_string(dims[1]) + "x" +
                             std::to_string(dims[2]) + "x" + std::to_string(dims[3]) + "/" + lname + "/" +
                             (tile ? "tile" : "onednn") + "/" + (to_blocked ? "to_blocked" : "to_plain");
          benchmark::RegisterBenchmark(name.c_str(), BM_WeightCopy, dims, layout, tile, to_blocked)
              ->Unit(benchmark::kMicrosecond);
        }
}

}  // namespace

int main(int argc, char** argv) {
  register_weight_copies();
  for (auto& m : bench::anchor_models()) {
    auto net = build_model(m.model, m.input, 10);
    // The passes a training step runs (Plan::backward): none below the first layer with
    // parameters, no input gradient for that one, no forward for a ReLU fused into the conv or
    // dense layer before it (that layer's forward includes it), no backward for one before a max
    // pool (the pool's backward includes it).
    const size_t first = net->first_param_layer();
    for (size_t i = first; i < net->layers().size(); ++i) {
      const Layer& L = *net->layers()[i];
      if (L.aliases_input()) continue;  // moves no data
      std::vector<std::pair<const char*, Pass>> passes;
      if (!net->relu_fused(i)) passes.push_back({"fwd", Pass::Forward});
      // A ReLU whose gradient mask the max pool after it applies has no backward of its own.
      if (i > first && !net->relu_grad_in_pool(i)) passes.push_back({"bwd_data", Pass::BackwardData});
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
