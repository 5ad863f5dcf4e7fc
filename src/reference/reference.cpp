// Naive reference loops (see reference.hpp).
#include "reference/reference.hpp"

#include <cmath>

namespace sgdbench::ref {

namespace {
inline size_t at4(const std::vector<int64_t>& d, int64_t a, int64_t b, int64_t c, int64_t e) {
  return size_t(((a * d[1] + b) * d[2] + c) * d[3] + e);
}
}  // namespace

T conv2d_forward(const T& x, const T& w, const T& b, int64_t s, int64_t p) {
  int64_t N = x.dims[0], C = x.dims[1], H = x.dims[2], W = x.dims[3], O = w.dims[0], K = w.dims[2];
  int64_t OH = (H + 2 * p - K) / s + 1, OW = (W + 2 * p - K) / s + 1;
  T y({N, O, OH, OW});
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          double acc = b[size_t(o)];
          for (int64_t c = 0; c < C; ++c)
            for (int64_t kh = 0; kh < K; ++kh)
              for (int64_t kw = 0; kw < K; ++kw) {
                int64_t ih = oh * s - p + kh, iw = ow * s - p + kw;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                acc += x[at4(x.dims, n, c, ih, iw)] * w[at4(w.dims, o, c, kh, kw)];
              }
          y[at4(y.dims, n, o, oh, ow)] = acc;
        }
  return y;
}

void conv2d_backward(const T& x, const T& w, const T& dy, int64_t s, int64_t p, T& dx, T& dw, T& db) {
  int64_t N = x.dims[0], C = x.dims[1], H = x.dims[2], W = x.dims[3], O = w.dims[0], K = w.dims[2];
  int64_t OH = dy.dims[2], OW = dy.dims[3];
  dx = T(x.dims);
  dw = T(w.dims);
  db = T({O});
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          double g = dy[at4(dy.dims, n, o, oh, ow)];
          db[size_t(o)] += g;
          for (int64_t c = 0; c < C; ++c)
            for (int64_t kh = 0; kh < K; ++kh)
              for (int64_t kw = 0; kw < K; ++kw) {
                int64_t ih = oh * s - p + kh, iw = ow * s - p + kw;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                dw[at4(w.dims, o, c, kh, kw)] += g * x[at4(x.dims, n, c, ih, iw)];
                dx[at4(x.dims, n, c, ih, iw)] += g * w[at4(w.dims, o, c, kh, kw)];
              }
        }
}

T dense_forward(const T& x, const T& w, const T& b) {
  int64_t N = x.dims[0], I = int64_t(x.size()) / N, O = w.dims[0];
  T y({N, O});
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o) {
      double acc = b[size_t(o)];
      for (int64_t i = 0; i < I; ++i) acc += x[size_t(n * I + i)] * w[size_t(o * I + i)];
      y[size_t(n * O + o)] = acc;
    }
  return y;
}

void dense_backward(const T& x, const T& w, const T& dy, T& dx, T& dw, T& db) {
  int64_t N = x.dims[0], I = int64_t(x.size()) / N, O = w.dims[0];
  dx = T(x.dims);
  dw = T(w.dims);
  db = T({O});
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o) {
      double g = dy[size_t(n * O + o)];
      db[size_t(o)] += g;
      for (int64_t i = 0; i < I; ++i) {
        dw[size_t(o * I + i)] += g * x[size_t(n * I + i)];
        dx[size_t(n * I + i)] += g * w[size_t(o * I + i)];
      }
    }
}

T relu_forward(const T& x) {
  T y(x.dims);
  for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] > 0 ? x[i] : 0.0;
  return y;
}

T relu_backward(const T& x, const T& dy) {
  T dx(x.dims);
  for (size_t i = 0; i < x.size(); ++i) dx[i] = x[i] > 0 ? dy[i] : 0.0;
  return dx;
}

namespace {
// Calls f(n, c, oh, ow, index of the window maximum in x).
template <class F>
void for_each_window(const T& x, int64_t k, int64_t s, const std::vector<int64_t>& yd, F f) {
  for (int64_t n = 0; n < yd[0]; ++n)
    for (int64_t c = 0; c < yd[1]; ++c)
      for (int64_t oh = 0; oh < yd[2]; ++oh)
        for (int64_t ow = 0; ow < yd[3]; ++ow) {
          size_t best = at4(x.dims, n, c, oh * s, ow * s);
          for (int64_t kh = 0; kh < k; ++kh)
            for (int64_t kw = 0; kw < k; ++kw) {
              size_t i = at4(x.dims, n, c, oh * s + kh, ow * s + kw);
              if (x[i] > x[best]) best = i;
            }
          f(at4(yd, n, c, oh, ow), best);
        }
}
std::vector<int64_t> pool_dims(const T& x, int64_t k, int64_t s) {
  return {x.dims[0], x.dims[1], (x.dims[2] - k) / s + 1, (x.dims[3] - k) / s + 1};
}
}  // namespace

T maxpool_forward(const T& x, int64_t k, int64_t s) {
  T y(pool_dims(x, k, s));
  for_each_window(x, k, s, y.dims, [&](size_t o, size_t best) { y[o] = x[best]; });
  return y;
}

T maxpool_backward(const T& x, const T& dy, int64_t k, int64_t s) {
  T dx(x.dims);
  for_each_window(x, k, s, dy.dims, [&](size_t o, size_t best) { dx[best] += dy[o]; });
  return dx;
}

T dropout_forward(const T& x, const T& mask) {
  T y(x.dims);
  for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * mask[i];
  return y;
}

T dropout_backward(const T& dy, const T& mask) { return dropout_forward(dy, mask); }

double softmax_cross_entropy(const T& z, const std::vector<int32_t>& labels, T* dz) {
  int64_t N = z.dims[0], K = z.dims[1];
  if (dz) *dz = T(z.dims);
  double total = 0;
  for (int64_t n = 0; n < N; ++n) {
    double m = z[size_t(n * K)];
    for (int64_t j = 1; j < K; ++j) m = std::max(m, z[size_t(n * K + j)]);
    double sum = 0;
    for (int64_t j = 0; j < K; ++j) sum += std::exp(z[size_t(n * K + j)] - m);
    double lse = m + std::log(sum);
    total += lse - z[size_t(n * K + labels[size_t(n)])];
    if (dz)
      for (int64_t j = 0; j < K; ++j)
        (*dz)[size_t(n * K + j)] = (std::exp(z[size_t(n * K + j)] - lse) - (j == labels[size_t(n)])) / double(N);
  }
  return total / double(N);
}

}  // namespace sgdbench::ref
