// This machine's fp32 FMA peak, the yardstick for every GFLOP/s figure ("% of peak"): independent
// fused multiply-adds in registers, AVX-512 (16 lanes) and AVX2 (8 lanes), on 1 thread and on
// every thread (OpenMP, --threads=N). 2 FLOPs per lane per FMA. An ISA the CPU lacks is skipped.
#include <omp.h>
#include <immintrin.h>

#include "common.hpp"
#include "dnnl/context.hpp"

namespace {

constexpr int kChains = 12;      // independent accumulators: covers 4-cycle latency x 2 FMA ports
constexpr long kInner = 1 << 16;  // FMAs per chain per call

__attribute__((target("avx512f"))) float fma_avx512(float seed) {
  __m512 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm512_set1_ps(seed + float(c));
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  for (long i = 0; i < kInner; ++i)
    for (int c = 0; c < kChains; ++c) acc[c] = _mm512_fmadd_ps(acc[c], a, b);
  __m512 s = acc[0];
  for (int c = 1; c < kChains; ++c) s = _mm512_add_ps(s, acc[c]);
  alignas(64) float o[16];
  _mm512_store_ps(o, s);  // (not _mm512_reduce_add_ps: GCC 12 warns inside it)
  return o[0] + o[15];
}

__attribute__((target("avx2,fma"))) float fma_avx2(float seed) {
  __m256 acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = _mm256_set1_ps(seed + float(c));
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (long i = 0; i < kInner; ++i)
    for (int c = 0; c < kChains; ++c) acc[c] = _mm256_fmadd_ps(acc[c], a, b);
  __m256 s = acc[0];
  for (int c = 1; c < kChains; ++c) s = _mm256_add_ps(s, acc[c]);
  alignas(32) float o[8];
  _mm256_store_ps(o, s);
  return o[0] + o[7];
}

void BM_PeakFma(benchmark::State& state, int lanes, bool all_threads) {
  const bool ok = lanes == 16 ? __builtin_cpu_supports("avx512f") : __builtin_cpu_supports("avx2");
  if (!ok) {
    state.SkipWithError("the CPU lacks this ISA");
    return;
  }
  const int threads = all_threads ? sgdbench::dnnl_ctx::threads() : 1;
  float sink = 0;
  for (auto _ : state) {
#pragma omp parallel num_threads(threads) reduction(+ : sink)
    sink += lanes == 16 ? fma_avx512(float(omp_get_thread_num())) : fma_avx2(float(omp_get_thread_num()));
  }
  benchmark::DoNotOptimize(sink);
  const double flops = double(threads) * kInner * kChains * lanes * 2.0;
  state.counters["GFLOP/s"] = benchmark::Counter(flops / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["threads"] = threads;
}

}  // namespace

int main(int argc, char** argv) {
  for (bool all : {false, true}) {
    benchmark::RegisterBenchmark(all ? "BM_PeakFma/avx512/all_threads" : "BM_PeakFma/avx512/1_thread", BM_PeakFma, 16,
                                 all)
        ->UseRealTime();
    benchmark::RegisterBenchmark(all ? "BM_PeakFma/avx2/all_threads" : "BM_PeakFma/avx2/1_thread", BM_PeakFma, 8, all)
        ->UseRealTime();
  }
  return sgdbench::bench::run_main(argc, argv);
}
