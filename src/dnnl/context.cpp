// oneDNN 2.6 engine, stream, threads, version/ISA reporting and layout helpers.
#include "dnnl/context.hpp"

#include <omp.h>
#include <xmmintrin.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <fstream>
#include <thread>

namespace sgdbench::dnnl_ctx {

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}
dnnl::stream& stream() {
  thread_local dnnl::stream s(engine());  // streams are not thread-safe: one per thread
  return s;
}

int hardware_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n ? static_cast<int>(n) : 1;
}
namespace {
std::atomic<bool> g_flush{true};
constexpr unsigned kFtzDaz = 0x8040;  // MXCSR bit 15 flush-to-zero, bit 6 denormals-are-zero

void apply_here() {
  const unsigned m = _mm_getcsr();
  _mm_setcsr(g_flush ? (m | kFtzDaz) : (m & ~kFtzDaz));
}
}  // namespace

// Per calling thread (OpenMP's nthreads-var is per thread), so runs side by side can each use a share.
void set_threads(int n) {
  omp_set_num_threads(n > 0 ? n : hardware_threads());
  apply_denormal_mode();
}
int threads() { return omp_get_max_threads(); }

ThreadScope::ThreadScope(int n) : prev_(omp_get_max_threads()) {
  if (n > 0 && n != prev_)
    omp_set_num_threads(n);
  else
    prev_ = 0;
}
ThreadScope::~ThreadScope() {
  if (prev_) omp_set_num_threads(prev_);
}

void set_flush_denormals(bool on) {
  g_flush = on;
  apply_denormal_mode();
}
bool flush_denormals() { return g_flush; }

void apply_denormal_mode() {
  apply_here();
  // Every worker of this thread's pool (libgomp keeps them for later regions of the same size;
  // threads it creates later inherit the creator's MXCSR).
#pragma omp parallel
  apply_here();
}

bool thread_flushes_denormals() { return (_mm_getcsr() & kFtzDaz) == kFtzDaz; }

std::string version() {
  const dnnl_version_t* v = dnnl_version();
  std::string s = std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch);
  s += v->cpu_runtime == DNNL_RUNTIME_OMP ? " (OMP)" : v->cpu_runtime == DNNL_RUNTIME_TBB ? " (TBB)" : "";
  return s;
}

std::string isa() {
  using dnnl::cpu_isa;
  switch (dnnl::get_effective_cpu_isa()) {
    case cpu_isa::sse41:
      return "sse41";
    case cpu_isa::avx:
      return "avx";
    case cpu_isa::avx2:
      return "avx2";
    case cpu_isa::avx2_vnni:
      return "avx2_vnni";
    case cpu_isa::avx512_core:
      return "avx512_core";
    case cpu_isa::avx512_core_vnni:
      return "avx512_core_vnni";
    case cpu_isa::avx512_core_bf16:
      return "avx512_core_bf16";
    case cpu_isa::avx512_core_amx:
      return "avx512_core_amx";
    default:
      return "other";
  }
}

std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("model name", 0) == 0) {
      auto p = line.find(':');
      if (p != std::string::npos) return line.substr(p + 2);
    }
  }
  return "unknown";
}

memory::desc activation_md(const std::vector<int64_t>& dims) {
  memory::dims d(dims.begin(), dims.end());
  return memory::desc(d, dt::f32, dims.size() == 4 ? tag::nhwc : tag::nc);
}

bool bias_gradient_from_zero(const dnnl::primitive_desc_base& pd) {
  return std::string(pd.impl_info_str()).rfind("brgemm", 0) == 0;
}

memory::desc plain_md(const std::vector<int64_t>& dims) {
  memory::dims d(dims.begin(), dims.end());
  switch (dims.size()) {
    case 1:
      return memory::desc(d, dt::f32, tag::x);
    case 2:
      return memory::desc(d, dt::f32, tag::nc);
    case 4:
      return memory::desc(d, dt::f32, tag::nchw);
    default:
      return memory::desc(d, dt::f32, tag::any);
  }
}

