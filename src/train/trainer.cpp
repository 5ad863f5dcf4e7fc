// The training loop (see trainer.hpp).
#include "train/trainer.hpp"

#include "dnnl/context.hpp"

#include <csignal>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cmath>
#include <numeric>

#include "core/env.hpp"
#include "core/error.hpp"
#include "core/interrupt.hpp"
#include "core/parallel.hpp"
#include "core/rng.hpp"
#include "data/batcher.hpp"
#include "dist/world.hpp"
#include "train/grad_health.hpp"
#include "train/noise_scale.hpp"

namespace sgdbench {

namespace {
using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }
}  // namespace

namespace {
// Runs the whole split through the network in chunks of `chunk` samples, in file order:
// gather into the plan's input and labels, then fn(plan, chunk size).
template <class F>
void for_each_chunk(Network& net, const Split& split, const Preprocess& pre, int64_t chunk, bool training, F fn,
                    int64_t begin = 0, int64_t end = -1) {
  const int64_t n = end < 0 ? split.size() : end, P = net.input_shape().numel();
  std::vector<int64_t> idx(static_cast<size_t>(n));
  std::iota(idx.begin(), idx.end(), 0);
  for (int64_t i = begin; i < n; i += chunk) {
    int64_t b = std::min(chunk, n - i);
    Plan& plan = net.plan(b, training);
    Batcher::gather(split, P, pre, idx.data() + i, b, plan.input(), plan.labels());
    fn(plan, b);
  }
}
}  // namespace

EvalResult evaluate(Network& net, const Split& split, const Preprocess& pre, int64_t eval_batch) {
  EvalResult r;
  const int64_t n = split.size();
  if (n == 0) return r;
  double loss = 0;
  int64_t correct = 0;
  for_each_chunk(net, split, pre, eval_batch, false, [&](Plan& plan, int64_t b) {
    auto l = plan.forward_loss();
    loss += l.loss * double(b);
    correct += l.correct;
  });
  r.loss = loss / double(n);
  r.acc = double(correct) / double(n);
  return r;
}

double full_batch_gradient(Network& net, const Split& split, const Preprocess& pre, int64_t chunk, float* out,
                           int64_t begin, int64_t end, int64_t total) {
  if (end < 0) end = split.size();
  const int64_t n = total > 0 ? total : end - begin;
  const size_t m = net.buffer_size();
  std::fill(out, out + m, 0.f);
  double loss = 0;
  for_each_chunk(
      net, split, pre, chunk, true,
      [&](Plan& plan, int64_t b) {
        auto l = plan.forward_loss();
        plan.backward();
        // Chunk means weighted by chunk size give the mean over the whole split.
        const float w = float(double(b) / double(n));
        const float* g = net.grads();
        parallel_for(int64_t(m), m >= kParallelMin, [&](int64_t j) { out[j] += w * g[j]; });
        loss += l.loss * double(b);
      },
      begin, end);
  return loss / double(n);
}

