// The optimizers, each with its update rule (PyTorch's, defaults as PyTorch's). All updates are
// element-wise, so a parameter's result does not depend on the thread count.
#include <cmath>

#include "core/error.hpp"
#include "optim/optimizer.hpp"

namespace sgdbench {

namespace {

// SGD (torch.optim.SGD):  g = grad + wd*p
//   momentum: v = g on the first step, else v = mu*v + (1-dampening)*g
//             nesterov: d = g + mu*v, else d = v;   without momentum d = g
//   p -= lr * d
class Sgd : public Optimizer {
 public:
  explicit Sgd(const OptimizerConfig& c) : c_(c) {}
  void step(float* p, const float* g, size_t n, double lr) override {
    const float mu = float(c_.momentum), wd = float(c_.weight_decay), damp = float(1.0 - c_.dampening);
    const float flr = float(lr);
    if (mu == 0.f) {
#pragma omp parallel for if (n >= kParallelMin)
      for (size_t i = 0; i < n; ++i) p[i] -= flr * (g[i] + wd * p[i]);
    } else {
      if (v_.size() != n) v_.assign(n, 0.f);
      float* v = v_.data();
      // One branch-free loop per case, so each vectorises.
      if (t_ == 0) {  // PyTorch starts the buffer at the first gradient
#pragma omp parallel for if (n >= kParallelMin)
        for (size_t i = 0; i < n; ++i) v[i] = g[i] + wd * p[i];
      } else {
#pragma omp parallel for if (n >= kParallelMin)
        for (size_t i = 0; i < n; ++i) v[i] = mu * v[i] + damp * (g[i] + wd * p[i]);
      }
      if (c_.nesterov) {
#pragma omp parallel for if (n >= kParallelMin)
        for (size_t i = 0; i < n; ++i) p[i] -= flr * (g[i] + wd * p[i] + mu * v[i]);
      } else {
#pragma omp parallel for if (n >= kParallelMin)
        for (size_t i = 0; i < n; ++i) p[i] -= flr * v[i];
      }
    }
    ++t_;
  }
  std::string describe() const override { return c_.nesterov ? "sgd (nesterov)" : "sgd"; }

 private:
  OptimizerConfig c_;
  std::vector<float> v_;
};

// AdaGrad (torch.optim.Adagrad):  g = grad + wd*p;  clr = lr / (1 + (t-1)*lr_decay)
//   s += g^2;  p -= clr * g / (sqrt(s) + eps)
class Adagrad : public Optimizer {
 public:
  explicit Adagrad(const OptimizerConfig& c) : c_(c) {}
  void step(float* p, const float* g, size_t n, double lr) override {
    if (s_.size() != n) s_.assign(n, float(c_.initial_accumulator));
    ++t_;
    const float clr = float(lr / (1.0 + double(t_ - 1) * c_.lr_decay));
    const float wd = float(c_.weight_decay), eps = float(c_.eps);
    float* s = s_.data();
#pragma omp parallel for if (n >= kParallelMin)
    for (size_t i = 0; i < n; ++i) {
      float gi = g[i] + wd * p[i];
      s[i] += gi * gi;
      p[i] -= clr * gi / (std::sqrt(s[i]) + eps);
    }
  }
  std::string describe() const override { return "adagrad"; }

 private:
  OptimizerConfig c_;
  std::vector<float> s_;
};

// RMSprop (torch.optim.RMSprop):  g = grad + wd*p;  sq = alpha*sq + (1-alpha)*g^2
//   centered: ga = alpha*ga + (1-alpha)*g;  avg = sqrt(sq - ga^2) + eps, else avg = sqrt(sq) + eps
//   momentum: b = mu*b + g/avg; p -= lr*b     else p -= lr * g/avg
class Rmsprop : public Optimizer {
 public:
  explicit Rmsprop(const OptimizerConfig& c) : c_(c) {}
  void step(float* p, const float* g, size_t n, double lr) override {
    if (sq_.size() != n) {
      sq_.assign(n, 0.f);
      if (c_.centered) ga_.assign(n, 0.f);
      if (c_.momentum > 0) b_.assign(n, 0.f);
    }
    const float a = float(c_.alpha), wd = float(c_.weight_decay), eps = float(c_.eps), mu = float(c_.momentum);
    const float flr = float(lr);
    const bool centered = c_.centered, mom = c_.momentum > 0;
    float *sq = sq_.data(), *ga = ga_.data(), *b = b_.data();
    if (!centered && !mom) {  // the default: a branch-free loop that vectorises
#pragma omp parallel for if (n >= kParallelMin)
      for (size_t i = 0; i < n; ++i) {
        float gi = g[i] + wd * p[i];
        sq[i] = a * sq[i] + (1 - a) * gi * gi;
        p[i] -= flr * gi / (std::sqrt(sq[i]) + eps);
      }
      ++t_;
      return;
    }
#pragma omp parallel for if (n >= kParallelMin)
    for (size_t i = 0; i < n; ++i) {
      float gi = g[i] + wd * p[i];
      sq[i] = a * sq[i] + (1 - a) * gi * gi;
      float avg;
      if (centered) {
        ga[i] = a * ga[i] + (1 - a) * gi;
        avg = std::sqrt(sq[i] - ga[i] * ga[i]) + eps;
      } else {
        avg = std::sqrt(sq[i]) + eps;
      }
      if (mom) {
        b[i] = mu * b[i] + gi / avg;
        p[i] -= flr * b[i];
      } else {
        p[i] -= flr * gi / avg;
      }
    }
    ++t_;
  }
  std::string describe() const override { return "rmsprop"; }

