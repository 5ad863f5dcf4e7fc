// Core types: Tensor's ownership rules.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

#include "core/env.hpp"
#include "core/tensor.hpp"

using namespace sgdbench;

TEST_CASE("a moved-from Tensor is empty; copies are deep", "[core][tensor]") {
  Tensor a(Shape{2, 3});
  REQUIRE(a.size() == 6);
  for (size_t i = 0; i < a.size(); ++i) CHECK(a[i] == 0.f);  // zero-initialised
  a[4] = 7.f;
  Tensor c(a);  // copy: its own buffer, same values
  CHECK(c.size() == 6);
  CHECK(c.data() != a.data());
  CHECK(c[4] == 7.f);
  const float* buf = a.data();
  Tensor b(std::move(a));
  CHECK(b.data() == buf);
  CHECK(b.size() == 6);
  CHECK(b.shape().dims == std::vector<int64_t>{2, 3});
  CHECK(a.size() == 0);  // NOLINT(bugprone-use-after-move): what this test checks
  CHECK(a.data() == nullptr);
  CHECK(a.begin() == a.end());
  CHECK(a.shape().rank() == 0);
  Tensor d(Shape{4});
  d = std::move(b);
  CHECK(d.size() == 6);
  CHECK(d[4] == 7.f);
  CHECK(b.size() == 0);  // NOLINT(bugprone-use-after-move)
  CHECK(b.data() == nullptr);
  Tensor& self = d;
  d = std::move(self);  // self-move keeps the contents
  CHECK(d.size() == 6);
  CHECK(d[4] == 7.f);
}

namespace {
// env_switch(name, fallback) with `value` set (nullptr: unset), and what it wrote to stderr.
std::pair<bool, std::string> switch_with(const char* value, bool fallback, const char* name = "SGDBENCH_TEST_SWITCH") {
  if (value)
    ::setenv(name, value, 1);
  else
    ::unsetenv(name);
  std::fflush(stderr);
  FILE* cap = std::tmpfile();
  REQUIRE(cap);
  const int saved = ::dup(2);
  REQUIRE(saved >= 0);
  REQUIRE(::dup2(::fileno(cap), 2) == 2);
  const bool on = env_switch(name, fallback);
  std::fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);
  std::string text(256, '\0');
  std::rewind(cap);
  text.resize(std::fread(text.data(), 1, text.size(), cap));
  std::fclose(cap);
  ::unsetenv(name);
  return {on, text};
}
}  // namespace

TEST_CASE("env_switch: 1 on, 0 off, unset or empty the default, anything else the default and a warning",
          "[core][env]") {
  for (bool fallback : {false, true}) {
    const char* name = fallback ? "SGDBENCH_TEST_SWITCH_ON" : "SGDBENCH_TEST_SWITCH_OFF";
    CHECK(switch_with("1", fallback, name) == std::make_pair(true, std::string()));
    CHECK(switch_with("0", fallback, name) == std::make_pair(false, std::string()));
    CHECK(switch_with(nullptr, fallback, name) == std::make_pair(fallback, std::string()));
    CHECK(switch_with("", fallback, name) == std::make_pair(fallback, std::string()));
    for (const char* typo : {"off", "yes", "01", "1 "}) {
      const auto [on, text] = switch_with(typo, fallback, name);
      CHECK(on == fallback);
      CHECK(text == std::string("sgdbench: ") + name + "='" + typo + "' is not 0 or 1: using the default (" +
                        (fallback ? "1" : "0") + ")\n");
      // Read again (a Trainer per run): the same answer, no second line.
      CHECK(switch_with(typo, fallback, name) == std::make_pair(fallback, std::string()));
    }
  }
}
