// The optimizers, each with its update rule (PyTorch's, defaults as PyTorch's). All updates are
// element-wise (for_each_element), so a parameter's result depends neither on the thread count
// nor on the ISA the loop runs with.
#include <algorithm>
#include <cmath>

#include <limits>

#include "core/bind.hpp"
#include "core/error.hpp"
#include "core/tensor.hpp"
#include "model/network.hpp"
#include "optim/elementwise.hpp"
#include "optim/optimizer.hpp"

namespace sgdbench {

namespace {

// Optimizer state: n floats of `value`, 64-byte aligned as the parameter buffer is, so that the
// vector loops load and store whole cache lines (a 16-byte aligned std::vector made AVX-512's
// every access of it two lines).
Tensor state_of(size_t n, float value = 0.f) {
  Tensor t(Shape{int64_t(n)});
  if (value != 0.f) std::fill(t.begin(), t.end(), value);
  return t;
}

// SGD (torch.optim.SGD):  g = grad + wd*p
//   momentum: v = g on the first step, else v = mu*v + (1-dampening)*g
//             nesterov: d = g + mu*v, else d = v;   without momentum d = g
//   p -= lr * d
class Sgd : public Optimizer {
 public:
  explicit Sgd(const OptimizerConfig& c) : c_(c) {}
  void begin(size_t n, double) override {
    if (c_.momentum > 0 && v_.size() != n) v_ = state_of(n);
  }
  void update(float* p, const float* g, size_t off, size_t n, double lr, float wd) override {
    const float mu = float(c_.momentum), damp = float(1.0 - c_.dampening);
    const float flr = float(lr);
    if (mu == 0.f) {
      for_each_element(n, [=](size_t i) { p[i] -= flr * (g[i] + wd * p[i]); });
      return;
    }
    float* v = v_.data() + off;
    // One pass over p, g and v per case (velocity and parameter updated in the same loop: the
    // update is memory-bound, and a second pass would read p and v again); each loop vectorises.
    // PyTorch starts the buffer at the first gradient: v = g on step 0, else mu*v + (1-damp)*g.
    const bool first = t_ == 0;
    if (c_.nesterov) {
      for_each_element(n, [=](size_t i) {
        const float gi = g[i] + wd * p[i];
        const float vi = first ? gi : mu * v[i] + damp * gi;
        v[i] = vi;
        p[i] -= flr * (gi + mu * vi);
      });
    } else {
      for_each_element(n, [=](size_t i) {
        const float gi = g[i] + wd * p[i];
        const float vi = first ? gi : mu * v[i] + damp * gi;
        v[i] = vi;
        p[i] -= flr * vi;
      });
    }
  }
  bool fusable() const override { return true; }
  void fused(FusedSgd& f, double lr) override {
    f.lr = float(lr), f.momentum = float(c_.momentum), f.damp = float(1.0 - c_.dampening);
    f.nesterov = c_.nesterov, f.first = t_ == 0;
    f.velocity = float(c_.momentum) != 0.f ? v_.data() : nullptr;  // as update(): keyed on the float
  }
  std::string describe() const override { return c_.nesterov ? "sgd (nesterov)" : "sgd"; }

 private:
  OptimizerConfig c_;
  Tensor v_;
};

// AdaGrad (torch.optim.Adagrad):  g = grad + wd*p;  clr = lr / (1 + (t-1)*lr_decay)
//   s += g^2;  p -= clr * g / (sqrt(s) + eps)
class Adagrad : public Optimizer {
 public:
  explicit Adagrad(const OptimizerConfig& c) : c_(c) {}
  void begin(size_t n, double lr) override {
    if (s_.size() != n) s_ = state_of(n, float(c_.initial_accumulator));
    clr_ = float(lr / (1.0 + double(t_) * c_.lr_decay));
  }
  void update(float* p, const float* g, size_t off, size_t n, double, float wd) override {
    const float clr = clr_, eps = float(c_.eps);
    float* s = s_.data() + off;
    for_each_element(n, [=](size_t i) {
      float gi = g[i] + wd * p[i];
      s[i] += gi * gi;
      p[i] -= clr * gi / (std::sqrt(s[i]) + eps);
    });
  }
  std::string describe() const override { return "adagrad"; }

 private:
  OptimizerConfig c_;
  Tensor s_;
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
      sq_ = state_of(n);
      if (c_.centered) ga_ = state_of(n);
      if (c_.momentum > 0) b_ = state_of(n);
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
      for_each_element(n, [=](size_t i) {
        float gi = g[i] + wd * p[i];
        sq[i] = a * sq[i] + (1 - a) * gi * gi;
        p[i] -= flr * gi / (std::sqrt(sq[i]) + eps);
      });
      return;
    }
    for_each_element(n, [=](size_t i) {
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
    });
  }
  std::string describe() const override { return "rmsprop"; }

 private:
  OptimizerConfig c_;
  Tensor sq_, ga_, b_;
};