 private:
  OptimizerConfig c_;
  std::vector<float> sq_, ga_, b_;
};

// Adam (torch.optim.Adam, L2 weight decay added to the gradient):  g = grad + wd*p
//   m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g^2
//   p -= (lr / (1-b1^t)) * m / (sqrt(v)/sqrt(1-b2^t) + eps)
class Adam : public Optimizer {
 public:
  explicit Adam(const OptimizerConfig& c) : c_(c) {}
  void step(float* p, const float* g, size_t n, double lr) override {
    if (m_.size() != n) {
      m_.assign(n, 0.f);
      v_.assign(n, 0.f);
    }
    ++t_;
    const float b1 = float(c_.beta1), b2 = float(c_.beta2), wd = float(c_.weight_decay), eps = float(c_.eps);
    const float step_size = float(lr / (1.0 - std::pow(c_.beta1, double(t_))));
    const float bc2_sqrt = float(std::sqrt(1.0 - std::pow(c_.beta2, double(t_))));
    float *m = m_.data(), *v = v_.data();
#pragma omp parallel for if (n >= kParallelMin)
    for (size_t i = 0; i < n; ++i) {
      float gi = g[i] + wd * p[i];
      m[i] = b1 * m[i] + (1 - b1) * gi;
      v[i] = b2 * v[i] + (1 - b2) * gi * gi;
      p[i] -= step_size * m[i] / (std::sqrt(v[i]) / bc2_sqrt + eps);
    }
  }
  std::string describe() const override { return "adam"; }

 private:
  OptimizerConfig c_;
  std::vector<float> m_, v_;
};

}  // namespace

const std::vector<std::string>& OptimizerConfig::fields(const std::string& name) {
  static const std::vector<std::string> sgd{"momentum", "dampening", "nesterov", "weight_decay"};
  static const std::vector<std::string> adagrad{"weight_decay", "eps", "lr_decay", "initial_accumulator"};
  static const std::vector<std::string> rmsprop{"momentum", "weight_decay", "alpha", "centered", "eps"};
  static const std::vector<std::string> adam{"weight_decay", "beta1", "beta2", "eps"};
  static const std::vector<std::string> none;
  if (name == "sgd") return sgd;
  if (name == "adagrad") return adagrad;
  if (name == "rmsprop") return rmsprop;
  if (name == "adam") return adam;
  return none;
}

nlohmann::json OptimizerConfig::to_json() const {
  nlohmann::json all = {{"momentum", momentum},
                        {"dampening", dampening},
                        {"nesterov", nesterov},
                        {"weight_decay", weight_decay},
                        {"alpha", alpha},
                        {"centered", centered},
                        {"beta1", beta1},
                        {"beta2", beta2},
                        {"eps", eps},
                        {"lr_decay", lr_decay},
                        {"initial_accumulator", initial_accumulator}};
  nlohmann::json j = {{"name", name}};
  for (auto& f : fields(name)) j[f] = all[f];
  return j;
}

std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& in) {
  OptimizerConfig c = in;
  auto nonneg = [&](double v, const char* f) {
    SGD_CHECK(v >= 0 && std::isfinite(v), Spec, "optimizer '", c.name, "': ", f, " must be >= 0, got ", v);
  };
  auto unit = [&](double v, const char* f) {
    SGD_CHECK(v >= 0 && v < 1, Spec, "optimizer '", c.name, "': ", f, " must be in [0, 1), got ", v);
  };
  nonneg(c.momentum, "momentum");
  nonneg(c.weight_decay, "weight_decay");
  if (c.name == "sgd") {
    unit(c.dampening, "dampening");
    SGD_CHECK(!c.nesterov || (c.momentum > 0 && c.dampening == 0), Spec,
              "optimizer 'sgd': nesterov needs momentum > 0 and dampening 0");
    return std::make_unique<Sgd>(c);
  }
  if (c.name == "adagrad") {
    if (c.eps < 0) c.eps = 1e-10;
    nonneg(c.lr_decay, "lr_decay");
    nonneg(c.initial_accumulator, "initial_accumulator");
    return std::make_unique<Adagrad>(c);
  }
  if (c.name == "rmsprop") {
    if (c.eps < 0) c.eps = 1e-8;
    unit(c.alpha, "alpha");
    return std::make_unique<Rmsprop>(c);
  }
  if (c.name == "adam") {
    if (c.eps < 0) c.eps = 1e-8;
    unit(c.beta1, "beta1");
    unit(c.beta2, "beta2");
    return std::make_unique<Adam>(c);
  }
  SGD_THROW(Spec, "unknown optimizer '", c.name,
            "' (known: sgd, adagrad, rmsprop, adam; momentum and nesterov are sgd options)");
}

}  // namespace sgdbench
