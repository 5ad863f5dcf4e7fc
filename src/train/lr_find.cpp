// The learning-rate range test (see lr_find.hpp).
#include "train/lr_find.hpp"

#include <algorithm>
#include <cstdio>
#include <cmath>
#include <limits>

#include "core/error.hpp"

namespace sgdbench {

double steepest_descent_lr(const std::vector<double>& lr, const std::vector<double>& s) {
  const size_t n = std::min(lr.size(), s.size());
  if (n < 3) return 0;
  // Slopes over +-w points (n/20: single-step differences are mostly noise), skipping the first
  // tenth (the moving average has not settled there), up to the minimum.
  const size_t lo = size_t(std::min_element(s.begin(), s.begin() + long(n)) - s.begin());
  const size_t w = std::max<size_t>(1, n / 20);
  double best = std::numeric_limits<double>::infinity(), at = 0;
  for (size_t i = std::max(w, n / 10); i + w < n && i <= lo; ++i) {
    const double slope = (s[i + w] - s[i - w]) / (std::log(lr[i + w]) - std::log(lr[i - w]));
    if (slope < best) best = slope, at = lr[i];
  }
  return at;
}

nlohmann::json LrFindResult::to_json() const {
  return {{"lr", lr},
          {"loss", loss},
          {"smoothed_loss", smoothed},
          {"suggested_lr", suggested > 0 ? nlohmann::json(suggested) : nlohmann::json(nullptr)},
          {"min_loss_lr", min_loss_lr},
          {"stop_reason", stop_reason}};
}

LrFindResult lr_find(const TrainConfig& in, const Dataset& data, const LrFindConfig& f) {
  SGD_CHECK(f.start > 0 && f.end > f.start, Usage, "lr-find: needs 0 < --start < --end, got ", f.start, " and ",
            f.end);
  SGD_CHECK(f.steps >= 3, Usage, "lr-find: --steps must be at least 3");
  TrainConfig cfg = in;
  cfg.epochs = 1000000;  // the step callback ends the run
  cfg.max_steps = f.steps, cfg.max_samples = 0, cfg.max_seconds = 0;
  cfg.target_acc = 0, cfg.log_every_steps = 0, cfg.log_points_per_decade = 0;
  cfg.noise_every = 0, cfg.log_grad_norms = false;
  cfg.divergence_loss = 1e30;  // lr-find decides when the loss has blown up
  LrFindResult r;
  Trainer t(cfg, data);
  const double ratio = std::log(f.end / f.start) / double(f.steps - 1);
  t.set_lr_function([&](int64_t step) { return f.start * std::exp(ratio * double(step)); });
  double avg = 0, best = std::numeric_limits<double>::infinity();
  t.set_step_callback([&](int64_t step, double lr, double loss) {
    avg = f.smooth * avg + (1 - f.smooth) * loss;
    const double s = avg / (1 - std::pow(f.smooth, double(step)));
    r.lr.push_back(lr), r.loss.push_back(loss), r.smoothed.push_back(s);
    // The minimum from the 5th step on: the first averages are single noisy losses.
    if (step >= 5 && s < best) best = s, r.min_loss_lr = lr;
    if (step > 5 && s > f.diverge * best) {
      char why[64];
      std::snprintf(why, sizeof why, "smoothed loss above %g x its minimum", f.diverge);
      r.stop_reason = why;
      return false;
    }
    return true;
  });
  auto res = t.run();
  if (res.status == RunStatus::Diverged) r.stop_reason = "loss not finite";
  if (r.stop_reason.empty()) r.stop_reason = "reached --end";
  r.suggested = steepest_descent_lr(r.lr, r.smoothed);
  return r;
}

}  // namespace sgdbench
