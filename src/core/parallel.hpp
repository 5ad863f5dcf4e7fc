// Parallel loops that open an OpenMP team only when it will have more than one thread.
//
// Why (issue 11): libgomp opens a team for every `parallel` construct, also for a team of one
// thread and for a false `if` clause, and closes it with a futex wake, a system call: 1.3 µs a
// region on the 2-vCPU VM we measure on (an empty `#pragma omp parallel num_threads(1)` in a
// loop, GCC 12), where a keras_mnist_mlp batch-32 step on one thread opened three (dropout
// forward and backward, the SGD update) and a conv model's small-channel kernels two per layer.
#pragma once
#include <cstdint>

#include <omp.h>

namespace sgdbench {

// Whether a parallel region opened here would run on more than one thread: more than one is
// configured (dnnl_ctx::ThreadScope sets one for tiny steps and inside two-lane or team regions)
// and the region would not be nested past the active levels OpenMP allows.
inline bool parallel_pays() {
  return omp_get_max_threads() > 1 && omp_get_active_level() < omp_get_max_active_levels();
}

// for (i = 0; i < n; ++i) f(i): over the caller's threads (static schedule) when `worth` and
// parallel_pays(), else on this thread without opening a region. f(i) must not depend on which
// thread runs it.
template <class F>
void parallel_for(int64_t n, bool worth, F&& f) {
  if (worth && parallel_pays()) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) f(i);
  } else {
    for (int64_t i = 0; i < n; ++i) f(i);
  }
}

}  // namespace sgdbench
