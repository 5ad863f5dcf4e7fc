// Shape: the dims of one sample (C,H,W) or of a batch (N,C,H,W); plain value type, no storage.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace sgdbench {

struct Shape {
  std::vector<int64_t> dims;
  Shape() = default;
  Shape(std::initializer_list<int64_t> d) : dims(d) {}
  explicit Shape(std::vector<int64_t> d) : dims(std::move(d)) {}
  size_t rank() const { return dims.size(); }
  int64_t operator[](size_t i) const { return dims[i]; }
  int64_t numel() const {
    int64_t n = 1;
    for (auto d : dims) n *= d;
    return n;
  }
  bool operator==(const Shape&) const = default;
  // "3x32x32"
  std::string str() const {
    std::string s;
    for (size_t i = 0; i < dims.size(); ++i) s += (i ? "x" : "") + std::to_string(dims[i]);
    return s;
  }
  // Batch shape: {n} followed by these dims.
  Shape batched(int64_t n) const {
    Shape s;
    s.dims.push_back(n);
    s.dims.insert(s.dims.end(), dims.begin(), dims.end());
    return s;
  }
};

}  // namespace sgdbench
