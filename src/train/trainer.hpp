// Trainer: the one loop for GD (batch "full", gradient accumulated over chunks), SGD (batch 1)
// and mini-batch (batch B); the optimizer decides plain/momentum/Nesterov/Adam... Budgets, stop
// rules (target accuracy, divergence) and logging (per epoch, every N steps, log-spaced steps).
// Training time excludes evaluation time. Two seams: a gradient hook between the gradient and the
// update (all-reduce, clipping, statistics) and a closure that re-evaluates loss and gradient at
// the current parameters (L-BFGS, line searches). Not: spec parsing or result files (src/exp/).
#pragma once
#include <functional>
#include <optional>
#include <utility>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/dataset.hpp"
#include "model/model_desc.hpp"
#include "model/network.hpp"
#include "optim/optimizer.hpp"
#include "optim/schedule.hpp"

namespace sgdbench {

enum class RunStatus { Running, Completed, Diverged, StoppedAtTarget, BudgetExhausted };
const char* to_string(RunStatus s);  // "completed", "diverged", ... (the result files' strings)

struct TrainConfig {
  std::string label;                     // method label for plots ("SGD", "momentum 0.9", ...)
  ModelDesc model = ModelDesc("lenet");  // a zoo model or a user's description
  std::string init;                      // "" = the model's own initialiser (its "init")
  DataConfig data;
  OptimizerConfig optimizer;
  int64_t batch_size = 32;  // 0 = full batch (GD)
  int64_t chunk = 1000;     // full batch: samples per accumulation chunk (bounded memory)
  bool drop_last = false;
  double lr = 0.01;
  ScheduleConfig schedule;
  uint64_t seed = 1;
  // budgets (0 = unlimited except epochs)
  int64_t epochs = 1, max_steps = 0, max_samples = 0;
  double max_seconds = 0;
  // stop rules
  double target_acc = 0;  // 0 = none
  bool stop_at_target = false;
  double divergence_loss = 1e3;  // a mini-batch loss above this (or non-finite) = diverged
  // logging / evaluation
  int64_t log_every_steps = 0;
  int log_points_per_decade = 0;  // log-spaced points at steps 10^(k/n)
  int64_t eval_batch = 1000;
  bool eval_train = false;  // also the loss/accuracy on the full train split each epoch
  // Data-parallel training over MPI ("parallel": {"data": N}): N ranks each compute the gradient of
  // their slice of every global batch; one all-reduce per step. 1 = one process (not written in
  // the canonical config, so run ids of ordinary runs do not change).
  int64_t data_parallel = 1;
  // Gradient health: clipping ("clip": {"norm": x, "value": v}, 0 = off; value first, then norm,
  // as torch.nn.utils.clip_grad_value_ / clip_grad_norm_) and per-parameter gradient and weight
  // norms at every logged point ("log_grad_norms": true).
  double clip_norm = 0, clip_value = 0;
  bool log_grad_norms = false;
  // Gradient noise scale ("noise_scale": {"every_steps": K, "small": b, "big": B, "ema": a,
  // "method": "fixed" | "consecutive"}): every K steps one measurement of the two-batch-size
  // estimators of |G|^2 and tr(Sigma); see noise_scale.hpp.
  int64_t noise_every = 0, noise_small = 0, noise_big = 0;
  double noise_ema = 0.9;
  std::string noise_method = "fixed";
  // Image augmentation ("augment": {"crop_pad": P, "hflip": true}): seeded random crop after
  // zero-padding by P pixels and a random horizontal flip (p = 0.5), per training sample.
  int64_t crop_pad = 0;
  bool hflip = false;

