// Data loading: decoding Fashion-MNIST's training images (.gz IDX, 60,000 x 28 x 28) and
// producing one epoch of shuffled, preprocessed float batches. images/s for both.
#include <filesystem>

#include "common.hpp"
#include "data/batcher.hpp"
#include "data/dataset.hpp"

using namespace sgdbench;

namespace {

std::string train_images() { return default_data_dir("fashion-mnist") + "/train-images-idx3-ubyte.gz"; }

void BM_DecodeIdxGz(benchmark::State& state) {
  if (!std::filesystem::exists(train_images())) {
    state.SkipWithError("Fashion-MNIST not installed (tools/setup.sh installs dataset-fashion-mnist)");
    return;
  }
  int64_t n = 0;
  for (auto _ : state) {
    auto a = read_idx(train_images(), 3);
    n = a.dims[0];
    benchmark::DoNotOptimize(a.data.data());
  }
  bench::set_rates(state, n, 0);
}

void BM_BatchEpoch(benchmark::State& state) {
  const int64_t batch = state.range(0);
  static Dataset ds = [] {
    DataConfig c;
    if (!std::filesystem::exists(train_images())) {  // same size and shape, generated
      c.name = "synthetic";
      c.synthetic_train = 60000;
      c.synthetic_test = 1;
    }
    return load_dataset(c);
  }();
  Batcher b(ds.train, ds.shape, ds.pre, batch, true, 1);
  std::vector<float> x(size_t(batch * ds.shape.numel()));
  std::vector<int32_t> y(static_cast<size_t>(batch));
  int64_t epoch = 0;
  for (auto _ : state) {
    b.start_epoch(epoch++);
    while (b.next(x.data(), y.data()) > 0) benchmark::ClobberMemory();
  }
  bench::set_rates(state, ds.train.size(), 0);
  state.SetLabel(ds.name);
}

}  // namespace

BENCHMARK(BM_DecodeIdxGz)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_BatchEpoch)
    ->ArgNames({"batch"})
    ->Arg(1)
    ->Arg(32)
    ->Arg(128)
    ->Arg(1024)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

int main(int argc, char** argv) { return bench::run_main(argc, argv); }
