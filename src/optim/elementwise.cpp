// Which ISA the optimizers' element loops run with (elementwise.hpp): the widest the CPU has, or
// SGDBENCH_UPDATE_ISA=avx512|avx2|baseline (for side-by-side measurements; results are the same).
#include "optim/elementwise.hpp"

#include <cstdio>
#include <cstdlib>

#include "core/error.hpp"

namespace sgdbench {

namespace {

UpdateIsa widest() {
  static const UpdateIsa w = [] {
    __builtin_cpu_init();  // this may run before libgcc's own initialiser
    if (__builtin_cpu_supports("avx512f")) return UpdateIsa::avx512;
    if (__builtin_cpu_supports("avx2")) return UpdateIsa::avx2;
    return UpdateIsa::baseline;
  }();
  return w;
}

// An unknown or unsupported SGDBENCH_UPDATE_ISA keeps the widest, with one line on stderr (a
// diagnostic switch, read before main: there is no command to fail yet, and results do not change).
UpdateIsa from_env() {
  const UpdateIsa w = widest();
  const char* e = std::getenv("SGDBENCH_UPDATE_ISA");
  if (!e || !*e) return w;
  for (UpdateIsa isa : {UpdateIsa::avx512, UpdateIsa::avx2, UpdateIsa::baseline})
    if (update_isa_name(isa) == e && int(isa) <= int(w)) return isa;
  std::fprintf(stderr, "sgdbench: SGDBENCH_UPDATE_ISA=%s is not one of avx512|avx2|baseline that this CPU runs; using %s\n",
               e, update_isa_name(w).c_str());
  return w;
}

UpdateIsa g_isa = from_env();

}  // namespace

UpdateIsa update_isa() { return g_isa; }

bool update_isa_supported(UpdateIsa isa) { return int(isa) <= int(widest()); }

std::string update_isa_name(UpdateIsa isa) {
  return isa == UpdateIsa::avx512 ? "avx512" : isa == UpdateIsa::avx2 ? "avx2" : "baseline";
}

void set_update_isa(UpdateIsa isa) {
  SGD_CHECK(update_isa_supported(isa), Usage, "this CPU cannot run the optimizer loops with " + update_isa_name(isa));
  g_isa = isa;
}

}  // namespace sgdbench
