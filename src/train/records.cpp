// The trainer's records as JSON (config, history points, summary) and default method labels:
// the JSON boundary of src/train (statuses become strings only here).
#include <cmath>

#include "train/trainer.hpp"

namespace sgdbench {

const char* to_string(RunStatus s) {
  switch (s) {
    case RunStatus::Running:
      return "running";
    case RunStatus::Completed:
      return "completed";
    case RunStatus::Diverged:
      return "diverged";
    case RunStatus::StoppedAtTarget:
      return "stopped_at_target";
    case RunStatus::BudgetExhausted:
      return "budget_exhausted";
  }
  return "unknown";
}

std::string default_label(const TrainConfig& c) {
  std::string s = c.batch_size == 0 ? "GD" : c.batch_size == 1 ? "SGD" : "mini-batch " + std::to_string(c.batch_size);
  char b[64];
  const auto& o = c.optimizer;
  if (o.name == "sgd" && o.momentum > 0) {
    std::snprintf(b, sizeof b, " + %s %g", o.nesterov ? "Nesterov" : "momentum", o.momentum);
    s += b;
  } else if (o.name == "adam")
    s += " + Adam";
  else if (o.name == "adagrad")
    s += " + AdaGrad";
  else if (o.name == "rmsprop")
    s += " + RMSprop";
  return s;
}

nlohmann::json TrainConfig::to_json() const {
  nlohmann::json j = {{"label", label},
                      {"model", model.canonical()},
                      {"model_name", model.name},
                      {"init", init},
                      {"data", data.to_json()},
                      {"optimizer", optimizer.to_json()},
                      {"lr", lr},
                      {"schedule", schedule.to_json()},
                      {"seed", seed},
                      {"epochs", epochs},
                      {"max_steps", max_steps},
                      {"max_samples", max_samples},
                      {"max_seconds", max_seconds},
                      {"target_acc", target_acc},
                      {"stop_at_target", stop_at_target},
                      {"divergence_loss", divergence_loss},
                      {"log_every_steps", log_every_steps},
                      {"log_points_per_decade", log_points_per_decade},
                      {"eval_batch", eval_batch},
                      {"eval_train", eval_train},
                      {"drop_last", drop_last}};
  if (batch_size == 0)
    j["batch_size"] = "full", j["chunk"] = chunk;
  else
    j["batch_size"] = batch_size;
  return j;
}

nlohmann::json HistoryPoint::to_json() const {
  nlohmann::json j = {{"kind", kind},
                      {"epoch", epoch},
                      {"step", step},
                      {"samples", samples},
                      {"train_seconds", train_seconds},
                      {"eval_seconds", eval_seconds},
                      {"lr", lr},
                      {"train_loss", std::isfinite(train_loss) ? nlohmann::json(train_loss) : nlohmann::json(nullptr)},
                      {"test_loss", test_loss},
                      {"test_acc", test_acc}};
  if (val_loss) j["val_loss"] = *val_loss, j["val_acc"] = *val_acc;
  if (train_full_loss) j["train_full_loss"] = *train_full_loss, j["train_full_acc"] = *train_full_acc;
  return j;
}

nlohmann::json TrainResult::summary() const {
  nlohmann::json s = {{"steps", steps},
                      {"samples", samples},
                      {"train_seconds", train_seconds},
                      {"eval_seconds", eval_seconds},
                      {"images_per_second", train_seconds > 0 ? double(samples) / train_seconds : 0.0},
                      {"stop_reason", stop_reason}};
  if (!history.empty()) {
    s["final_test_acc"] = history.back().test_acc;
    s["final_test_loss"] = history.back().test_loss;
    double best_acc = -1, best_loss = INFINITY;
    for (auto& h : history) best_acc = std::max(best_acc, h.test_acc), best_loss = std::min(best_loss, h.test_loss);
    s["best_test_acc"] = best_acc;
    s["best_test_loss"] = std::isfinite(best_loss) ? nlohmann::json(best_loss) : nlohmann::json(nullptr);
  }
  auto opt = [](const auto& o) { return o ? nlohmann::json(*o) : nlohmann::json(nullptr); };
  s["target_reached"] = target_step.has_value();
  s["steps_to_target"] = opt(target_step);
  s["samples_to_target"] = opt(target_samples);
  s["seconds_to_target"] = opt(target_seconds);
  s["epochs_to_target"] = opt(target_epoch);
  return s;
}

}  // namespace sgdbench