Trainer::Trainer(TrainConfig cfg, const Dataset& data) : cfg_(std::move(cfg)), data_(data) {
  if (auto problem = cfg_.conflict(); !problem.empty()) SGD_THROW(Spec, problem);
  if (auto problem = cfg_.augment_problem(data_.shape); !problem.empty()) SGD_THROW(Spec, problem);
  const Augment aug{cfg_.crop_pad, cfg_.hflip};
  net_ = build_network(cfg_.model, data_.shape, data_.classes);
  initialize(*net_, init_from_string(cfg_.init.empty() ? cfg_.model.init : cfg_.init), cfg_.seed);
  if (cfg_.data_parallel > 1) {
    const auto& w = dist::world();
    SGD_CHECK(w.size == cfg_.data_parallel, Usage, "the run asks for parallel.data = ", cfg_.data_parallel,
              " ranks but this is ", w.size == 1 ? "one process" : std::to_string(w.size) + " MPI ranks",
              ": start it with mpirun -n ", cfg_.data_parallel);
    rank_ = w.rank, ranks_ = w.size;
  }
  net_->reseed_dropout(cfg_.seed, uint64_t(rank_));  // each rank its own masks; rank 0 those of one process
  opt_ = make_optimizer(cfg_.optimizer);
  if (auto p = optimizer_memory_problem(cfg_.optimizer, net_->buffer_size()); !p.empty())
    SGD_THROW(Spec, "optimizer.history_size: ", p);
  const int64_t N = data_.train.size();
  SGD_CHECK(N > 0, Data, data_.name, ": the train split is empty");
  full_ = cfg_.batch_size == 0;
  batch_ = full_ ? N : std::min(cfg_.batch_size, N);
  batcher_ =
      std::make_unique<Batcher>(data_.train, data_.shape, data_.pre, batch_, true, cfg_.seed, cfg_.drop_last, aug);
  batcher_->set_slice(rank_, ranks_);
  // The prefetch thread: on for augmented runs that leave a core free (with every core computing,
  // a third thread preempts an OpenMP worker at its barriers: 1.4-4x slower steps measured, see
  // README); SGDBENCH_PREFETCH=1 / 0 turns it on / off for every run (the numbers are the same).
  const bool prefetch = env_switch("SGDBENCH_PREFETCH", aug.on() && dnnl_ctx::threads() < dnnl_ctx::hardware_threads());
  if (prefetch && !full_) batcher_->set_prefetch(true);
  steps_per_epoch_ = full_ ? 1 : batcher_->batches_per_epoch();
  SGD_CHECK(steps_per_epoch_ > 0, Spec, "batch_size ", batch_, " with drop_last leaves no batch of ", N, " samples");
  sched_ = std::make_unique<Schedule>(cfg_.schedule, cfg_.lr, double(batch_), double(cfg_.epochs));
  if (full_) accum_ = Tensor(Shape{int64_t(net_->buffer_size())});
  if (cfg_.noise_every > 0) {
    const auto [b, B] = cfg_.noise_batches(batch_);
    SGD_CHECK(cfg_.noise_method != "fixed" || B <= N, Spec, "noise_scale.big: ", B, " is more than the ", N,
              " training samples");
    noise_ = std::make_unique<NoiseScale>(cfg_.noise_every, b, B, cfg_.noise_ema);
  }
}

Trainer::~Trainer() = default;

void Trainer::set_prefetch(bool on) {
  if (!full_) batcher_->set_prefetch(on);
}

bool Trainer::load_batch() {
  int64_t n = batcher_->next_size();
  if (n == 0) return false;
  auto [lo, hi] = batcher_->slice(n);  // data-parallel: this rank's part of the batch
  n_local_ = hi - lo;
  // Only a last partial batch looks its plan up; a rank with no sample this step has none.
  plan_ = n_local_ == 0 ? nullptr : n == batch_ ? main_plan_ : &net_->plan(n_local_, true);
  n_ = batcher_->next(plan_ ? plan_->input() : nullptr, plan_ ? plan_->labels() : nullptr);
  dropout_at_step_ = net_->dropout_rng();
  have_batch_ = true;
  return n_ > 0;
}

double Trainer::compute_gradient() {
  ++evals_;
  const bool fuse = fuse_step_ && ranks_ == 1 && !noise_ && cfg_.clip_norm <= 0 && cfg_.clip_value <= 0 && !hook_;
  fuse_step_ = false;
  fused_ = nullptr;
  net_->dropout_rng() = dropout_at_step_;  // the same masks for every evaluation of this step
  double loss = 0;
  float* grad = full_ ? accum_.data() : net_->grads();
  const size_t m = net_->buffer_size();
  if (full_) {
    const int64_t N = data_.train.size();
    auto [lo, hi] = slice_of(N, rank_, ranks_);
    loss = full_batch_gradient(*net_, data_.train, data_.pre, cfg_.chunk, grad, lo, hi, N);
  } else if (plan_) {
    // Data-parallel: each rank's gradient of its slice scaled by 1/(global batch), so the sum over
    // the ranks is the global batch mean exactly, however unevenly the batch divides.
    const auto l = plan_->forward_loss(ranks_ > 1 ? 1.0 / double(n_) : -1.0);
    loss = l.loss * double(n_local_) / double(n_);
    // The update of the layers that can apply it in their backward pass (dense_fused.hpp): only
    // in the step run() takes next, with nothing between gradient and update (one process, no
    // clipping, gradient hook or noise measurement) and a loss take_step() accepts.
    FusedSgd f;
    if (fuse && std::isfinite(loss) && loss <= cfg_.divergence_loss &&
        opt_->begin_fused(m, step_lr(), net_->params(), f))
      fused_ = &plan_->backward(&f);
    else
      plan_->backward();
  } else {
    std::fill(grad, grad + m, 0.f);
  }
  if (ranks_ > 1) {
    dist::allreduce_sum(grad, m);  // the one all-reduce over the whole gradient buffer
    // The loss, and whether any rank got SIGINT/SIGTERM: all ranks stop at the same step.
    double v[2] = {loss, double(interrupt_signal())};
    dist::allreduce_sum(v, 2);
    loss = v[0];
    if (v[1] > 0) throw Interrupted(interrupt_signal() ? interrupt_signal() : SIGTERM);
  }
  if (noise_ && cfg_.noise_method == "consecutive" && observed_step_ != step_) {  // the raw gradient, once per step
    observed_step_ = step_;
    const auto t0 = Clock::now();
    noise_->observe(grad, m, step_);
    noise_s_ += seconds_since(t0);
  }
  if (cfg_.clip_norm > 0 || cfg_.clip_value > 0) {
    const auto c = clip_gradient(grad, m, cfg_.clip_norm, cfg_.clip_value);
    clip_norm_before_ = c.norm_before, clip_scale_ = c.scale;
  }
  if (hook_ && !in_hook_) {
    in_hook_ = true;  // a closure() called from inside the hook does not run the hook again
    hook_(*net_, grad, m, step_);
    in_hook_ = false;
  }
  return loss;
}

