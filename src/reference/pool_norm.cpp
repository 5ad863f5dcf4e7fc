// Naive reference loops for average pooling, global average pooling and batch normalisation
// (see pool_norm.hpp).
#include "reference/pool_norm.hpp"

#include <cmath>

namespace sgdbench::ref {

namespace {
inline size_t at4(const std::vector<int64_t>& d, int64_t a, int64_t b, int64_t c, int64_t e) {
  return size_t(((a * d[1] + b) * d[2] + c) * d[3] + e);
}

// View of x as (N, C, S): S = H*W for an image, 1 for a vector (N,F); element (n, c, i).
struct NCS {
  int64_t N, C, S;
  explicit NCS(const T& x) : N(x.dims[0]), C(x.dims[1]), S(x.dims.size() == 4 ? x.dims[2] * x.dims[3] : 1) {}
  size_t at(int64_t n, int64_t c, int64_t i) const { return size_t((n * C + c) * S + i); }
};
}  // namespace

T avgpool_forward(const T& x, int64_t k, int64_t s, int64_t p) {
  int64_t N = x.dims[0], C = x.dims[1], H = x.dims[2], W = x.dims[3];
  int64_t OH = (H + 2 * p - k) / s + 1, OW = (W + 2 * p - k) / s + 1;
  T y({N, C, OH, OW});
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          double sum = 0;
          for (int64_t kh = 0; kh < k; ++kh)
            for (int64_t kw = 0; kw < k; ++kw) {
              int64_t ih = oh * s - p + kh, iw = ow * s - p + kw;
              if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;  // padding: adds 0, still counted
              sum += x[at4(x.dims, n, c, ih, iw)];
            }
          y[at4(y.dims, n, c, oh, ow)] = sum / double(k * k);
        }
  return y;
}

T avgpool_backward(const T& x, const T& dy, int64_t k, int64_t s, int64_t p) {
  int64_t N = x.dims[0], C = x.dims[1], H = x.dims[2], W = x.dims[3], OH = dy.dims[2], OW = dy.dims[3];
  T dx(x.dims);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          double g = dy[at4(dy.dims, n, c, oh, ow)] / double(k * k);
          for (int64_t kh = 0; kh < k; ++kh)
            for (int64_t kw = 0; kw < k; ++kw) {
              int64_t ih = oh * s - p + kh, iw = ow * s - p + kw;
              if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
              dx[at4(x.dims, n, c, ih, iw)] += g;
            }
        }
  return dx;
}

T global_avgpool_forward(const T& x) {
  int64_t N = x.dims[0], C = x.dims[1], H = x.dims[2], W = x.dims[3];
  T y({N, C, 1, 1});
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      double sum = 0;
      for (int64_t h = 0; h < H; ++h)
        for (int64_t w = 0; w < W; ++w) sum += x[at4(x.dims, n, c, h, w)];
      y[size_t(n * C + c)] = sum / double(H * W);
    }
  return y;
}

T global_avgpool_backward(const T& x, const T& dy) {
  int64_t N = x.dims[0], C = x.dims[1], H = x.dims[2], W = x.dims[3];
  T dx(x.dims);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t w = 0; w < W; ++w) dx[at4(x.dims, n, c, h, w)] = dy[size_t(n * C + c)] / double(H * W);
  return dx;
}

T batchnorm_forward(const T& x, const T& gamma, const T& beta, double eps, bool training, T& running_mean,
                    T& running_var, double momentum) {
  const NCS v(x);
  const double M = double(v.N * v.S);  // values per channel
  T y(x.dims);
  for (int64_t c = 0; c < v.C; ++c) {
    double mean = running_mean[size_t(c)], var = running_var[size_t(c)];
    if (training) {
      double sum = 0;
      for (int64_t n = 0; n < v.N; ++n)
        for (int64_t i = 0; i < v.S; ++i) sum += x[v.at(n, c, i)];
      mean = sum / M;
      double sq = 0;
      for (int64_t n = 0; n < v.N; ++n)
        for (int64_t i = 0; i < v.S; ++i) sq += (x[v.at(n, c, i)] - mean) * (x[v.at(n, c, i)] - mean);
      var = sq / M;  // biased: used to normalise
      double unbiased = M > 1 ? sq / (M - 1) : var;
      running_mean[size_t(c)] = (1 - momentum) * running_mean[size_t(c)] + momentum * mean;
      running_var[size_t(c)] = (1 - momentum) * running_var[size_t(c)] + momentum * unbiased;
    }
    for (int64_t n = 0; n < v.N; ++n)
      for (int64_t i = 0; i < v.S; ++i)
        y[v.at(n, c, i)] = (x[v.at(n, c, i)] - mean) / std::sqrt(var + eps) * gamma[size_t(c)] + beta[size_t(c)];
  }
  return y;
}

void batchnorm_backward(const T& x, const T& gamma, const T& dy, double eps, T& dx, T& dgamma, T& dbeta) {
  const NCS v(x);
  const double M = double(v.N * v.S);
  dx = T(x.dims);
  dgamma = T({v.C});
  dbeta = T({v.C});
  for (int64_t c = 0; c < v.C; ++c) {
    double mean = 0, var = 0;
    for (int64_t n = 0; n < v.N; ++n)
      for (int64_t i = 0; i < v.S; ++i) mean += x[v.at(n, c, i)] / M;
    for (int64_t n = 0; n < v.N; ++n)
      for (int64_t i = 0; i < v.S; ++i) var += (x[v.at(n, c, i)] - mean) * (x[v.at(n, c, i)] - mean) / M;
    const double inv_std = 1.0 / std::sqrt(var + eps);
    // xhat = (x - mean) * inv_std, y = gamma * xhat + beta.
    double sum_dy = 0, sum_dy_xhat = 0;
    for (int64_t n = 0; n < v.N; ++n)
      for (int64_t i = 0; i < v.S; ++i) {
        double xhat = (x[v.at(n, c, i)] - mean) * inv_std;
        sum_dy += dy[v.at(n, c, i)];
        sum_dy_xhat += dy[v.at(n, c, i)] * xhat;
      }
    dbeta[size_t(c)] = sum_dy;
    dgamma[size_t(c)] = sum_dy_xhat;
    // dx = gamma * inv_std * (dy - mean(dy) - xhat * mean(dy * xhat)): the textbook formula, mean
    // and variance differentiated through.
    for (int64_t n = 0; n < v.N; ++n)
      for (int64_t i = 0; i < v.S; ++i) {
        double xhat = (x[v.at(n, c, i)] - mean) * inv_std;
        dx[v.at(n, c, i)] = gamma[size_t(c)] * inv_std * (dy[v.at(n, c, i)] - sum_dy / M - xhat * sum_dy_xhat / M);
      }
  }
}

}  // namespace sgdbench::ref
