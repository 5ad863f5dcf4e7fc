// oneDNN 2.6 engine, stream, threads, version/ISA reporting and layout helpers.
#include "dnnl/context.hpp"

#include <omp.h>
#include <xmmintrin.h>

#include <atomic>
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

void LayoutBridge::bind(const memory& user, const memory::desc& prim_md, bool into_prim, bool out_of_prim) {
  needed = user.get_desc() != prim_md;
  if (!needed) {
    mem = user;
    return;
  }
  mem = memory(prim_md, engine());
  if (into_prim) to_prim = dnnl::reorder(user, mem);
  if (out_of_prim) to_user = dnnl::reorder(mem, user);
}

void LayoutBridge::pull(const memory& user) {
  if (needed) to_prim.execute(stream(), const_cast<memory&>(user), mem);
}
void LayoutBridge::push(const memory& user) {
  if (needed) to_user.execute(stream(), mem, const_cast<memory&>(user));
}

}  // namespace sgdbench::dnnl_ctx