void Trainer::measure_noise() {
  const int64_t b = noise_->small(), B = noise_->big(), k = B / b, N = data_.train.size();
  const int64_t P = net_->input_shape().numel();
  if (noise_order_.empty()) {
    noise_order_.resize(size_t(N));
    std::iota(noise_order_.begin(), noise_order_.end(), 0);
  }
  // B distinct samples: a partial Fisher-Yates draw, seeded by (run seed, step).
  Rng r(cfg_.seed, RngPurpose::Noise, uint64_t(step_));
  for (int64_t i = 0; i < B; ++i) std::swap(noise_order_[size_t(i)], noise_order_[size_t(i + int64_t(r.below(uint64_t(N - i))))]);
  // Neither the training's dropout masks nor batch norm's running statistics may change.
  const Rng saved_rng = net_->dropout_rng();
  net_->dropout_rng() = Rng(cfg_.seed, RngPurpose::Noise, ~uint64_t(step_));
  std::vector<float> saved_state(net_->state(), net_->state() + net_->state_size());
  const size_t m = net_->buffer_size();
  std::vector<float> sum(m, 0.f);
  double small_sq = 0;
  Plan& plan = net_->plan(b, true);
  for (int64_t c = 0; c < k; ++c) {
    Batcher::gather(data_.train, P, data_.pre, noise_order_.data() + c * b, b, plan.input(), plan.labels());
    plan.forward_loss();
    plan.backward();
    const float* g = net_->grads();
    const double norm = l2_norm(g, m);
    small_sq += norm * norm;
    for (size_t j = 0; j < m; ++j) sum[j] += g[j];
  }
  const double big = l2_norm(sum.data(), m) / double(k);
  noise_->add(small_sq / double(k), big * big);
  net_->dropout_rng() = saved_rng;
  std::copy(saved_state.begin(), saved_state.end(), net_->state());
}

void Trainer::measure_noise_if_due() {
  if (!noise_ || cfg_.noise_method != "fixed" || !noise_->due(step_)) return;
  const auto t0 = Clock::now();
  measure_noise();
  noise_s_ += seconds_since(t0);
}

double Trainer::closure() {
  SGD_CHECK(full_ || have_batch_, Internal, "Trainer::closure() before the first batch");
  return compute_gradient();
}

double Trainer::step_lr() const {
  return lr_fn_ ? lr_fn_(step_) : sched_->lr(double(step_) / double(steps_per_epoch_));
}

// One optimizer step from the current gradient; false when the loss diverged.
bool Trainer::take_step(double loss, int64_t n) {
  if (!std::isfinite(loss) || loss > cfg_.divergence_loss) {
    res_.status = RunStatus::Diverged;
    res_.stop_reason =
        std::isfinite(loss) ? "loss " + std::to_string(loss) + " above divergence_loss" : "non-finite loss";
    return false;
  }
  float* grad = full_ ? accum_.data() : net_->grads();
  const double lr = step_lr();
  if (fused_) {  // compute_gradient's backward updated the weights in *fused_
    dnnl_ctx::ThreadScope scope(plan_->threads());
    opt_->finish_fused(net_->params(), grad, net_->buffer_size(), lr, net_->param_refs(), *fused_);
    if (!fused_->empty()) ++fused_steps_;
    fused_ = nullptr;
  } else if (opt_->needs_closure()) {  // L-BFGS: re-evaluates the loss and gradient along its line search
    opt_->step_with(net_->params(), grad, net_->buffer_size(), lr, loss, [&] { return compute_gradient(); });
  } else {
    dnnl_ctx::ThreadScope scope(full_ || !plan_ || ranks_ > 1 ? 0 : plan_->threads());  // a tiny step's update
    opt_->step(net_->params(), grad, net_->buffer_size(), lr, net_->param_refs());
  }
  ++step_;
  samples_ += n;
  loss_sum_ += loss * double(n), loss_n_ += n;
  if (on_step_ && !on_step_(step_, lr, loss)) stop_ = true, res_.stop_reason = "stopped by the caller";
  return true;
}

