// Learning-rate schedules as a function of training progress in (fractional) epochs, with an
// optional linear warm-up in front, and the batch-size scaling rule applied to the base rate.
// Not an optimizer: the trainer asks for lr(step) and passes it to Optimizer::step.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/decl.hpp"

namespace sgdbench {

struct ScheduleConfig {
  std::string name = "constant";   // constant|step|multistep|exponential|inverse_time|cosine|polynomial
  double gamma = 0.1;              // step, multistep: factor per decay; exponential: factor per epoch
  double step_size = 1;            // step: epochs between decays
  std::vector<double> milestones;  // multistep: epochs at which lr *= gamma
  double decay = 1.0;              // inverse_time: lr / (1 + decay * epoch)
  double power = 1.0;              // polynomial: lr * (1 - epoch/T)^power
  double lr_min = 0.0;             // cosine, polynomial: floor
  double horizon = 0;              // cosine, polynomial: T in epochs (0 = the run's epoch budget)
  double warmup_epochs = 0;        // linear warm-up length (fractional epochs allowed)
  double warmup_start = 0.0;       // warm-up starts at lr * warmup_start
  // Batch-size scaling of the base lr: none | linear | sqrt, relative to base_batch.
  std::string scaling = "none";
  double base_batch = 32;

  // From a spec's {"name": ..., fields}, checked against the schedule's declaration.
  static ScheduleConfig from_json(const nlohmann::json& j, const std::string& where, const std::string& path,
                                  const PathNamer& shown = {});
  nlohmann::json to_json() const;             // name + the declared fields of `name`, defaults filled
  void validate(double epochs_budget) const;  // throws Error(Spec)
};

// One declaration per schedule (name, formula, fields), in the order the docs list them.
const std::vector<KindDecl>& schedule_decls();

class Schedule {
 public:
  // base_lr: the configured lr; batch: the effective batch size (train size for full batch).
  Schedule(const ScheduleConfig& c, double base_lr, double batch, double epochs_budget);
  double lr(double epoch) const;  // epoch: fractional progress (step / steps_per_epoch)

 private:
  ScheduleConfig c_;
  double base_;
  double horizon_;
};

}  // namespace sgdbench
