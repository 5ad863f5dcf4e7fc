// The training loop (see trainer.hpp).
#include "train/trainer.hpp"

#include <chrono>
#include <cmath>
#include <numeric>

#include "core/error.hpp"
#include "data/batcher.hpp"
#include "layers/softmax_cross_entropy.hpp"
#include "model/zoo.hpp"

namespace sgdbench {

namespace {
using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }
}  // namespace

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

namespace {
// Runs the whole split through the network in chunks of `chunk` samples, in file order:
// gather + forward, then fn(plan, labels, chunk size) for the loss (and backward).
template <class F>
void for_each_chunk(Network& net, const Split& split, const Preprocess& pre, int64_t chunk, bool training, F fn) {
  const int64_t n = split.size(), P = net.input_shape().numel();
  std::vector<int64_t> idx(static_cast<size_t>(n));
  std::iota(idx.begin(), idx.end(), 0);
  std::vector<int32_t> y(static_cast<size_t>(std::min(chunk, n)));
  for (int64_t i = 0; i < n; i += chunk) {
    int64_t b = std::min(chunk, n - i);
    Plan& plan = net.plan(b, training);
    Batcher::gather(split, P, pre, idx.data() + i, b, plan.input(), y.data());
    plan.forward();
    fn(plan, y.data(), b);
  }
}
}  // namespace

EvalResult evaluate(Network& net, const Split& split, const Preprocess& pre, int64_t eval_batch) {
  EvalResult r;
  const int64_t n = split.size();
  if (n == 0) return r;
  double loss = 0;
  int64_t correct = 0;
  for_each_chunk(net, split, pre, eval_batch, false, [&](Plan& plan, const int32_t* y, int64_t b) {
    auto l = softmax_cross_entropy(plan.logits(), y, b, net.classes(), nullptr, 0);
    loss += l.loss * double(b);
    correct += l.correct;
  });
  r.loss = loss / double(n);
  r.acc = double(correct) / double(n);
  return r;
}

double full_batch_gradient(Network& net, const Split& split, const Preprocess& pre, int64_t chunk, float* out) {
  const int64_t n = split.size();
  const size_t m = net.buffer_size();
  std::fill(out, out + m, 0.f);
  double loss = 0;
  for_each_chunk(net, split, pre, chunk, true, [&](Plan& plan, const int32_t* y, int64_t b) {
    auto l = softmax_cross_entropy(plan.logits(), y, b, net.classes(), plan.diff_logits(), 1.0 / double(b));
    plan.backward();
    // Chunk means weighted by chunk size give the mean over the whole split.
    const float w = float(double(b) / double(n));
    const float* g = net.grads();
#pragma omp parallel for if (m >= kParallelMin)
    for (size_t j = 0; j < m; ++j) out[j] += w * g[j];
    loss += l.loss * double(b);
  });
  return loss / double(n);
}