// Progress for the CLI: at every logged point, and at least every 2 s of training in between.
void Trainer::report_progress(double train_loss, double test_acc) {
  if (!on_progress_) return;
  double frac = double(step_) / double(steps_per_epoch_ * cfg_.epochs);
  if (cfg_.max_steps > 0) frac = std::max(frac, double(step_) / double(cfg_.max_steps));
  if (cfg_.max_samples > 0) frac = std::max(frac, double(samples_) / double(cfg_.max_samples));
  if (cfg_.max_seconds > 0) frac = std::max(frac, train_s_ / cfg_.max_seconds);
  last_test_acc_ = test_acc, progress_at_ = train_s_;
  on_progress_(Progress{step_ / steps_per_epoch_, cfg_.epochs, step_, train_loss, test_acc, std::min(frac, 1.0),
                        last_test_step_});
}

void Trainer::record(const char* kind) {
  auto t0 = Clock::now();
  HistoryPoint h;
  h.kind = kind;
  h.epoch = double(step_) / double(steps_per_epoch_);
  h.step = step_;
  h.samples = samples_;
  h.lr = sched_->lr(h.epoch);
  h.train_loss = loss_n_ > 0 ? loss_sum_ / double(loss_n_) : NAN;
  loss_sum_ = 0, loss_n_ = 0;
  auto te = evaluate(*net_, data_.test, data_.pre, cfg_.eval_batch);
  h.test_loss = te.loss, h.test_acc = te.acc;
  if (data_.validation.size() > 0) {
    auto v = evaluate(*net_, data_.validation, data_.pre, cfg_.eval_batch);
    h.val_loss = v.loss, h.val_acc = v.acc;
  }
  if (cfg_.log_grad_norms) {
    // The gradient of the last step as the update used it (after clipping), and the weights now.
    h.grad_norms = {{"weights", param_norms(*net_, net_->params())}};
    if (step_ > 0) h.grad_norms["grad"] = param_norms(*net_, full_ ? accum_.data() : net_->grads());
    if (step_ > 0 && cfg_.clip_norm > 0)
      h.grad_norms["norm_before_clip"] = clip_norm_before_, h.grad_norms["clip_scale"] = clip_scale_;
  }
  if (noise_) h.noise_scale = noise_->point();
  if (cfg_.eval_train && h.kind == "epoch") {
    auto t = evaluate(*net_, data_.train, data_.pre, cfg_.eval_batch);
    h.train_full_loss = t.loss, h.train_full_acc = t.acc;
  }
  if (ranks_ > 1) {  // every rank decides (target, stop) on rank 0's figures: no rank goes on alone
    double v[2] = {h.test_loss, h.test_acc};
    dist::broadcast(v, 2, 0);
    h.test_loss = v[0], h.test_acc = v[1];
  }
  eval_s_ += seconds_since(t0);
  h.train_seconds = train_s_, h.eval_seconds = eval_s_;
  res_.history.push_back(h);
  if (cfg_.target_acc > 0 && !res_.target_step && h.test_acc >= cfg_.target_acc) {
    res_.target_step = step_, res_.target_samples = samples_, res_.target_seconds = train_s_;
    res_.target_epoch = h.epoch;
    if (cfg_.stop_at_target)
      stop_ = true, res_.status = RunStatus::StoppedAtTarget, res_.stop_reason = "target accuracy reached";
  }
  last_test_step_ = step_;
  report_progress(h.train_loss, h.test_acc);
}

// Training seconds so far; data-parallel: rank 0's, so every rank stops at the same step.
double Trainer::agreed_train_seconds() {
  double t = train_s_;
  if (ranks_ > 1) dist::broadcast(&t, 1, 0);
  return t;
}

bool Trainer::budget_hit() {
  const char* why = nullptr;
  if (cfg_.max_steps > 0 && step_ >= cfg_.max_steps)
    why = "max_steps";
  else if (cfg_.max_samples > 0 && samples_ >= cfg_.max_samples)
    why = "max_samples";
  else if (cfg_.max_seconds > 0 && agreed_train_seconds() >= cfg_.max_seconds)
    why = "max_seconds";
  if (!why) return false;
  res_.status = RunStatus::BudgetExhausted, res_.stop_reason = std::string(why) + " reached";
  return true;
}

