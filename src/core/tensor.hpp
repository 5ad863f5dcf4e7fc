// Tensor: owning, 64-byte aligned fp32 buffer with a Shape. Row-major (NCHW for images).
// Not a view type and not layout-aware: oneDNN layouts live in src/dnnl/.
#pragma once
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <utility>

#include "core/shape.hpp"

namespace sgdbench {

struct AlignedFree {
  void operator()(float* p) const { std::free(p); }
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(Shape s) : shape_(std::move(s)) { allocate(shape_.numel()); }
  Tensor(const Tensor& o) : shape_(o.shape_) {
    allocate(o.size_);
    if (size_) std::memcpy(data_.get(), o.data_.get(), size_ * sizeof(float));
  }
  Tensor& operator=(const Tensor& o) {
    if (this != &o) *this = Tensor(o);
    return *this;
  }
  // A moved-from Tensor is empty (as Tensor()): size() 0, data() null, no shape.
  Tensor(Tensor&& o) noexcept
      : shape_(std::exchange(o.shape_, Shape{})), size_(std::exchange(o.size_, 0)), data_(std::move(o.data_)) {}
  Tensor& operator=(Tensor&& o) noexcept {
    if (this != &o) {
      shape_ = std::exchange(o.shape_, Shape{});
      size_ = std::exchange(o.size_, 0);
      data_ = std::move(o.data_);
    }
    return *this;
  }

  const Shape& shape() const { return shape_; }
  size_t size() const { return size_; }
  float* data() { return data_.get(); }
  const float* data() const { return data_.get(); }
  float& operator[](size_t i) { return data_.get()[i]; }
  float operator[](size_t i) const { return data_.get()[i]; }
  float* begin() { return data(); }
  float* end() { return data() + size_; }
  const float* begin() const { return data(); }
  const float* end() const { return data() + size_; }

 private:
  void allocate(int64_t n) {
    size_ = static_cast<size_t>(n);
    if (n == 0) return;
    size_t bytes = (size_ * sizeof(float) + 63) / 64 * 64;
    float* p = static_cast<float*>(std::aligned_alloc(64, bytes));
    if (!p) throw std::bad_alloc();
    std::memset(p, 0, bytes);
    data_.reset(p);
  }
  Shape shape_;
  size_t size_ = 0;
  std::unique_ptr<float, AlignedFree> data_;
};

}  // namespace sgdbench
