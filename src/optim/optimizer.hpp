// Optimizer: updates the network's contiguous parameter buffer from its gradient buffer, with
// the learning rate passed in per step (schedules live in schedule.hpp). PyTorch's update rules
// and defaults; each implementation file states its rule. Parameter groups: weight decay applies
// to the parameters marked `decay` (weights) unless weight_decay_on = "all". Not: clipping.
#pragma once
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/decl.hpp"

namespace sgdbench {

struct OptimizerConfig {
  std::string name = "sgd";                 // sgd | adagrad | rmsprop | adam
  double momentum = 0.0;                    // sgd, rmsprop
  double dampening = 0.0;                   // sgd
  bool nesterov = false;                    // sgd
  double weight_decay = 0.0;                // all: L2 term added to the gradient
  std::string weight_decay_on = "weights";  // all: "weights" (not biases, not batch norm) | "all"
  double alpha = 0.99;                      // rmsprop smoothing
  bool centered = false;                    // rmsprop
  double beta1 = 0.9, beta2 = 0.999;        // adam
  double eps = -1;                          // <0: the optimizer's PyTorch default (adagrad 1e-10, rmsprop/adam 1e-8)
  double lr_decay = 0.0;                    // adagrad
  double initial_accumulator = 0.0;         // adagrad
  int64_t history_size = 100;               // lbfgs: correction pairs kept
  int64_t max_iter = 20;                    // lbfgs: iterations per step
  int64_t max_eval = 0;                     // lbfgs: evaluations per step (0 = max_iter * 5 / 4)
  double tolerance_grad = 1e-7;             // lbfgs: stop when max |g| <= this
  double tolerance_change = 1e-9;           // lbfgs: stop when the loss or step changes less
  std::string line_search = "strong_wolfe";  // lbfgs: strong_wolfe | none

  // From a spec's {"name": ..., fields}: checked against the optimizer's declaration (unknown
  // names and fields, types, ranges), Error(Spec) "<where>: <path>.field: ...".
  static OptimizerConfig from_json(const nlohmann::json& j, const std::string& where, const std::string& path,
                                   const PathNamer& shown = {});
  nlohmann::json to_json() const;  // name + the declared fields of `name`, defaults filled
};

struct ParamRef;

// Plain SGD's update (momentum, dampening, Nesterov, weight decay) as a layer's backward applies
// it to its own weights in the same pass (Plan::backward(const FusedSgd*), dense_fused.hpp).
struct FusedSgd {
  float lr = 0, momentum = 0, damp = 1;  // damp = 1 - dampening
  float weight_decay = 0;                // of weights (decay parameters)
  bool nesterov = false, first = false;  // first: the velocity starts at the gradient
  const float* params = nullptr;         // the parameter buffer the velocity is indexed as
  float* velocity = nullptr;             // nullptr when momentum is 0
  // Threads a fused pass may split its weights over (Plan::backward sets the caller's count; a
  // pass inside a parallel region runs on its own thread whatever this says).
  int threads = 1;
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  // One update of n parameters, weight decay on all of them. The state (velocity, moments) is
  // sized on the first call.
  void step(float* params, const float* grads, size_t n, double lr);
  // One update of a Network's buffers (n = buffer_size()): weight decay per parameter group.
  void step(float* params, const float* grads, size_t n, double lr, const std::vector<ParamRef>& refs);
  virtual std::string describe() const = 0;
  // Optimizers that re-evaluate the loss and gradient themselves (L-BFGS) take their steps with
  // step_with: `grads` holds the gradient at `params` (loss `loss`) on entry; closure() recomputes
  // both at the current params (the gradient into `grads`) and returns the loss.
  virtual bool needs_closure() const { return false; }
  virtual void step_with(float* params, float* grads, size_t n, double lr, double loss,
                         const std::function<double()>& closure);
  long steps() const { return t_; }
  // A step whose update some layers apply in their backward (Plan::backward(const FusedSgd*)):
  // begin_fused() before the backward (false: this optimizer cannot, take step() after it),
  // finish_fused() after it updates every parameter except the weights in `done` (pointers into
  // params, as Plan::backward returned them) and counts the step. Same numbers as step().
  bool begin_fused(size_t n, double lr, const float* params, FusedSgd& f);
  void finish_fused(float* params, const float* grads, size_t n, double lr, const std::vector<ParamRef>& refs,
                    const std::vector<const float*>& done);

 protected:
  friend std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& cfg);
  // A step is begin() once, then update() on one or more disjoint ranges [off, off + n) of the
  // buffers (p and g already offset; state arrays are indexed from off), then t_ is incremented.
  virtual void begin(size_t n, double lr) = 0;
  virtual void update(float* p, const float* g, size_t off, size_t n, double lr, float weight_decay) = 0;
  // Whether this optimizer's update is FusedSgd's; fused() fills f (but params) after begin().
  virtual bool fusable() const { return false; }
  virtual void fused(FusedSgd&, double) {}
  long t_ = 0;  // completed steps
  double weight_decay_ = 0;
  bool decay_all_ = false;
};

// One declaration per optimizer (name, display name, doc, fields), in the order the docs list them.
const std::vector<KindDecl>& optimizer_decls();
const std::vector<std::string>& optimizer_names();

// The optimizer's state for n parameters must fit the memory limit (L-BFGS keeps 2 x history_size
// vectors of n floats): "" when it does, else the problem with the field "history_size".
std::string optimizer_memory_problem(const OptimizerConfig& cfg, size_t n);

// L-BFGS (lbfgs.cpp), registered in the optimizer table.
std::unique_ptr<Optimizer> make_lbfgs(const OptimizerConfig& cfg);

// Throws Error(Spec) for unknown names or invalid values (e.g. negative momentum).
std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& cfg);

// Parallel element loop for the update kernels: OpenMP only when the vector is large enough
// that threads pay off (at batch 1 a parallel region over a few thousand floats costs more).
constexpr size_t kParallelMin = size_t(1) << 15;

}  // namespace sgdbench
