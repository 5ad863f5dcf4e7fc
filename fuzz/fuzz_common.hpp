// Shared by the libFuzzer targets (fuzz/*.cpp): the input as a file (the readers take paths), and
// the rule every target checks: bad input is an sgdbench::Error (one clear line, an exit code),
// never a crash, a hang, an unbounded allocation or another exception (those abort the fuzzer).
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "core/error.hpp"

namespace fuzz {

// A directory of this process's own under /dev/shm (or /tmp), made once.
inline const std::string& scratch() {
  static const std::string d = [] {
    std::string base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    std::string t = base + "/sgdbench_fuzz_" + std::to_string(getpid());
    std::string cmd = "mkdir -p " + t;
    if (std::system(cmd.c_str()) != 0) std::abort();
    return t;
  }();
  return d;
}

inline std::string write_file(const std::string& name, const uint8_t* data, size_t size) {
  std::string p = scratch() + "/" + name;
  std::ofstream(p, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data), std::streamsize(size));
  return p;
}

// Runs f; an sgdbench::Error is the expected outcome for bad input. Its message must name
// something (never empty). Anything else escapes and libFuzzer reports it as a crash.
template <class F>
void expect_clean(F&& f) {
  try {
    f();
  } catch (const sgdbench::Error& e) {
    if (std::string(e.what()).empty()) std::abort();
  }
}

}  // namespace fuzz
