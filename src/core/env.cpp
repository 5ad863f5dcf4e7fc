#include "core/env.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>
#include <string>

namespace sgdbench {

bool env_switch(const char* name, bool fallback) {
  const char* e = std::getenv(name);
  if (!e || !*e) return fallback;
  if (std::strcmp(e, "1") == 0) return true;
  if (std::strcmp(e, "0") == 0) return false;
  // Once per variable and value (a Trainer reads SGDBENCH_PREFETCH per run: a sweep would repeat it).
  static std::mutex mu;
  static std::set<std::string> warned;
  std::lock_guard<std::mutex> lock(mu);
  if (warned.insert(std::string(name) + '=' + e).second)
    std::fprintf(stderr, "sgdbench: %s='%s' is not 0 or 1: using the default (%d)\n", name, e, fallback ? 1 : 0);
  return fallback;
}

}  // namespace sgdbench
