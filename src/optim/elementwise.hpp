// for_each_element: the optimizers' update loops, f(i) for every i in [0, n), compiled for
// AVX-512, AVX2 and the x86-64 baseline and run with the widest this CPU has; split over the
// threads when n >= kParallelMin. Not: reductions (the result of each i must depend on i alone).
//
// Why (issue 11): the library is built for the baseline, where these loops run 4 floats an SSE
// instruction (perf put the SGD-momentum update at 41% of keras_mnist_cnn's batch-1 step); in
// AVX-512, bench_optim's updates of 1M floats run 1.5-3x faster. Every ISA gives the same bits:
// the rules are IEEE add/mul/div/sqrt, each correctly rounded in every vector width, and
// optimizers.cpp, the one file that calls for_each_element, is compiled with -ffp-contract=off (no
// fused multiply-add, which rounds once where the baseline rounds twice; CMakeLists.txt) and the
// library with -fno-math-errno (sqrt vectorises). A loop in another file needs that flag too.
// The test "every update ISA gives the baseline's bits" holds each ISA to that.
#pragma once
#include <algorithm>
#include <cstddef>
#include <string>

#include <omp.h>

#include "core/parallel.hpp"
#include "optim/optimizer.hpp"

namespace sgdbench {

enum class UpdateIsa { baseline, avx2, avx512 };
// The ISA the loops run with: the widest this CPU supports, unless set_update_isa chose another.
UpdateIsa update_isa();
bool update_isa_supported(UpdateIsa isa);
// Throws Error(Usage) when this CPU lacks `isa` (tests and benchmarks compare the ISAs).
void set_update_isa(UpdateIsa isa);
std::string update_isa_name(UpdateIsa isa);

namespace elementwise_detail {

template <class F>
inline void loop(size_t b, size_t e, F& f) {
  for (size_t i = b; i < e; ++i) f(i);
}
template <class F>
__attribute__((target("avx512f"))) void loop_avx512(size_t b, size_t e, F& f) {
  loop(b, e, f);
}
template <class F>
__attribute__((target("avx2"))) void loop_avx2(size_t b, size_t e, F& f) {
  loop(b, e, f);
}
template <class F>
void loop_baseline(size_t b, size_t e, F& f) {
  loop(b, e, f);
}
template <class F>
void run(UpdateIsa isa, size_t b, size_t e, F& f) {
  if (isa == UpdateIsa::avx512)
    loop_avx512(b, e, f);
  else if (isa == UpdateIsa::avx2)
    loop_avx2(b, e, f);
  else
    loop_baseline(b, e, f);
}

}  // namespace elementwise_detail

template <class F>
void for_each_element(size_t n, F f) {
  const UpdateIsa isa = update_isa();
  if (n < kParallelMin || !parallel_pays()) return elementwise_detail::run(isa, 0, n, f);
#pragma omp parallel
  {
    // Static chunks of whole 64-byte lines, as `omp for schedule(static)` would split them.
    const size_t T = size_t(omp_get_num_threads()), t = size_t(omp_get_thread_num());
    const size_t chunk = ((n + T - 1) / T + 15) / 16 * 16;
    const size_t b = std::min(n, t * chunk), e = std::min(n, b + chunk);
    if (b < e) elementwise_detail::run(isa, b, e, f);
  }
}

}  // namespace sgdbench
