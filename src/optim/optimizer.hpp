// Optimizer: updates the network's contiguous parameter buffer from its gradient buffer, with
// the learning rate passed in per step (schedules live in schedule.hpp). PyTorch's update rules
// and defaults; each implementation file states its rule. Not: gradient clipping, param groups.
#pragma once
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace sgdbench {

struct OptimizerConfig {
  std::string name = "sgd";           // sgd | adagrad | rmsprop | adam
  double momentum = 0.0;              // sgd, rmsprop
  double dampening = 0.0;             // sgd
  bool nesterov = false;              // sgd
  double weight_decay = 0.0;          // all: L2 term added to the gradient
  double alpha = 0.99;                // rmsprop smoothing
  bool centered = false;              // rmsprop
  double beta1 = 0.9, beta2 = 0.999;  // adam
  double eps = -1;                    // <0: the optimizer's PyTorch default (adagrad 1e-10, rmsprop/adam 1e-8)
  double lr_decay = 0.0;              // adagrad
  double initial_accumulator = 0.0;   // adagrad

  // Fields other than name that the spec may set, per optimizer.
  static const std::vector<std::string>& fields(const std::string& name);
  nlohmann::json to_json() const;  // only the fields that apply to `name`
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  // One update of n parameters. The state (velocity, moments) is sized on the first call.
  virtual void step(float* params, const float* grads, size_t n, double lr) = 0;
  virtual std::string describe() const = 0;
  long steps() const { return t_; }

 protected:
  long t_ = 0;  // completed steps
};

// Throws Error(Spec) for unknown names or invalid values (e.g. negative momentum).
std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& cfg);

// Parallel element loop for the update kernels: OpenMP only when the vector is large enough
// that threads pay off (at batch 1 a parallel region over a few thousand floats costs more).
constexpr size_t kParallelMin = size_t(1) << 15;

}  // namespace sgdbench