  // The plain-valued fields from a resolve_fields(config_decl(), ...) result.
  void read_fields(const nlohmann::json& resolved);
  // The checks that span several fields: "" when the config is consistent, else the problem
  // ("noise_scale.big: ..."), starting with the field's path.
  std::string conflict() const;
  // The same for the data's sample shape: augmentation needs images.
  std::string augment_problem(const Shape& sample) const;
  // noise_scale's small and big batch sizes, b defaulting to `batch` and B to 8b.
  std::pair<int64_t, int64_t> noise_batches(int64_t batch) const;
  nlohmann::json to_json() const;  // the canonical, fully resolved config (hashed into the run id)
};

// The declaration of a run config's plain-valued fields (label, lr, seed, budgets, logging...).
const KindDecl& config_decl();
// Every field a run config may have: model, init, data, optimizer, batch_size, schedule and
// config_decl()'s fields.
const std::vector<std::string>& config_field_names();

// "GD", "SGD", "mini-batch 32", with " + momentum 0.9", " + Nesterov 0.9", " + Adam" etc.
std::string default_label(const TrainConfig& c);

struct HistoryPoint {
  std::string kind;  // "epoch" or "interval"
  double epoch = 0;  // fractional progress
  int64_t step = 0, samples = 0;
  double train_seconds = 0, eval_seconds = 0, lr = 0;
  double train_loss = 0;  // running mean of mini-batch losses since the previous point
  double test_loss = 0, test_acc = 0;
  std::optional<double> val_loss, val_acc, train_full_loss, train_full_acc;
  // Optional (null when off): log_grad_norms' {"grad": param_norms, "weights": param_norms, ...}
  // and noise_scale's NoiseScale::point().
  nlohmann::json grad_norms, noise_scale;
  nlohmann::json to_json() const;
};

struct TrainResult {
  RunStatus status = RunStatus::Running;
  std::string stop_reason;
  std::vector<HistoryPoint> history;
  int64_t steps = 0, samples = 0;
  double train_seconds = 0, eval_seconds = 0;
  double noise_scale_seconds = 0;  // time measuring the noise scale (excluded from train_seconds)
  int64_t gradient_evaluations = 0;  // loss + gradient computations (L-BFGS: several per step)
  std::optional<int64_t> target_step, target_samples;
  std::optional<double> target_seconds, target_epoch;
  std::string final_state_hash;  // state_hash() of the trained network
  nlohmann::json summary() const;
};

// FNV-1a 64 (hex) over the parameters and the non-trainable state (running statistics) as they
// are in memory: two machines (or two runs) trained the same model bitwise iff the hashes agree.
std::string state_hash(const Network& net);

struct Progress {
  int64_t epoch = 0, epochs = 0, step = 0;
  double train_loss = 0, test_acc = -1, fraction = 0;  // fraction of the budget done
  int64_t test_acc_step = 0;                           // the step test_acc was measured at (the last logged point)
};

struct EvalResult {
  double loss = 0, acc = 0;
};
EvalResult evaluate(Network& net, const Split& split, const Preprocess& pre, int64_t eval_batch);

class Batcher;

class Trainer {
 public:
  // Called once per step after the step's gradient is complete (for GD the whole chunked mean)
  // and before the optimizer update; may read or change the gradient buffer in place.
  using GradientHook = std::function<void(Network& net, float* grad, size_t n, int64_t step)>;

  // Builds and initialises the model for `data` (which must outlive the trainer).
  Trainer(TrainConfig cfg, const Dataset& data);
  ~Trainer();
  void set_gradient_hook(GradientHook hook) { hook_ = std::move(hook); }
  void set_progress(std::function<void(const Progress&)> f) { on_progress_ = std::move(f); }
  // The learning rate of step s (0-based) from f(s) instead of the schedule (lr-find).
  void set_lr_function(std::function<double(int64_t)> f) { lr_fn_ = std::move(f); }
  // Called after every step with its number (1-based), learning rate and mini-batch loss;
  // returning false ends the run there (status completed, "stopped by the caller").
  void set_step_callback(std::function<bool(int64_t, double, double)> f) { on_step_ = std::move(f); }
  // Prepare the next batch on a background thread while the current one trains (default on when
  // the run augments its images and computes on fewer threads than the machine has); the results
  // are the same either way.
  void set_prefetch(bool on);
  // Re-evaluates the loss and the gradient (into network().grads(); for GD into the accumulator) at the current
  // parameters on the current step's batch (the whole train split for GD), then runs the gradient hook (not when called
  // from inside it). Deterministic: dropout masks are those of the step (the dropout generator is rewound), so two
  // calls give the same loss and gradient.
  double closure();
  // Trains to the end of the budget (or a stop rule); call once.
  TrainResult run();
  Network& network() { return *net_; }
  // Steps whose update some layers applied in their backward pass (Plan::backward(const FusedSgd*)).
  int64_t fused_steps() const { return fused_steps_; }
  RunStatus status() const { return res_.status; }

