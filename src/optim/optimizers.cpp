// The optimizers, each with its update rule (PyTorch's, defaults as PyTorch's). All updates are
// element-wise, so a parameter's result does not depend on the thread count.
#include <cmath>

#include "core/decl.hpp"
#include "core/error.hpp"
#include "model/network.hpp"
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
  void begin(size_t n, double) override {
    if (c_.momentum > 0 && v_.size() != n) v_.assign(n, 0.f);
  }
  void update(float* p, const float* g, size_t off, size_t n, double lr, float wd) override {
    const float mu = float(c_.momentum), damp = float(1.0 - c_.dampening);
    const float flr = float(lr);
    if (mu == 0.f) {
#pragma omp parallel for if (n >= kParallelMin)
      for (size_t i = 0; i < n; ++i) p[i] -= flr * (g[i] + wd * p[i]);
      return;
    }
    float* v = v_.data() + off;
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
  void begin(size_t n, double lr) override {
    if (s_.size() != n) s_.assign(n, float(c_.initial_accumulator));
    clr_ = float(lr / (1.0 + double(t_) * c_.lr_decay));
  }
  void update(float* p, const float* g, size_t off, size_t n, double, float wd) override {
    const float clr = clr_, eps = float(c_.eps);
    float* s = s_.data() + off;
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
  float clr_ = 0;
};

// RMSprop (torch.optim.RMSprop):  g = grad + wd*p;  sq = alpha*sq + (1-alpha)*g^2
//   centered: ga = alpha*ga + (1-alpha)*g;  avg = sqrt(sq - ga^2) + eps, else avg = sqrt(sq) + eps
//   momentum: b = mu*b + g/avg; p -= lr*b     else p -= lr * g/avg
class Rmsprop : public Optimizer {
 public:
  explicit Rmsprop(const OptimizerConfig& c) : c_(c) {}
  void begin(size_t n, double) override {
    if (sq_.size() != n) {
      sq_.assign(n, 0.f);
      if (c_.centered) ga_.assign(n, 0.f);
      if (c_.momentum > 0) b_.assign(n, 0.f);
    }
  }
  void update(float* p, const float* g, size_t off, size_t n, double lr, float wd) override {
    const float a = float(c_.alpha), eps = float(c_.eps), mu = float(c_.momentum);
    const float flr = float(lr);
    const bool centered = c_.centered, mom = c_.momentum > 0;
    float* sq = sq_.data() + off;
    float* ga = centered ? ga_.data() + off : nullptr;
    float* b = mom ? b_.data() + off : nullptr;
    if (!centered && !mom) {  // the default: a branch-free loop that vectorises
#pragma omp parallel for if (n >= kParallelMin)
      for (size_t i = 0; i < n; ++i) {
        float gi = g[i] + wd * p[i];
        sq[i] = a * sq[i] + (1 - a) * gi * gi;
        p[i] -= flr * gi / (std::sqrt(sq[i]) + eps);
      }
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
  void begin(size_t n, double lr) override {
    if (m_.size() != n) {
      m_.assign(n, 0.f);
      v_.assign(n, 0.f);
    }
    const double t = double(t_ + 1);
    step_size_ = float(lr / (1.0 - std::pow(c_.beta1, t)));
    bc2_sqrt_ = float(std::sqrt(1.0 - std::pow(c_.beta2, t)));
  }
  void update(float* p, const float* g, size_t off, size_t n, double, float wd) override {
    const float b1 = float(c_.beta1), b2 = float(c_.beta2), eps = float(c_.eps);
    const float step_size = step_size_, bc2_sqrt = bc2_sqrt_;
    float *m = m_.data() + off, *v = v_.data() + off;
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
  float step_size_ = 0, bc2_sqrt_ = 0;
};

}  // namespace

void Optimizer::step(float* params, const float* grads, size_t n, double lr) {
  begin(n, lr);
  update(params, grads, 0, n, lr, float(weight_decay_));
  ++t_;
}

void Optimizer::step(float* params, const float* grads, size_t n, double lr, const std::vector<ParamRef>& refs) {
  if (weight_decay_ == 0 || decay_all_) return step(params, grads, n, lr);
  begin(n, lr);
  for (auto& r : refs)
    update(params + r.offset, grads + r.offset, r.offset, r.count, lr, r.spec.decay ? float(weight_decay_) : 0.f);
  ++t_;
}

const std::vector<std::string>& optimizer_names() {
  static const std::vector<std::string> n{"sgd", "adagrad", "rmsprop", "adam"};
  return n;
}

const std::vector<std::string>& OptimizerConfig::fields(const std::string& name) {
  static const std::vector<std::string> sgd{"momentum", "dampening", "nesterov", "weight_decay", "weight_decay_on"};
  static const std::vector<std::string> adagrad{"weight_decay", "weight_decay_on", "eps", "lr_decay",
                                                "initial_accumulator"};
  static const std::vector<std::string> rmsprop{"momentum", "weight_decay", "weight_decay_on",
                                                "alpha",    "centered",     "eps"};
  static const std::vector<std::string> adam{"weight_decay", "weight_decay_on", "beta1", "beta2", "eps"};
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
                        {"weight_decay_on", weight_decay_on},
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

namespace {
std::unique_ptr<Optimizer> make_optimizer_impl(const OptimizerConfig& in) {
  OptimizerConfig c = in;
  auto nonneg = [&](double v, const char* f) {
    SGD_CHECK(v >= 0 && std::isfinite(v), Spec, "optimizer '", c.name, "': ", f, " must be >= 0, got ", v);
  };
  auto unit = [&](double v, const char* f) {
    SGD_CHECK(v >= 0 && v < 1, Spec, "optimizer '", c.name, "': ", f, " must be in [0, 1), got ", v);
  };
  nonneg(c.momentum, "momentum");
  nonneg(c.weight_decay, "weight_decay");
  SGD_CHECK(c.weight_decay_on == "weights" || c.weight_decay_on == "all", Spec, "optimizer '", c.name,
            "': weight_decay_on must be \"weights\" (not biases or batch-norm parameters) or \"all\", got '",
            c.weight_decay_on, "'");
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
  SGD_THROW(Spec, "unknown optimizer '", c.name, "' (known: ", join(optimizer_names()),
            "; momentum and nesterov are sgd options)");
}
}  // namespace

std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& in) {
  auto o = make_optimizer_impl(in);
  o->weight_decay_ = in.weight_decay;
  o->decay_all_ = in.weight_decay_on == "all";
  return o;
}

}  // namespace sgdbench
