// Each optimizer's update over 1M parameters: time and GB/s of the minimal memory traffic
// (bytes each element must read and write: sgd 12, momentum/Nesterov/AdaGrad/RMSprop 20, Adam 28),
// with the loops in each ISA this CPU has (isa:avx512|avx2|baseline; training uses the widest).
#include "common.hpp"
#include "core/rng.hpp"
#include "core/tensor.hpp"
#include "optim/elementwise.hpp"
#include "optim/optimizer.hpp"

using namespace sgdbench;

namespace {

struct OptCase {
  const char* name;
  OptimizerConfig cfg;
  int bytes;
};

void BM_Optimizer(benchmark::State& state, OptCase c, UpdateIsa isa) {
  const size_t n = size_t(state.range(0));
  const UpdateIsa before = update_isa();
  set_update_isa(isa);
  Tensor p(Shape{int64_t(n)}), g(Shape{int64_t(n)});  // 64-byte aligned, as the network's buffers
  Rng r(1);
  for (size_t i = 0; i < n; ++i) p[i] = float(r.uniform(-1, 1)), g[i] = float(r.uniform(-1, 1)) * 1e-3f;
  auto opt = make_optimizer(c.cfg);
  for (auto _ : state) {
    opt->step(p.data(), g.data(), n, 1e-3);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(n) * c.bytes);
  state.counters["params"] = double(n);
  set_update_isa(before);
}

OptimizerConfig cfg(const char* name, double momentum = 0, bool nesterov = false) {
  OptimizerConfig c;
  c.name = name;
  c.momentum = momentum;
  c.nesterov = nesterov;
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  const OptCase cases[] = {{"sgd", cfg("sgd"), 12},
                           {"sgd_momentum", cfg("sgd", 0.9), 20},
                           {"sgd_nesterov", cfg("sgd", 0.9, true), 20},
                           {"adagrad", cfg("adagrad"), 20},
                           {"rmsprop", cfg("rmsprop"), 20},
                           {"adam", cfg("adam"), 28}};
  for (auto& c : cases)
    for (UpdateIsa isa : {UpdateIsa::avx512, UpdateIsa::avx2, UpdateIsa::baseline}) {
      if (!update_isa_supported(isa)) continue;
      const std::string name = std::string("BM_Optimizer/") + c.name + "/isa:" + update_isa_name(isa);
      benchmark::RegisterBenchmark(name.c_str(), BM_Optimizer, c, isa)
          ->ArgNames({"params"})
          ->Arg(1 << 20)
          ->Unit(benchmark::kMicrosecond)
          ->UseRealTime();
    }
  return bench::run_main(argc, argv);
}
