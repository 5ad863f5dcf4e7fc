// The one place that knows the oneDNN version: engine/stream, thread count, version and ISA
// strings, and small memory helpers (descriptors in our fixed activation layouts, reorders).
#pragma once
#include <oneapi/dnnl/dnnl.hpp>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "dnnl/tile_reorder.hpp"

namespace sgdbench::dnnl_ctx {

using dnnl::memory;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

// Process-wide CPU engine; an in-order stream per thread.
dnnl::engine& engine();
dnnl::stream& stream();

// Threads used by oneDNN's OpenMP runtime (and our own loops) for primitives executed by the
// calling thread. n <= 0 means all cores. Also applies the denormal setting to the calling
// thread and to every worker of its OpenMP pool.
void set_threads(int n);
int threads();

// Runs a scope with n OpenMP threads (n <= 0: unchanged), then restores the caller's count
// (a plan's tiny steps and their optimizer update run on one thread: Plan::threads()).
class ThreadScope {
 public:
  explicit ThreadScope(int n);
  ~ThreadScope();
  ThreadScope(const ThreadScope&) = delete;
  ThreadScope& operator=(const ThreadScope&) = delete;

 private:
  int prev_;
};
int hardware_threads();

// Denormals: flush-to-zero + denormals-are-zero (x86 MXCSR FTZ|DAZ) on, by default, in every
// thread that computes. Without it a model that fits its batch drives gradients and momentum
// into the denormal range, where each float operation costs ~100 cycles (issue 11: 4-6x slower
// batch-1 steps). set_flush_denormals sets the process-wide choice and applies it to the calling
// thread and its OpenMP workers; threads started later call apply_denormal_mode() (set_threads
// does). thread_flushes_denormals() reads the calling thread's MXCSR.
void set_flush_denormals(bool on);
bool flush_denormals();
void apply_denormal_mode();
bool thread_flushes_denormals();

std::string version();    // "2.6.3 (OMP)"
std::string isa();        // e.g. "avx512_core"
std::string cpu_model();  // from /proc/cpuinfo

// Scratchpads are user-managed (oneDNN's library mode shares one buffer per thread, kept in a
// thread_local of whichever thread creates or destroys a primitive: unsafe once a batch-parallel
// plan's members run on OpenMP workers, issue 11). Every primitive we create takes
// with_user_scratchpad(attr); scratchpad(pd_desc) gives the memory to pass as DNNL_ARG_SCRATCHPAD
// (an empty memory when the primitive needs none: add_scratchpad then adds nothing). While a
// ScratchArena is open on this thread (Network::plan), those memories share one buffer that the
// arena allocates at close(), as large as the largest: the primitives of one plan run one after
// another, so they reuse one cache-warm buffer as in library mode, and plans run side by side
// each have their own. Without an arena each memory owns its buffer. Those made while a
// ScratchLane(1) is open on this thread share a second buffer of the arena instead: the passes
// a two-lane backward (Plan::two_lanes) runs on a second thread beside the first's, one after
// another there.
dnnl::primitive_attr& with_user_scratchpad(dnnl::primitive_attr& attr);
dnnl::primitive_attr user_scratchpad_attr();
memory scratchpad(const memory::desc& md);
void add_scratchpad(std::unordered_map<int, memory>& args, const memory& scratch);
class ScratchArena {
 public:
  ScratchArena();
  ~ScratchArena();
  ScratchArena(const ScratchArena&) = delete;
  ScratchArena& operator=(const ScratchArena&) = delete;
  // Allocates the shared buffer, points every memory handed out at it and closes the arena;
  // the buffer must outlive the primitives (the plan keeps it).
  std::shared_ptr<void> close();

 private:
  friend memory scratchpad(const memory::desc& md);
  ScratchArena* prev_;
  std::vector<memory> mems_[2];  // per lane
  size_t bytes_[2] = {};
  bool open_ = true;
};
// While open, this thread's scratchpads go to lane `lane` (0 or 1) of the open arena.
class ScratchLane {
 public:
  explicit ScratchLane(int lane);
  ~ScratchLane();
  ScratchLane(const ScratchLane&) = delete;
  ScratchLane& operator=(const ScratchLane&) = delete;

 private:
  int prev_;
};
// A reorder whose scratchpad is user-managed, and its execution.
struct Reorder {
  dnnl::reorder prim;
  memory scratch;
  Reorder() = default;
  Reorder(const memory& from, const memory& to);
  void execute(const memory& from, const memory& to) const;
  explicit operator bool() const { return bool(prim); }

 private:
  mutable std::unordered_map<int, memory> args_;
};
// Activation layouts: images NHWC (fast on CPU for these small-channel nets), vectors NC.
// Logical dims are always {N, C, H, W} or {N, F}.
memory::desc activation_md(const std::vector<int64_t>& dims);
// Row-major ("canonical") descriptor: nchw / oihw / nc / oi / x as the rank says.
memory::desc plain_md(const std::vector<int64_t>& dims);
// Whether a backward-weights primitive sums the bias gradient from +0 (oneDNN 2.6's brgemm
// implementations: a -0 in diff_dst at batch 1 gives +0) rather than from the first row (gemm:jit
// keeps -0). Only the signs of zeros depend on it (dense_fused.hpp matches them).
bool bias_gradient_from_zero(const dnnl::primitive_desc_base& pd);

// A memory in a primitive's preferred layout fed from / flushed to a canonical one:
// when the layouts agree, `mem` IS the canonical memory and no reorder runs.
// Where TileReorder handles the pair (AVX-512, the blocked layouts conv and dense weights take),
// it copies instead of oneDNN's reorder (2.4-7.7x faster on keras_cifar_cnn's conv weights,
// bench_layers' BM_WeightCopy; tile_reorder.hpp).
struct LayoutBridge {
  memory mem;
  Reorder to_prim, to_user;  // empty when layouts agree or `tile` copies
  std::optional<TileReorder> tile;
  bool needed = false;
  void bind(const memory& user, const memory::desc& prim_md, bool into_prim, bool out_of_prim);
  void pull(const memory& user);  // user -> mem (if needed)
  void push(const memory& user);  // mem -> user (if needed)
};

}  // namespace sgdbench::dnnl_ctx
