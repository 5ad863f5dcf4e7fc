// Learning-rate range test (Smith 2017, "Cyclical learning rates", section 3.3; fastai's
// lr_find): train from the run's initial state with the learning rate growing exponentially from
// `start` to `end` over `steps` steps, record the mini-batch loss of every step, smooth it
// (bias-corrected moving average), stop early once the smoothed loss exceeds `diverge` times its
// minimum, and suggest the learning rate where the smoothed loss falls fastest per decade of lr.
// Not: plotting (tools/plot.py reads the JSON) or writing files (the CLI).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "train/trainer.hpp"

namespace sgdbench {

struct LrFindConfig {
  double start = 1e-7, end = 10;
  int64_t steps = 100;
  double smooth = 0.98;  // moving-average factor of the loss
  double diverge = 4;    // stop when the smoothed loss exceeds this times its minimum
};

struct LrFindResult {
  std::vector<double> lr, loss, smoothed;  // per step
  double suggested = 0;                    // steepest descent of the smoothed loss (0: none; null in JSON)
  double min_loss_lr = 0;                  // lr at the smoothed loss's minimum
  std::string stop_reason;
  nlohmann::json to_json() const;
};

// The lr where `smoothed` falls fastest against log(lr) (central differences over +-n/20 points,
// from the first tenth of the points up to the minimum); 0 when no point qualifies.
double steepest_descent_lr(const std::vector<double>& lr, const std::vector<double>& smoothed);

LrFindResult lr_find(const TrainConfig& cfg, const Dataset& data, const LrFindConfig& f);

}  // namespace sgdbench
