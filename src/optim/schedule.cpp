// Schedule formulas (e = fractional epoch, lr0 = base lr after batch-size scaling):
//   constant lr0 | step lr0*gamma^floor(e/step_size) | multistep lr0*gamma^#{m <= e}
//   exponential lr0*gamma^e | inverse_time lr0/(1+decay*e)
//   cosine lr_min + (lr0-lr_min)*(1+cos(pi*min(e,T)/T))/2 | polynomial lr_min + (lr0-lr_min)*(1-min(e,T)/T)^power
//   warm-up (e < W): schedule(e) * (s + (1-s)*e/W)
#include "optim/schedule.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"

namespace sgdbench {

const std::vector<std::string>& ScheduleConfig::fields() {
  static const std::vector<std::string> f{"name",          "gamma",        "step_size", "milestones",
                                          "decay",         "power",        "lr_min",    "horizon",
                                          "warmup_epochs", "warmup_start", "scaling",   "base_batch"};
  return f;
}

nlohmann::json ScheduleConfig::to_json() const {
  nlohmann::json j = {{"name", name}};
  if (name == "step") j["gamma"] = gamma, j["step_size"] = step_size;
  if (name == "multistep") j["gamma"] = gamma, j["milestones"] = milestones;
  if (name == "exponential") j["gamma"] = gamma;
  if (name == "inverse_time") j["decay"] = decay;
  if (name == "cosine" || name == "polynomial") j["lr_min"] = lr_min, j["horizon"] = horizon;
  if (name == "polynomial") j["power"] = power;
  if (warmup_epochs > 0) j["warmup_epochs"] = warmup_epochs, j["warmup_start"] = warmup_start;
  j["scaling"] = scaling;
  if (scaling != "none") j["base_batch"] = base_batch;
  return j;
}

void ScheduleConfig::validate(double epochs_budget) const {
  static const std::vector<std::string> names{"constant",     "step",   "multistep", "exponential",
                                              "inverse_time", "cosine", "polynomial"};
  SGD_CHECK(std::find(names.begin(), names.end(), name) != names.end(), Spec, "schedule.name: unknown schedule '", name,
            "' (known: constant, step, multistep, exponential, inverse_time, cosine, polynomial)");
  SGD_CHECK(gamma > 0 && gamma <= 1, Spec, "schedule.gamma: must be in (0, 1], got ", gamma);
  SGD_CHECK(step_size > 0, Spec, "schedule.step_size: must be > 0, got ", step_size);
  SGD_CHECK(decay >= 0, Spec, "schedule.decay: must be >= 0, got ", decay);
  SGD_CHECK(power > 0, Spec, "schedule.power: must be > 0, got ", power);
  SGD_CHECK(lr_min >= 0, Spec, "schedule.lr_min: must be >= 0, got ", lr_min);
  SGD_CHECK(warmup_epochs >= 0, Spec, "schedule.warmup_epochs: must be >= 0, got ", warmup_epochs);
  SGD_CHECK(warmup_start >= 0 && warmup_start <= 1, Spec, "schedule.warmup_start: must be in [0, 1], got ",
            warmup_start);
  SGD_CHECK(scaling == "none" || scaling == "linear" || scaling == "sqrt", Spec, "schedule.scaling: unknown rule '",
            scaling, "' (known: none, linear, sqrt)");
  SGD_CHECK(base_batch > 0, Spec, "schedule.base_batch: must be > 0, got ", base_batch);
  if (name == "cosine" || name == "polynomial")
    SGD_CHECK(horizon > 0 || epochs_budget > 0, Spec, "schedule.horizon: ", name,
              " needs a horizon in epochs (or an epoch budget)");
}

Schedule::Schedule(const ScheduleConfig& c, double base_lr, double batch, double epochs_budget) : c_(c) {
  double f = 1;
  if (c.scaling == "linear") f = batch / c.base_batch;
  if (c.scaling == "sqrt") f = std::sqrt(batch / c.base_batch);
  base_ = base_lr * f;
  horizon_ = c.horizon > 0 ? c.horizon : epochs_budget;
}

double Schedule::lr(double e) const {
  double lr = base_;
  const double T = horizon_ > 0 ? horizon_ : 1;
  const double pi = 3.141592653589793;
  if (c_.name == "step")
    lr = base_ * std::pow(c_.gamma, std::floor(e / c_.step_size + 1e-9));
  else if (c_.name == "multistep")
    lr = base_ * std::pow(c_.gamma, double(std::count_if(c_.milestones.begin(), c_.milestones.end(),
                                                         [&](double m) { return m <= e + 1e-9; })));
  else if (c_.name == "exponential")
    lr = base_ * std::pow(c_.gamma, e);
  else if (c_.name == "inverse_time")
    lr = base_ / (1 + c_.decay * e);
  else if (c_.name == "cosine")
    lr = c_.lr_min + (base_ - c_.lr_min) * (1 + std::cos(pi * std::min(e, T) / T)) / 2;
  else if (c_.name == "polynomial")
    lr = c_.lr_min + (base_ - c_.lr_min) * std::pow(1 - std::min(e, T) / T, c_.power);
  if (c_.warmup_epochs > 0 && e < c_.warmup_epochs)
    lr *= c_.warmup_start + (1 - c_.warmup_start) * e / c_.warmup_epochs;
  return lr;
}

}  // namespace sgdbench
