// Each optimizer's update over 1M parameters: time and GB/s of the minimal memory traffic
// (bytes each element must read and write: sgd 12, momentum/Nesterov/AdaGrad/RMSprop 20, Adam 28).
#include "common.hpp"
#include "core/rng.hpp"
#include "optim/optimizer.hpp"

using namespace sgdbench;

namespace {

struct OptCase {
  const char* name;
  OptimizerConfig cfg;
  int bytes;
};

void BM_Optimizer(benchmark::State& state, OptCase c) {
  const size_t n = size_t(state.range(0));
  std::vector<float> p(n), g(n);
  Rng r(1);
  for (size_t i = 0; i < n; ++i) p[i] = float(r.uniform(-1, 1)), g[i] = float(r.uniform(-1, 1)) * 1e-3f;
  auto opt = make_optimizer(c.cfg);
  for (auto _ : state) {
    opt->step(p.data(), g.data(), n, 1e-3);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(n) * c.bytes);
  state.counters["params"] = double(n);
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
    benchmark::RegisterBenchmark((std::string("BM_Optimizer/") + c.name).c_str(), BM_Optimizer, c)
        ->ArgNames({"params"})
        ->Arg(1 << 20)
        ->Unit(benchmark::kMicrosecond)
        ->UseRealTime();
  return bench::run_main(argc, argv);
}
