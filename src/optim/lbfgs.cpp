// L-BFGS, a line-by-line port of torch.optim.LBFGS (PyTorch 1.13, lbfgs.py) so that both give
// the same iterates: the two-loop recursion over the last history_size pairs (s, y), the first
// iteration's step min(1, 1/|g|_1) * lr, and the strong-Wolfe line search with cubic
// interpolation (_strong_wolfe, _cubic_interpolate). Vectors are fp32 like PyTorch's; dot
// products are summed in double. Not: weight decay (PyTorch's LBFGS has none).
#include <algorithm>
#include <cmath>
#include <deque>
#include <vector>

#include <cstdio>

#include "optim/optimizer.hpp"

namespace sgdbench {

namespace {

using Vec = std::vector<float>;

double dot(const float* a, const float* b, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; ++i) s += double(a[i]) * double(b[i]);
  return s;
}
double abs_max(const float* a, size_t n) {  // NaN if any element is (as torch's abs().max())
  float m = 0;
  for (size_t i = 0; i < n; ++i) {
    if (std::isnan(a[i])) return a[i];
    m = std::max(m, std::fabs(a[i]));
  }
  return m;
}
void axpy(float* y, double a, const float* x, size_t n) {  // y += a x
  const float fa = float(a);
  for (size_t i = 0; i < n; ++i) y[i] += fa * x[i];
}

double cubic_interpolate(double x1, double f1, double g1, double x2, double f2, double g2, double lo, double hi) {
  const double d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2);
  const double d2_square = d1 * d1 - g1 * g2;
  if (d2_square >= 0) {
    const double d2 = std::sqrt(d2_square);
    const double min_pos = x1 <= x2 ? x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
                                    : x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2));
    return std::min(std::max(min_pos, lo), hi);
  }
  return (lo + hi) / 2;
}
double cubic_interpolate(double x1, double f1, double g1, double x2, double f2, double g2) {
  return cubic_interpolate(x1, f1, g1, x2, f2, g2, std::min(x1, x2), std::max(x1, x2));
}

class Lbfgs : public Optimizer {
 public:
  explicit Lbfgs(const OptimizerConfig& c) : c_(c) {
    if (c_.max_eval <= 0) c_.max_eval = c_.max_iter * 5 / 4;
  }
  bool needs_closure() const override { return true; }
  std::string describe() const override { return "lbfgs"; }
  void begin(size_t, double) override {}
  void update(float*, const float*, size_t, size_t, double, float) override {}