dnnl::primitive_attr& with_user_scratchpad(dnnl::primitive_attr& attr) {
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}
dnnl::primitive_attr user_scratchpad_attr() {
  dnnl::primitive_attr a;
  return with_user_scratchpad(a);
}

namespace {
thread_local ScratchArena* t_arena = nullptr;
thread_local int t_lane = 0;
}

ScratchLane::ScratchLane(int lane) : prev_(t_lane) { t_lane = lane; }
ScratchLane::~ScratchLane() { t_lane = prev_; }

ScratchArena::ScratchArena() : prev_(t_arena) { t_arena = this; }
ScratchArena::~ScratchArena() {
  if (open_) t_arena = prev_;
}

memory scratchpad(const memory::desc& md) {
  const size_t bytes = md.get_size();
  if (bytes == 0) return memory();
  ScratchArena* a = t_arena;
  if (!a) return memory(md, engine());
  memory m(md, engine(), DNNL_MEMORY_NONE);
  a->mems_[t_lane].push_back(m);
  a->bytes_[t_lane] = std::max(a->bytes_[t_lane], bytes);
  return m;
}

std::shared_ptr<void> ScratchArena::close() {
  t_arena = prev_;
  open_ = false;
  // One allocation; lane 1's buffer starts on a 64-byte line of its own.
  const size_t first = (bytes_[0] + 63) / 64 * 64, total = first + (bytes_[1] + 63) / 64 * 64;
  if (total == 0) return nullptr;
  void* p = std::aligned_alloc(64, total);
  if (!p) throw std::bad_alloc();
  std::shared_ptr<void> buf(p, [](void* q) { std::free(q); });
  for (auto& m : mems_[0]) m.set_data_handle(p);
  for (auto& m : mems_[1]) m.set_data_handle(static_cast<char*>(p) + first);
  return buf;
}

void add_scratchpad(std::unordered_map<int, memory>& args, const memory& scratch) {
  if (scratch) args[DNNL_ARG_SCRATCHPAD] = scratch;
}

Reorder::Reorder(const memory& from, const memory& to) {
  dnnl::reorder::primitive_desc pd(from, to, user_scratchpad_attr());
  prim = dnnl::reorder(pd);
  scratch = scratchpad(pd.scratchpad_desc());
}
void Reorder::execute(const memory& from, const memory& to) const {
  // The map is kept (no allocation per step: a weight reorder runs every step); reorders share it
  // only within one thread's plan, as their primitives' other state.
  if (args_.empty()) add_scratchpad(args_, scratch);
  args_[DNNL_ARG_FROM] = from;
  args_[DNNL_ARG_TO] = to;
  prim.execute(stream(), args_);
}

void LayoutBridge::bind(const memory& user, const memory::desc& prim_md, bool into_prim, bool out_of_prim) {
  needed = user.get_desc() != prim_md;
  if (!needed) {
    mem = user;
    return;
  }
  mem = memory(prim_md, engine());
  tile = TileReorder::make(user.get_desc(), prim_md);
  if (tile) {
    // The padded area of a blocked layout must read zero; the tile copies never write it.
    std::memset(mem.get_data_handle(), 0, prim_md.get_size());
    return;
  }
  if (into_prim) to_prim = Reorder(user, mem);
  if (out_of_prim) to_user = Reorder(mem, user);
}

void LayoutBridge::pull(const memory& user) {
  if (!needed) return;
  if (tile)
    tile->to_blocked(static_cast<const float*>(user.get_data_handle()), static_cast<float*>(mem.get_data_handle()));
  else
    to_prim.execute(user, mem);
}
void LayoutBridge::push(const memory& user) {
  if (!needed) return;
  if (tile)
    tile->to_plain(static_cast<const float*>(mem.get_data_handle()), static_cast<float*>(user.get_data_handle()));
  else
    to_user.execute(mem, user);
}

}  // namespace sgdbench::dnnl_ctx
