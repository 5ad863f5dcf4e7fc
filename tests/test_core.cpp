// Core types: Tensor's ownership rules.
#include <catch2/catch.hpp>

#include <utility>

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