 private:
  double compute_gradient();  // loss of the current batch; gradient into net_->grads() (or accum_)
  void measure_noise();       // "fixed" noise scale: B fresh samples at the current parameters
  void measure_noise_if_due();  // measure_noise() at its steps, timed apart from training
  bool load_batch();          // next mini-batch into the plan; false at the end of the epoch
  bool take_step(double loss, int64_t n);
  double step_lr() const;  // the learning rate of step step_
  void record(const char* kind);
  bool budget_hit();
  double agreed_train_seconds();
  void report_progress(double train_loss, double test_acc);

  TrainConfig cfg_;
  const Dataset& data_;
  std::unique_ptr<Network> net_;
  std::unique_ptr<Optimizer> opt_;
  std::unique_ptr<Batcher> batcher_;
  std::unique_ptr<Schedule> sched_;
  GradientHook hook_;
  std::function<double(int64_t)> lr_fn_;
  std::function<bool(int64_t, double, double)> on_step_;
  std::unique_ptr<class NoiseScale> noise_;
  int64_t observed_step_ = -1;  // the step whose gradient noise_ has seen
  double clip_norm_before_ = 0, clip_scale_ = 1;
  double noise_s_ = 0;  // seconds in noise_->observe(), taken out of the training time
  int64_t evals_ = 0;   // compute_gradient() calls
  std::vector<int64_t> noise_order_;  // "fixed": the train indices, partly reshuffled per measurement
  std::function<void(const Progress&)> on_progress_;
  TrainResult res_;
  bool full_ = false, stop_ = false, in_hook_ = false;
  int64_t batch_ = 0, steps_per_epoch_ = 0, step_ = 0, samples_ = 0, loss_n_ = 0;
  int64_t next_log_ = 1, last_test_step_ = 0;
  int log_k_ = 0;
  double train_s_ = 0, eval_s_ = 0, loss_sum_ = 0, last_test_acc_ = -1, progress_at_ = 0;
  // Fused update (Plan::backward(const FusedSgd*)): run() sets fuse_step_ for the step's own
  // compute_gradient(); fused_ is what that backward updated, for take_step's finish_fused.
  bool fuse_step_ = false;
  int64_t fused_steps_ = 0;
  const std::vector<const float*>* fused_ = nullptr;
  Plan* plan_ = nullptr;       // the plan holding the current mini-batch
  Plan* main_plan_ = nullptr;  // the full-batch-size plan, fetched once per epoch
  int64_t n_ = 0;              // samples in the current batch (all ranks')
  int64_t n_local_ = 0;        // data-parallel: this rank's share of them
  int rank_ = 0, ranks_ = 1;   // data-parallel rank and ranks (parallel.data)
  bool have_batch_ = false;
  Rng dropout_at_step_{0};     // the dropout generator as it was when the current batch's step began
  Tensor accum_;               // GD: the chunked mean gradient
};

// Trains a freshly built model on `data` per cfg. on_progress is called at every logged point.
TrainResult train(const TrainConfig& cfg, const Dataset& data,
                  const std::function<void(const Progress&)>& on_progress = {});

// Accumulates the mean gradient over the whole split in chunks into `out` (net.buffer_size()
// floats); returns the mean loss. Exposed for the full-batch equivalence test.
// Samples [begin, end) only (end < 0: to the end), with each chunk's gradient scaled by
// 1/total (total <= 0: end - begin): the data-parallel ranks' share of the mean over all ranks.
double full_batch_gradient(Network& net, const Split& split, const Preprocess& pre, int64_t chunk, float* out,
                           int64_t begin = 0, int64_t end = -1, int64_t total = 0);

}  // namespace sgdbench
