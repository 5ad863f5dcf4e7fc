// Naive loop implementations of every layer, in double and row-major NCHW: the test oracle.
// Never used for training. Written for obviousness, not speed.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace sgdbench::ref {

struct T {
  std::vector<int64_t> dims;
  std::vector<double> v;
  T() = default;
  explicit T(std::vector<int64_t> d) : dims(std::move(d)) {
    int64_t n = 1;
    for (auto x : dims) n *= x;
    v.assign(size_t(n), 0.0);
  }
  size_t size() const { return v.size(); }
  double& operator[](size_t i) { return v[i]; }
  double operator[](size_t i) const { return v[i]; }
};

// x (N,C,H,W), w (O,C,K,K), b (O) -> y (N,O,OH,OW)
T conv2d_forward(const T& x, const T& w, const T& b, int64_t stride, int64_t pad);
// given dy (N,O,OH,OW): dx like x, dw like w, db like b
void conv2d_backward(const T& x, const T& w, const T& dy, int64_t stride, int64_t pad, T& dx, T& dw, T& db);

// x (N,I) (any trailing dims flattened row-major), w (O,I), b (O) -> y (N,O)
T dense_forward(const T& x, const T& w, const T& b);
void dense_backward(const T& x, const T& w, const T& dy, T& dx, T& dw, T& db);

T relu_forward(const T& x);
T relu_backward(const T& x, const T& dy);

// window k, stride s, no padding; ties go to the first maximum in row-major window order.
T maxpool_forward(const T& x, int64_t k, int64_t s);
T maxpool_backward(const T& x, const T& dy, int64_t k, int64_t s);

// mask holds 0 or 1/(1-p) per element
T dropout_forward(const T& x, const T& mask);
T dropout_backward(const T& dy, const T& mask);

// logits (N,K): mean cross-entropy; dlogits receives its gradient.
double softmax_cross_entropy(const T& logits, const std::vector<int32_t>& labels, T* dlogits);

}  // namespace sgdbench::ref
