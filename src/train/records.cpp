// The trainer's records as JSON (config, history points, summary) and default method labels:
// the JSON boundary of src/train (statuses become strings only here).
#include <cmath>

#include "core/bind.hpp"
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
  } else if (o.name != "sgd") {
    for (auto& d : optimizer_decls())
      if (d.name == o.name) s += " + " + d.display;
  }
  return s;
}

namespace {

using B = Bound<TrainConfig>;
using C = TrainConfig;
constexpr double kMaxCount = 1e15;

// The run-config fields that are plain values; model, init, data, optimizer, schedule and
// batch_size have declarations of their own (see config_field_names()).
const Bindings<C>& config_bindings() {
  static const Bindings<C> b{
      {FieldDecl::text("label", "", "the method's name in plots and reports (\"\" = made from the optimizer)"),
       &C::label},
      {FieldDecl::integer("chunk", 1000, 1, 1e7, "full batch: samples per gradient-accumulation chunk"), &C::chunk},
      {FieldDecl::boolean("drop_last", false, "drop the last incomplete batch of an epoch"), &C::drop_last},
      {FieldDecl::number("lr", 0.01, 0, 1e6, "base learning rate", true), &C::lr},
      {FieldDecl::integer("seed", 1, 0, 9007199254740991.0, "run seed: initialisation, shuffling, dropout"),
       &C::seed},
      {FieldDecl::integer("epochs", 1, 1, 1e6, "epoch budget"), &C::epochs},
      {FieldDecl::integer("max_steps", 0, 0, kMaxCount, "step budget (0 = none)"), &C::max_steps},
      {FieldDecl::integer("max_samples", 0, 0, kMaxCount, "sample budget (0 = none)"), &C::max_samples},
      {FieldDecl::number("max_seconds", 0.0, 0, 1e9, "training-time budget in seconds (0 = none)"),
       &C::max_seconds},
      {FieldDecl::number("target_acc", 0.0, 0, 1, "test accuracy counted as reaching the target (0 = none)"),
       &C::target_acc},
      {FieldDecl::boolean("stop_at_target", false, "stop when the target is reached"), &C::stop_at_target},
      {FieldDecl::number("divergence_loss", 1e3, 0, 1e30, "a mini-batch loss above this (or non-finite) = diverged",
                         true),
       &C::divergence_loss},
      {FieldDecl::integer("log_every_steps", 0, 0, kMaxCount, "also evaluate every N steps (0 = per epoch only)"),
       &C::log_every_steps},
      {FieldDecl::integer("log_points_per_decade", 0, 0, 100, "also evaluate at steps 10^(k/n) (0 = off)"),
       &C::log_points_per_decade},
      {FieldDecl::integer("eval_batch", 1000, 1, 1e6, "evaluation batch size"), &C::eval_batch},
      {FieldDecl::boolean("eval_train", false, "also evaluate the full train split each epoch"), &C::eval_train},
      nested<C>("parallel", "how the run is spread over processes",
                {{FieldDecl::integer("data", 1, 1, 1024,
                                     "MPI ranks that train this run together, data-parallel (mpirun -n N; 1 = one "
                                     "process)"),
                  &C::data_parallel}}),
      nested<C>("clip", "gradient clipping before the update (0 = off): by value, then by global L2 norm",
                {{FieldDecl::number("norm", 0.0, 0, 1e30,
                                    "scale the whole gradient down to this L2 norm when above it "
                                    "(torch.nn.utils.clip_grad_norm_)"),
                  &C::clip_norm},
                 {FieldDecl::number("value", 0.0, 0, 1e30,
                                    "clamp every gradient element to [-value, value] (clip_grad_value_)"),
                  &C::clip_value}}),
      {FieldDecl::boolean("log_grad_norms", false,
                          "at every logged point, the L2 norm of each parameter's gradient (as used by the "
                          "update) and of its weights"),
       &C::log_grad_norms},
      nested<C>("noise_scale", "gradient noise scale B_simple = tr(Sigma)/|G|^2 logged during training",
                {{FieldDecl::integer("every_steps", 0, 0, kMaxCount,
                                     "one measurement every K steps (0 = off); consecutive: K >= big/small"),
                  &C::noise_every},
                 {FieldDecl::integer("small", 0, 0, kMaxCount,
                                     "the small batch b (0 = the run's batch_size; consecutive: must be it)"),
                  &C::noise_small},
                 {FieldDecl::integer("big", 0, 0, kMaxCount, "the big batch B: a multiple >= 2 of small (0 = 8 x small)"),
                  &C::noise_big},
                 {FieldDecl::number("ema", 0.9, 0, 1, "smoothing of the estimators' moving averages", false, true),
                  &C::noise_ema},
                 {FieldDecl::word("method", "fixed", {"fixed", "consecutive"},
                                  "fixed: B fresh samples at the current parameters, in B/b chunks (B/b extra "
                                  "gradients per measurement, timed apart); consecutive: the run's own B/b "
                                  "consecutive batch gradients (free, biased when the parameters move within them)"),
                  &C::noise_method}}),
      nested<C>("augment", "training-image augmentation, seeded (test and validation images are never changed)",
                {{FieldDecl::integer("crop_pad", 0, 0, 64,
                                     "random crop of the original size after zero-padding by this many pixels"),
                  &C::crop_pad},
                 {FieldDecl::boolean("hflip", false, "random horizontal flip with probability 0.5"), &C::hflip}})};
  return b;
}

}  // namespace