// Adam (torch.optim.Adam, L2 weight decay added to the gradient):  g = grad + wd*p
//   m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g^2
//   p -= (lr / (1-b1^t)) * m / (sqrt(v)/sqrt(1-b2^t) + eps)
class Adam : public Optimizer {
 public:
  explicit Adam(const OptimizerConfig& c) : c_(c) {}
  void begin(size_t n, double lr) override {
    if (m_.size() != n) {
      m_ = state_of(n);
      v_ = state_of(n);
    }
    const double t = double(t_ + 1);
    step_size_ = float(lr / (1.0 - std::pow(c_.beta1, t)));
    bc2_sqrt_ = float(std::sqrt(1.0 - std::pow(c_.beta2, t)));
  }
  void update(float* p, const float* g, size_t off, size_t n, double, float wd) override {
    const float b1 = float(c_.beta1), b2 = float(c_.beta2), eps = float(c_.eps);
    const float step_size = step_size_, bc2_sqrt = bc2_sqrt_;
    float *m = m_.data() + off, *v = v_.data() + off;
    for_each_element(n, [=](size_t i) {
      float gi = g[i] + wd * p[i];
      m[i] = b1 * m[i] + (1 - b1) * gi;
      v[i] = b2 * v[i] + (1 - b2) * gi * gi;
      p[i] -= step_size * m[i] / (std::sqrt(v[i]) / bc2_sqrt + eps);
    });
  }
  std::string describe() const override { return "adam"; }

 private:
  OptimizerConfig c_;
  Tensor m_, v_;
  float step_size_ = 0, bc2_sqrt_ = 0;
};

}  // namespace

void Optimizer::step_with(float* params, float* grads, size_t n, double lr, double, const std::function<double()>&) {
  step(params, grads, n, lr);
}

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

bool Optimizer::begin_fused(size_t n, double lr, const float* params, FusedSgd& f) {
  f = FusedSgd{};
  if (!fusable()) return false;
  begin(n, lr);  // sizes the state; SGD's begin() again in finish_fused() changes nothing
  fused(f, lr);
  f.weight_decay = float(weight_decay_), f.params = params;
  return true;
}

void Optimizer::finish_fused(float* params, const float* grads, size_t n, double lr, const std::vector<ParamRef>& refs,
                             const std::vector<const float*>& done) {
  if (done.empty()) return step(params, grads, n, lr, refs);
  begin(n, lr);
  for (auto& r : refs) {
    if (std::find(done.begin(), done.end(), params + r.offset) != done.end()) continue;
    const bool decay = weight_decay_ != 0 && (decay_all_ || r.spec.decay);
    update(params + r.offset, grads + r.offset, r.offset, r.count, lr, decay ? float(weight_decay_) : 0.f);
  }
  ++t_;
}