TrainResult Trainer::run() {
  const int64_t N = data_.train.size();
  record("epoch");  // the starting point (step 0)
  for (int64_t epoch = 0; epoch < cfg_.epochs && !stop_; ++epoch) {
    if (full_) {
      if (ranks_ == 1) check_interrupt();  // data-parallel: agreed in compute_gradient
      measure_noise_if_due();
      auto t0 = Clock::now();
      dropout_at_step_ = net_->dropout_rng();
      bool ok = take_step(compute_gradient(), N);
      train_s_ += seconds_since(t0);
      if (!ok) break;
    } else {
      batcher_->start_epoch(epoch);
      const auto [lo, hi] = slice_of(batch_, rank_, ranks_);
      main_plan_ = hi > lo ? &net_->plan(hi - lo, true) : nullptr;
      for (;;) {
        // SIGINT/SIGTERM: stop here, between steps (the run is not written); data-parallel: all
        // ranks agree in compute_gradient.
        if (ranks_ == 1) check_interrupt();
        if (batcher_->next_size() > 0) measure_noise_if_due();  // before load_batch(): the plan is free
        auto t0 = Clock::now();
        if (!load_batch()) {
          train_s_ += seconds_since(t0);
          break;
        }
        const double noise0 = noise_s_;
        fuse_step_ = true;
        bool ok = take_step(compute_gradient(), n_);
        train_s_ += seconds_since(t0) - (noise_s_ - noise0);  // measuring is not training
        if (!ok) {
          stop_ = true;
          break;
        }
        bool log_now = (cfg_.log_every_steps > 0 && step_ % cfg_.log_every_steps == 0) ||
                       (cfg_.log_points_per_decade > 0 && step_ == next_log_);
        if (cfg_.log_points_per_decade > 0)
          while (next_log_ <= step_)
            next_log_ = std::llround(std::pow(10.0, double(++log_k_) / cfg_.log_points_per_decade));
        bool end_of_epoch = step_ % steps_per_epoch_ == 0;
        if (log_now && !end_of_epoch)
          record("interval");
        else if (on_progress_ && train_s_ - progress_at_ > 2.0 && loss_n_ > 0)
          report_progress(loss_sum_ / double(loss_n_), last_test_acc_);
        if (stop_) break;
        if (budget_hit()) {
          stop_ = true;
          if (!end_of_epoch) record("interval");
          break;
        }
      }
    }
    if (res_.status == RunStatus::Diverged) break;
    if (!stop_ || res_.status == RunStatus::BudgetExhausted) {
      if (res_.history.back().step != step_) record("epoch");
    }
    if (!stop_ && budget_hit()) stop_ = true;
  }
  if (res_.status == RunStatus::Running) {
    res_.status = RunStatus::Completed;
    if (res_.stop_reason.empty()) res_.stop_reason = "epoch budget done";
  }
  res_.steps = step_, res_.samples = samples_, res_.train_seconds = train_s_, res_.eval_seconds = eval_s_;
  res_.noise_scale_seconds = noise_s_;
  if (opt_->needs_closure()) res_.gradient_evaluations = evals_;
  res_.final_state_hash = state_hash(*net_);
  // Testing hook: SGDBENCH_SAVE_PARAMS=DIR writes the trained parameters (raw fp32, in buffer
  // order) to DIR/<final_state_hash>.f32, e.g. to compare data-parallel with one-process training.
  if (const char* dir = std::getenv("SGDBENCH_SAVE_PARAMS"); dir && *dir && rank_ == 0) {
    const std::string path = std::string(dir) + "/" + res_.final_state_hash + ".f32";
    if (FILE* f = std::fopen(path.c_str(), "wb")) {
      std::fwrite(net_->params(), sizeof(float), net_->buffer_size(), f);
      std::fclose(f);
    }
  }
  return res_;
}

std::string state_hash(const Network& net) {
  uint64_t h = 0xCBF29CE484222325ull;  // FNV-1a 64
  auto add = [&](const float* p, size_t n) {
    auto b = reinterpret_cast<const unsigned char*>(p);
    for (size_t i = 0; i < n * sizeof(float); ++i) h = (h ^ b[i]) * 0x100000001B3ull;
  };
  add(net.params(), net.buffer_size());
  add(net.state(), net.state_size());
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return hex;
}

TrainResult train(const TrainConfig& cfg, const Dataset& data,
                  const std::function<void(const Progress&)>& on_progress) {
  Trainer t(cfg, data);
  t.set_progress(on_progress);
  return t.run();
}

}  // namespace sgdbench