  void step_with(float* p, float* grads, size_t n, double lr, double loss,
                 const std::function<double()>& closure) override {
    n_ = n, p_ = p, g_ = grads, closure_ = &closure;
    Vec flat_grad(grads, grads + n);
    int64_t current_evals = 1;
    ++t_;
    if (abs_max(flat_grad.data(), n) <= c_.tolerance_grad) return;
    if (d_.size() != n) d_.assign(n, 0.f), prev_grad_.assign(n, 0.f);
    int64_t n_iter = 0;
    while (n_iter < c_.max_iter) {
      ++n_iter, ++iters_;
      if (iters_ == 1) {
        for (size_t i = 0; i < n; ++i) d_[i] = -flat_grad[i];
        dirs_.clear(), stps_.clear(), ro_.clear();
        h_diag_ = 1;
      } else {
        Vec y(n), s(n);
        for (size_t i = 0; i < n; ++i) y[i] = flat_grad[i] - prev_grad_[i], s[i] = d_[i] * float(t_step_);
        const double ys = dot(y.data(), s.data(), n);
        if (ys > 1e-10) {
          if (int64_t(dirs_.size()) == c_.history_size) dirs_.pop_front(), stps_.pop_front(), ro_.pop_front();
          h_diag_ = ys / dot(y.data(), y.data(), n);
          dirs_.push_back(std::move(y)), stps_.push_back(std::move(s)), ro_.push_back(1.0 / ys);
        }
        const size_t k = dirs_.size();
        std::vector<double> al(k);
        Vec q(n);
        for (size_t i = 0; i < n; ++i) q[i] = -flat_grad[i];
        for (size_t i = k; i-- > 0;) {
          al[i] = dot(stps_[i].data(), q.data(), n) * ro_[i];
          axpy(q.data(), -al[i], dirs_[i].data(), n);
        }
        const float h = float(h_diag_);
        for (size_t i = 0; i < n; ++i) d_[i] = q[i] * h;
        for (size_t i = 0; i < k; ++i) {
          const double be = dot(dirs_[i].data(), d_.data(), n) * ro_[i];
          axpy(d_.data(), al[i] - be, stps_[i].data(), n);
        }
      }
      prev_grad_ = flat_grad;
      const double prev_loss = loss;
      if (iters_ == 1) {
        double l1 = 0;
        for (size_t i = 0; i < n; ++i) l1 += std::fabs(double(flat_grad[i]));
        t_step_ = std::min(1.0, 1.0 / l1) * lr;
      } else {
        t_step_ = lr;
      }
      const double gtd = dot(flat_grad.data(), d_.data(), n);
      if (gtd > -c_.tolerance_change) break;
      int64_t ls_evals = 0;
      bool opt_cond = false;
      if (c_.line_search == "strong_wolfe") {
        const Vec x_init(p, p + n);
        ls_evals = strong_wolfe(x_init, loss, flat_grad, gtd);  // updates loss, flat_grad, t_step_
        std::copy(x_init.begin(), x_init.end(), p);
        axpy(p, t_step_, d_.data(), n);
        std::copy(flat_grad.begin(), flat_grad.end(), grads);  // the gradient at the new point
        opt_cond = abs_max(flat_grad.data(), n) <= c_.tolerance_grad;
      } else {
        axpy(p, t_step_, d_.data(), n);
        if (n_iter != c_.max_iter) {
          loss = closure();
          flat_grad.assign(grads, grads + n);
          opt_cond = abs_max(flat_grad.data(), n) <= c_.tolerance_grad;
          ls_evals = 1;
        }
      }
      current_evals += ls_evals;
      if (n_iter == c_.max_iter || current_evals >= c_.max_eval || opt_cond) break;
      if (abs_max(d_.data(), n) * std::fabs(t_step_) <= c_.tolerance_change) break;
      if (std::fabs(loss - prev_loss) < c_.tolerance_change) break;
    }
  }

 private:
  // Loss and gradient at x + t d (params restored to x afterwards).
  double evaluate(const Vec& x, double t, Vec& g) {
    std::copy(x.begin(), x.end(), p_);
    axpy(p_, t, d_.data(), n_);
    const double f = (*closure_)();
    g.assign(g_, g_ + n_);
    std::copy(x.begin(), x.end(), p_);
    return f;
  }