namespace {

using B = Bound<OptimizerConfig>;
using C = OptimizerConfig;
constexpr double kInf = std::numeric_limits<double>::infinity();

// The fields several optimizers share, declared once.
B momentum() { return {FieldDecl::number("momentum", 0.0, 0, kInf, "momentum factor (0 = none)"), &C::momentum}; }
B weight_decay() {
  return {FieldDecl::number("weight_decay", 0.0, 0, kInf, "L2 penalty added to the gradient"), &C::weight_decay};
}
B weight_decay_on() {
  return {FieldDecl::word("weight_decay_on", "weights", {"weights", "all"},
                          "weights: weight decay skips biases and batch-norm parameters; all: every parameter"),
          &C::weight_decay_on};
}
B eps(double def) {
  return {FieldDecl::number("eps", def, 0, 1, "term added to the denominator", true), &C::eps};
}

// An optimizer: its declaration, where its fields live, and how to make it.
struct OptDecl {
  KindDecl decl;
  Bindings<C> fields;
  std::unique_ptr<Optimizer> (*make)(const C&);
};

template <class O>
std::unique_ptr<Optimizer> make_one(const C& c) {
  return std::make_unique<O>(c);
}

const std::vector<OptDecl>& optimizer_table() {
  auto make = [](std::string name, std::string display, std::string doc, Bindings<C> f,
                 std::unique_ptr<Optimizer> (*factory)(const C&)) {
    KindDecl k = kind_decl<C>(std::move(name), std::move(display), std::move(doc), f);
    return OptDecl{std::move(k), std::move(f), factory};
  };
  static const std::vector<OptDecl> t{
      make("sgd", "SGD", "stochastic gradient descent (torch.optim.SGD): plain, momentum or Nesterov",
           {momentum(),
            {FieldDecl::number("dampening", 0.0, 0, 1, "dampening of the momentum's gradient term", false, true),
             &C::dampening},
            {FieldDecl::boolean("nesterov", false, "Nesterov momentum (needs momentum > 0, dampening 0)"),
             &C::nesterov},
            weight_decay(), weight_decay_on()},
           make_one<Sgd>),
      make("adagrad", "AdaGrad", "AdaGrad (torch.optim.Adagrad)",
           {weight_decay(), weight_decay_on(), eps(1e-10),
            {FieldDecl::number("lr_decay", 0.0, 0, kInf, "lr / (1 + (t-1) * lr_decay)"), &C::lr_decay},
            {FieldDecl::number("initial_accumulator", 0.0, 0, kInf, "initial sum of squared gradients"),
             &C::initial_accumulator}},
           make_one<Adagrad>),
      make("rmsprop", "RMSprop", "RMSprop (torch.optim.RMSprop)",
           {momentum(), weight_decay(), weight_decay_on(),
            {FieldDecl::number("alpha", 0.99, 0, 1, "smoothing constant of the squared-gradient average", false,
                               true),
             &C::alpha},
            {FieldDecl::boolean("centered", false, "normalise by the gradient's estimated variance"), &C::centered},
            eps(1e-8)},
           make_one<Rmsprop>),
      make("adam", "Adam", "Adam (torch.optim.Adam)",
           {weight_decay(), weight_decay_on(),
            {FieldDecl::number("beta1", 0.9, 0, 1, "decay of the first-moment average", false, true), &C::beta1},
            {FieldDecl::number("beta2", 0.999, 0, 1, "decay of the second-moment average", false, true), &C::beta2},
            eps(1e-8)},
           make_one<Adam>),
      make("lbfgs", "L-BFGS",
           "L-BFGS (torch.optim.LBFGS): each step runs up to max_iter iterations, each a quasi-Newton direction "
           "from the last history_size pairs and a strong-Wolfe line search (or a fixed step lr); meant for "
           "batch_size \"full\"",
           {{FieldDecl::integer("history_size", 100, 1, 1e4, "correction pairs kept"), &C::history_size},
            {FieldDecl::integer("max_iter", 20, 1, 1e6, "iterations per step"), &C::max_iter},
            {FieldDecl::integer("max_eval", 0, 0, 1e7, "loss evaluations per step (0 = max_iter * 5 / 4)"),
             &C::max_eval},
            {FieldDecl::number("tolerance_grad", 1e-7, 0, 1e30, "stop a step when max |gradient| <= this"),
             &C::tolerance_grad},
            {FieldDecl::number("tolerance_change", 1e-9, 0, 1e30,
                               "stop a step when the loss or the parameters change less than this"),
             &C::tolerance_change},
            {FieldDecl::word("line_search", "strong_wolfe", {"strong_wolfe", "none"},
                             "strong_wolfe: PyTorch's line search; none: a fixed step of lr"),
             &C::line_search}},
           make_lbfgs),
  };
  return t;
}

const OptDecl* find_optimizer(const std::string& name) { return find_by_name(optimizer_table(), name); }

// The declared eps default of `o` (configs built in code leave eps < 0 for "the default").
double default_eps(const OptDecl& o) {
  for (auto& f : o.decl.fields)
    if (f.name == "eps") return f.def.get<double>();
  return 0;
}

}  // namespace

const std::vector<KindDecl>& optimizer_decls() {
  static const std::vector<KindDecl> d = decls_of(optimizer_table());
  return d;
}

const std::vector<std::string>& optimizer_names() {
  static const std::vector<std::string> n = kind_names(optimizer_decls());
  return n;
}

OptimizerConfig OptimizerConfig::from_json(const nlohmann::json& j, const std::string& where, const std::string& path,
                                           const PathNamer& shown) {
  OptimizerConfig c;
  read_named(c, &C::name, j, optimizer_decls(), [](const std::string& n) -> const Bindings<C>& {
    return find_optimizer(n)->fields;
  }, "optimizer", where, path, shown);
  return c;
}

nlohmann::json OptimizerConfig::to_json() const {
  nlohmann::json j = {{"name", name}};
  const OptDecl* o = find_optimizer(name);
  if (!o) return j;
  j.update(write_bound(*this, o->fields));
  if (j.contains("eps") && eps < 0) j["eps"] = default_eps(*o);
  return j;
}

std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& in) {
  const OptDecl* d = find_optimizer(in.name);
  if (!d) find_kind(optimizer_decls(), in.name, "optimizer", "optimizer", "name", ErrorKind::Spec);
  OptimizerConfig c = in;
  if (c.eps < 0) c.eps = default_eps(*d);
  // The same checks as a spec's fields get (configs built in code skip the spec parser).
  nlohmann::json fields = c.to_json();
  fields.erase("name");
  resolve_fields(d->decl, fields, "optimizer '" + c.name + "'", "", ErrorKind::Spec);
  SGD_CHECK(!c.nesterov || (c.momentum > 0 && c.dampening == 0), Spec,
            "optimizer 'sgd': nesterov needs momentum > 0 and dampening 0");
  auto o = d->make(c);
  o->weight_decay_ = c.weight_decay;
  o->decay_all_ = c.weight_decay_on == "all";
  return o;
}

}  // namespace sgdbench