const KindDecl& config_decl() {
  static const KindDecl k = kind_decl<C>("config", "", "one training run", config_bindings());
  return k;
}

const std::vector<std::string>& config_field_names() {
  static const std::vector<std::string> n = [] {
    std::vector<std::string> v{"model", "init", "data", "optimizer", "batch_size", "schedule"};
    for (auto& f : config_decl().fields) v.push_back(f.name);
    return v;
  }();
  return n;
}

std::pair<int64_t, int64_t> TrainConfig::noise_batches(int64_t batch) const {
  const int64_t b = noise_small > 0 ? noise_small : batch;
  return {b, noise_big > 0 ? noise_big : 8 * b};
}

std::string TrainConfig::augment_problem(const Shape& sample) const {
  if ((crop_pad == 0 && !hflip) || (sample.rank() == 3 && sample[1] > 1 && sample[2] > 1)) return "";
  return "augment: needs images (C x H x W with H, W > 1); the data has samples of " + sample.str();
}

std::string TrainConfig::conflict() const {
  if (noise_every > 0) {
    const bool consecutive = noise_method == "consecutive";
    if (consecutive && batch_size == 0)
      return "noise_scale: needs mini-batches (batch_size \"full\" has one gradient per epoch)";
    if (batch_size == 0 && noise_small == 0)
      return "noise_scale.small: needed with batch_size \"full\" (there is no mini-batch size to default to)";
    if (consecutive && noise_small != 0 && noise_small != batch_size)
      return "noise_scale.small: " + std::to_string(noise_small) + " is not the run's batch_size " +
             std::to_string(batch_size) + " (the small-batch gradients are the run's own; leave it out or set it to " +
             std::to_string(batch_size) + ")";
    const auto [b, B] = noise_batches(batch_size);
    if (B % b != 0 || B < 2 * b)
      return "noise_scale.big: " + std::to_string(B) + " is not a multiple >= 2 of the small batch " +
             std::to_string(b);
    if (!consecutive && data_parallel > 1) return "noise_scale: not supported with parallel.data > 1";
    if (consecutive && noise_every < B / b)
      return "noise_scale.every_steps: " + std::to_string(noise_every) + " is shorter than one measurement (" +
             std::to_string(B / b) + " steps of batch " + std::to_string(b) + " make the big batch " +
             std::to_string(B) + ")";
  }
  if ((crop_pad > 0 || hflip) && batch_size == 0)
    return "augment: needs mini-batches (the full-batch gradient runs over the unchanged training set)";
  if (optimizer.name == "lbfgs" && (clip_norm > 0 || clip_value > 0))
    return "clip: not with lbfgs (its line search needs the loss's own gradient)";
  if (optimizer.name == "lbfgs" && data_parallel > 1)
    return "optimizer: lbfgs with parallel.data > 1 is not supported (its line search is not all-reduced)";
  return "";
}

void TrainConfig::read_fields(const nlohmann::json& resolved) { read_bound(*this, config_bindings(), resolved); }

nlohmann::json TrainConfig::to_json() const {
  nlohmann::json j = write_bound(*this, config_bindings());
  // Defaults are not written: ordinary runs keep the ids they had before these fields existed.
  if (data_parallel == 1) j.erase("parallel");
  if (clip_norm == 0 && clip_value == 0) j.erase("clip");
  if (!log_grad_norms) j.erase("log_grad_norms");
  if (noise_every == 0) j.erase("noise_scale");
  if (crop_pad == 0 && !hflip) j.erase("augment");
  j["model"] = model.canonical();
  j["model_name"] = model.name;
  j["init"] = init;
  j["data"] = data.to_json();
  j["optimizer"] = optimizer.to_json();
  j["schedule"] = schedule.to_json();
  if (batch_size == 0)
    j["batch_size"] = "full";
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
  if (!grad_norms.is_null()) j["grad_norms"] = grad_norms;
  if (!noise_scale.is_null()) j["noise_scale"] = noise_scale;
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
  s["final_state_hash"] = final_state_hash;
  if (noise_scale_seconds > 0) s["noise_scale_seconds"] = noise_scale_seconds;
  // Written when it differs from the step count (L-BFGS: its line search evaluates several times
  // per step, so samples and images/s alone understate its work).
  if (gradient_evaluations > 0 && gradient_evaluations != steps) s["gradient_evaluations"] = gradient_evaluations;
  return s;
}

}  // namespace sgdbench