  // _strong_wolfe: on return f, g and t_step_ are the accepted point's; returns the evaluations.
  int64_t strong_wolfe(const Vec& x, double& f_io, Vec& g_io, double gtd) {
    // PyTorch calls _strong_wolfe without its tolerance_change: the zoom uses the default 1e-9.
    const double c1 = 1e-4, c2 = 0.9, tol = 1e-9;
    const int max_ls = 25;
    const double f = f_io, d_norm = abs_max(d_.data(), n_);
    double t = t_step_;
    Vec g_new;
    double f_new = evaluate(x, t, g_new);
    int64_t evals = 1;
    double gtd_new = dot(g_new.data(), d_.data(), n_);
    double t_prev = 0, f_prev = f, gtd_prev = gtd;
    Vec g_prev = g_io;
    bool done = false;
    int ls_iter = 0;
    double br[2] = {0, 0}, br_f[2] = {0, 0}, br_gtd[2] = {0, 0};
    Vec br_g[2];
    int size = 0;  // 1: one point (done), 2: a bracket
    while (ls_iter < max_ls) {
      if (f_new > f + c1 * t * gtd || (ls_iter > 1 && f_new >= f_prev)) {
        br[0] = t_prev, br[1] = t, br_f[0] = f_prev, br_f[1] = f_new, br_g[0] = g_prev, br_g[1] = g_new;
        br_gtd[0] = gtd_prev, br_gtd[1] = gtd_new, size = 2;
        break;
      }
      if (std::fabs(gtd_new) <= -c2 * gtd) {
        br[0] = t, br_f[0] = f_new, br_g[0] = g_new, size = 1, done = true;
        break;
      }
      if (gtd_new >= 0) {
        br[0] = t_prev, br[1] = t, br_f[0] = f_prev, br_f[1] = f_new, br_g[0] = g_prev, br_g[1] = g_new;
        br_gtd[0] = gtd_prev, br_gtd[1] = gtd_new, size = 2;
        break;
      }
      const double min_step = t + 0.01 * (t - t_prev), max_step = t * 10, tmp = t;
      t = cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, min_step, max_step);
      t_prev = tmp, f_prev = f_new, g_prev = g_new, gtd_prev = gtd_new;
      f_new = evaluate(x, t, g_new);
      ++evals;
      gtd_new = dot(g_new.data(), d_.data(), n_);
      ++ls_iter;
    }
    if (ls_iter == max_ls) {  // PyTorch keeps its bracket's gtd from before (unset: we use 0)
      br[0] = 0, br[1] = t, br_f[0] = f, br_f[1] = f_new, br_g[0] = g_io, br_g[1] = g_new, size = 2;
    }
    bool insuf_progress = false;
    int low = 0, high = 1;
    if (size == 2 && !(br_f[0] <= br_f[1])) low = 1, high = 0;
    while (!done && ls_iter < max_ls) {
      if (std::fabs(br[1] - br[0]) * d_norm < tol) break;
      t = cubic_interpolate(br[0], br_f[0], br_gtd[0], br[1], br_f[1], br_gtd[1]);
      const double bmax = std::max(br[0], br[1]), bmin = std::min(br[0], br[1]);
      const double eps = 0.1 * (bmax - bmin);
      if (std::min(bmax - t, t - bmin) < eps) {
        if (insuf_progress || t >= bmax || t <= bmin) {
          t = std::fabs(t - bmax) < std::fabs(t - bmin) ? bmax - eps : bmin + eps;
          insuf_progress = false;
        } else {
          insuf_progress = true;
        }
      } else {
        insuf_progress = false;
      }
      f_new = evaluate(x, t, g_new);
      ++evals;
      gtd_new = dot(g_new.data(), d_.data(), n_);
      ++ls_iter;
      if (f_new > f + c1 * t * gtd || f_new >= br_f[low]) {
        br[high] = t, br_f[high] = f_new, br_g[high] = g_new, br_gtd[high] = gtd_new;
        if (br_f[0] <= br_f[1]) low = 0, high = 1;
        else low = 1, high = 0;
      } else {
        if (std::fabs(gtd_new) <= -c2 * gtd) {
          done = true;
        } else if (gtd_new * (br[high] - br[low]) >= 0) {
          br[high] = br[low], br_f[high] = br_f[low], br_g[high] = br_g[low], br_gtd[high] = br_gtd[low];
        }
        br[low] = t, br_f[low] = f_new, br_g[low] = g_new, br_gtd[low] = gtd_new;
      }
    }
    t_step_ = br[low], f_io = br_f[low], g_io = br_g[low];
    return evals;
  }

  OptimizerConfig c_;
  size_t n_ = 0;
  float *p_ = nullptr, *g_ = nullptr;
  const std::function<double()>* closure_ = nullptr;
  Vec d_, prev_grad_;
  std::deque<Vec> dirs_, stps_;
  std::deque<double> ro_;
  double h_diag_ = 1, t_step_ = 0;
  int64_t iters_ = 0;  // PyTorch's state['n_iter'] over all steps
};

}  // namespace

std::unique_ptr<Optimizer> make_lbfgs(const OptimizerConfig& c) { return std::make_unique<Lbfgs>(c); }

std::string optimizer_memory_problem(const OptimizerConfig& c, size_t n) {
  if (c.name != "lbfgs") return "";
  constexpr double kLimit = 4.0 * (1 << 30);  // bytes, as the largest tensor a batch may need
  const double bytes = (2.0 * double(c.history_size) + 6.0) * double(n) * sizeof(float);
  if (bytes <= kLimit) return "";
  char b[256];
  std::snprintf(b, sizeof b, "%lld pairs of %zu-float vectors would need %.1f GiB (limit 4 GiB): use a smaller "
                "history_size", (long long)c.history_size, n, bytes / double(1 << 30));
  return b;
}

}  // namespace sgdbench