TrainResult train(const TrainConfig& cfg, const Dataset& data,
                  const std::function<void(const Progress&)>& on_progress) {
  TrainResult res;
  auto net = build_network(cfg.model, data.shape, data.classes);
  Init init = init_from_string(cfg.init.empty() ? cfg.model.init : cfg.init);
  initialize(*net, init, cfg.seed);
  net->reseed_dropout(cfg.seed);
  auto opt = make_optimizer(cfg.optimizer);

  const Split& train_split = data.train;
  const int64_t N = train_split.size(), K = data.classes;
  SGD_CHECK(N > 0, Data, data.name, ": the train split is empty");
  const bool full = cfg.batch_size == 0;
  const int64_t B = full ? N : std::min(cfg.batch_size, N);
  Batcher batcher(train_split, data.shape, data.pre, B, true, cfg.seed, cfg.drop_last);
  const int64_t steps_per_epoch = full ? 1 : batcher.batches_per_epoch();
  SGD_CHECK(steps_per_epoch > 0, Spec, "batch_size ", B, " with drop_last leaves no batch of ", N, " samples");
  Schedule sched(cfg.schedule, cfg.lr, double(B), double(cfg.epochs));
  std::vector<int32_t> y(static_cast<size_t>(B));
  Tensor accum;
  if (full) accum = Tensor(Shape{int64_t(net->buffer_size())});

  double train_s = 0, eval_s = 0, loss_sum = 0;
  int64_t loss_n = 0, step = 0, samples = 0;
  int64_t next_log = 1;  // next log-spaced step
  int log_k = 0;
  auto advance_log = [&] {
    while (next_log <= step) next_log = std::llround(std::pow(10.0, double(++log_k) / cfg.log_points_per_decade));
  };
  bool stop = false;

  // Progress for the CLI: at every logged point, and at least every 2 s of training in between.
  double last_test_acc = -1, progress_at = 0;
  int64_t last_test_step = 0;
  auto report_progress = [&](double train_loss, double test_acc) {
    if (!on_progress) return;
    double frac = double(step) / double(steps_per_epoch * cfg.epochs);
    if (cfg.max_steps > 0) frac = std::max(frac, double(step) / double(cfg.max_steps));
    if (cfg.max_samples > 0) frac = std::max(frac, double(samples) / double(cfg.max_samples));
    if (cfg.max_seconds > 0) frac = std::max(frac, train_s / cfg.max_seconds);
    last_test_acc = test_acc, progress_at = train_s;
    on_progress(
        Progress{step / steps_per_epoch, cfg.epochs, step, train_loss, test_acc, std::min(frac, 1.0), last_test_step});
  };
  auto record = [&](const std::string& kind) {
    auto t0 = Clock::now();
    HistoryPoint h;
    h.kind = kind;
    h.epoch = double(step) / double(steps_per_epoch);
    h.step = step;
    h.samples = samples;
    h.lr = sched.lr(h.epoch);
    h.train_loss = loss_n > 0 ? loss_sum / double(loss_n) : NAN;
    loss_sum = 0, loss_n = 0;
    auto te = evaluate(*net, data.test, data.pre, cfg.eval_batch);
    h.test_loss = te.loss, h.test_acc = te.acc;
    if (data.validation.size() > 0) {
      auto v = evaluate(*net, data.validation, data.pre, cfg.eval_batch);
      h.val_loss = v.loss, h.val_acc = v.acc;
    }
    if (cfg.eval_train && kind == "epoch") {
      auto t = evaluate(*net, train_split, data.pre, cfg.eval_batch);
      h.train_full_loss = t.loss, h.train_full_acc = t.acc;
    }
    eval_s += seconds_since(t0);
    h.train_seconds = train_s, h.eval_seconds = eval_s;
    res.history.push_back(h);
    if (cfg.target_acc > 0 && !res.target_step && h.test_acc >= cfg.target_acc) {
      res.target_step = step, res.target_samples = samples, res.target_seconds = train_s, res.target_epoch = h.epoch;
      if (cfg.stop_at_target)
        stop = true, res.status = "stopped_at_target", res.stop_reason = "target accuracy reached";
    }
    last_test_step = step;
    report_progress(h.train_loss, h.test_acc);
  };
  auto budget_hit = [&]() -> bool {
    const char* why = nullptr;
    if (cfg.max_steps > 0 && step >= cfg.max_steps)
      why = "max_steps";
    else if (cfg.max_samples > 0 && samples >= cfg.max_samples)
      why = "max_samples";
    else if (cfg.max_seconds > 0 && train_s >= cfg.max_seconds)
      why = "max_seconds";
    if (!why) return false;
    res.status = "budget_exhausted", res.stop_reason = std::string(why) + " reached";
    return true;
  };
  // One optimizer step from the current gradient (or accum); false when the loss diverged.
  auto take_step = [&](double loss, int64_t n, const float* grad) {
    if (!std::isfinite(loss) || loss > cfg.divergence_loss) {
      res.status = "diverged";
      res.stop_reason =
          std::isfinite(loss) ? "loss " + std::to_string(loss) + " above divergence_loss" : "non-finite loss";
      return false;
    }
    opt->step(net->params(), grad, net->buffer_size(), sched.lr(double(step) / double(steps_per_epoch)));
    ++step;
    samples += n;
    loss_sum += loss * double(n), loss_n += n;
    return true;
  };

  record("epoch");  // the starting point (step 0)
  for (int64_t epoch = 0; epoch < cfg.epochs && !stop; ++epoch) {
    if (full) {
      auto t0 = Clock::now();
      double loss = full_batch_gradient(*net, train_split, data.pre, cfg.chunk, accum.data());
      bool ok = take_step(loss, N, accum.data());
      train_s += seconds_since(t0);
      if (!ok) break;
    } else {
      batcher.start_epoch(epoch);
      Plan* main_plan = &net->plan(B, true);
      for (;;) {
        auto t0 = Clock::now();
        int64_t n = batcher.next_size();
        Plan& plan = n == B || n == 0 ? *main_plan : net->plan(n, true);
        n = batcher.next(plan.input(), y.data());
        if (n == 0) {
          train_s += seconds_since(t0);
          break;
        }
        plan.forward();
        auto l = softmax_cross_entropy(plan.logits(), y.data(), n, K, plan.diff_logits(), 1.0 / double(n));
        plan.backward();
        bool ok = take_step(l.loss, n, net->grads());
        train_s += seconds_since(t0);
        if (!ok) {
          stop = true;
          break;
        }
        bool log_now = (cfg.log_every_steps > 0 && step % cfg.log_every_steps == 0) ||
                       (cfg.log_points_per_decade > 0 && step == next_log);
        if (cfg.log_points_per_decade > 0) advance_log();
        bool end_of_epoch = step % steps_per_epoch == 0;
        if (log_now && !end_of_epoch)
          record("interval");
        else if (on_progress && train_s - progress_at > 2.0 && loss_n > 0)
          report_progress(loss_sum / double(loss_n), last_test_acc);
        if (stop) break;
        if (budget_hit()) {
          stop = true;
          if (!end_of_epoch) record("interval");
          break;
        }
      }
    }
    if (res.status == "diverged") break;
    if (!stop || res.status == "budget_exhausted") {
      if (res.history.back().step != step) record("epoch");
    }
    if (!stop && budget_hit()) stop = true;
  }
  if (res.status.empty()) res.status = "completed", res.stop_reason = "epoch budget done";
  res.steps = step, res.samples = samples, res.train_seconds = train_s, res.eval_seconds = eval_s;
  return res;
}

}  // namespace sgdbench
