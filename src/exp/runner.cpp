// The sweep runner (see runner.hpp).
#include "exp/runner.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "core/error.hpp"
#include "core/interrupt.hpp"
#include "dnnl/context.hpp"
#include "exp/result.hpp"

namespace sgdbench {

namespace fs = std::filesystem;

std::string runs_dir(const RunOptions& opt, const Experiment& e) { return opt.out_dir + "/" + e.name + "/runs"; }

namespace {

std::string batch_str(const TrainConfig& c) { return c.batch_size == 0 ? "full" : std::to_string(c.batch_size); }

std::string describe(const RunSpec& r) {
  char b[256];
  std::snprintf(b, sizeof b, "%s %s bs=%s lr=%g seed=%llu", r.cfg.model.name.c_str(),
                r.cfg.label.empty() ? r.cfg.optimizer.name.c_str() : r.cfg.label.c_str(), batch_str(r.cfg).c_str(),
                r.cfg.lr, (unsigned long long)r.cfg.seed);
  return b;
}

// Removes temporary files left by writers provably dead (killed mid-write): see tmp_is_stale.
void remove_stale_tmp(const std::string& dir) {
  std::error_code ec;
  for (auto& f : fs::directory_iterator(dir, ec))
    if (tmp_is_stale(f.path().filename().string())) fs::remove(f.path(), ec);
}

class Reporter {
 public:
  Reporter(size_t total, bool enabled) : total_(total), tty_(::isatty(2)), enabled_(enabled), t0_(Clock::now()) {}
  void progress(size_t k, const RunSpec& r, const Progress& p) {
    if (!enabled_) return;
    std::lock_guard<std::mutex> lk(mu_);
    frac_[k] = p.fraction;
    char line[400];
    char loss[32] = "-";
    if (std::isfinite(p.train_loss)) std::snprintf(loss, sizeof loss, "%.4f", p.train_loss);
    std::snprintf(line, sizeof line,
                  "run %zu/%zu %s  epoch %lld/%lld step %lld  loss %s  test acc %s (step %lld)  ETA %s", k + 1, total_,
                  describe(r).c_str(), (long long)p.epoch, (long long)p.epochs, (long long)p.step, loss,
                  p.test_acc >= 0 ? fmt_pct(p.test_acc).c_str() : "-", (long long)p.test_acc_step, eta().c_str());
    if (tty_)
      std::fprintf(stderr, "\r\033[K%s", line);
    else if (p.step == 0 || p.fraction >= 1 || p.epoch != last_epoch_[k])
      std::fprintf(stderr, "%s\n", line);
    last_epoch_[k] = p.epoch;
    std::fflush(stderr);
  }
  void finished(size_t k, const RunSpec& r, const TrainResult& t) {
    std::lock_guard<std::mutex> lk(mu_);
    frac_.erase(k);
    ++done_;
    if (!enabled_) return;
    std::fprintf(stderr, "%sdone %zu/%zu %s: %s, test acc %s, %.1f s\n", tty_ ? "\r\033[K" : "", done_, total_,
                 describe(r).c_str(), to_string(t.status),
                 t.history.empty() ? "-" : fmt_pct(t.history.back().test_acc).c_str(),
                 t.train_seconds + t.eval_seconds);
  }
  void error(const RunSpec& r, const Error& e) {
    std::lock_guard<std::mutex> lk(mu_);
    ++done_;
    std::fprintf(stderr, "%ssgdbench: %s: run %s (%s): %s\n", tty_ ? "\r\033[K" : "", to_string(e.kind()), r.id.c_str(),
                 describe(r).c_str(), e.what());
  }
  static std::string fmt_pct(double a) {
    if (!std::isfinite(a)) return "nan";
    char b[16];
    std::snprintf(b, sizeof b, "%.2f%%", 100 * a);
    return b;
  }

 private:
  using Clock = std::chrono::steady_clock;
  std::string eta() const {
    double done = double(done_);
    for (auto& [k, f] : frac_) done += f;
    double el = std::chrono::duration<double>(Clock::now() - t0_).count();
    if (done < 0.01) return "?";
    double s = el / done * (double(total_) - done);
    char b[32];
    if (s >= 3600)
      std::snprintf(b, sizeof b, "%dh%02dm", int(s / 3600), int(std::fmod(s, 3600) / 60));
    else
      std::snprintf(b, sizeof b, "%dm%02ds", int(s / 60), int(std::fmod(s, 60)));
    return b;
  }
  std::mutex mu_;
  size_t total_, done_ = 0;
  bool tty_, enabled_;
  Clock::time_point t0_;
  std::map<size_t, double> frac_;
  std::map<size_t, int64_t> last_epoch_;
};

void print_table(const std::vector<const RunSpec*>& runs, const std::string& dir) {
  std::printf("\n%-16s %-16s %-18s %5s %9s %5s %-17s %8s %8s %9s %9s\n", "run", "model", "method", "batch", "lr",
              "seed", "status", "final", "best", "to target", "train s");
  for (auto* r : runs) {
    auto j = read_json_file(dir + "/" + r->id + ".json");
    if (!j || !is_finished_result(*j, r->id)) {
      std::printf("%-16s %-16s %-18s %5s %9g %5llu %-17s\n", r->id.c_str(), r->cfg.model.name.c_str(),
                  r->cfg.label.substr(0, 18).c_str(), batch_str(r->cfg).c_str(), r->cfg.lr,
                  (unsigned long long)r->cfg.seed, "not run");
      continue;
    }
    const auto& s = (*j)["summary"];  // an object (is_finished_result); its fields may be anything
    auto field = [&](const char* k) { return s.contains(k) ? s[k] : nlohmann::json(); };
    auto pct = [](const nlohmann::json& v) { return v.is_number() ? Reporter::fmt_pct(v.get<double>()) : "-"; };
    const auto steps = field("steps_to_target");
    std::string target = steps.is_number() ? std::to_string(int64_t(steps.get<double>())) + " st" : "-";
    const auto secs = field("train_seconds");
    std::printf("%-16s %-16s %-18s %5s %9g %5llu %-17s %8s %8s %9s %9.1f\n", r->id.c_str(), r->cfg.model.name.c_str(),
                r->cfg.label.substr(0, 18).c_str(), batch_str(r->cfg).c_str(), r->cfg.lr,
                (unsigned long long)r->cfg.seed, (*j)["status"].get<std::string>().c_str(),
                pct(field("final_test_acc")).c_str(), pct(field("best_test_acc")).c_str(), target.c_str(),
                secs.is_number() ? secs.get<double>() : 0.0);
  }
}

}  // namespace

int run_experiment(const Experiment& e, const RunOptions& opt) {
  SGD_CHECK(opt.shard_count >= 1 && opt.shard_index >= 0 && opt.shard_index < opt.shard_count, Usage,
            "--shard: index must be in 1..N");
  const std::string dir = runs_dir(opt, e);
  std::vector<const RunSpec*> mine, todo;
  for (auto& r : e.runs)
    if (int(r.index % size_t(opt.shard_count)) == opt.shard_index) mine.push_back(&r);
  size_t done_before = 0;
  for (auto* r : mine) {
    const std::string path = dir + "/" + r->id + ".json";
    auto j = opt.force ? std::nullopt : read_json_file(path);
    if (j && is_finished_result(*j, r->id)) {
      ++done_before;
      continue;
    }
    std::error_code ec;
    if (fs::exists(path, ec) && !opt.force)
      std::fprintf(stderr, "sgdbench: warning: %s is %s, not a finished result of this run: recomputing it\n",
                   path.c_str(), fs::is_directory(path, ec) ? "a directory" : "unreadable or incomplete");
    todo.push_back(r);
  }
  const int total_threads = opt.threads > 0 ? opt.threads : dnnl_ctx::hardware_threads();
  const int jobs = std::max(1, std::min<int>(opt.jobs, int(std::max<size_t>(todo.size(), 1))));
  const int per_job = std::max(1, total_threads / jobs);
  std::printf("experiment %s (%s): %zu runs", e.name.c_str(), e.path.c_str(), e.runs.size());
  if (opt.shard_count > 1) std::printf(", shard %d/%d holds %zu", opt.shard_index + 1, opt.shard_count, mine.size());
  std::printf("; %zu already done, %zu to run; %d job(s) x %d thread(s); results in %s\n", done_before, todo.size(),
              jobs, per_job, dir.c_str());
  if (opt.dry_run) {
    for (auto* r : mine)
      std::printf("  [%3zu] %s  %s%s\n", r->index, r->id.c_str(), describe(*r).c_str(),
                  std::find(todo.begin(), todo.end(), r) == todo.end() ? "  (done)" : "");
    return 0;
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) SGD_THROW(Io, dir, ": cannot create the results directory (", ec.message(), ")");
  remove_stale_tmp(dir);
  remove_stale_tmp(opt.out_dir + "/" + e.name);  // spec.json's
  write_json_atomic(opt.out_dir + "/" + e.name + "/spec.json", nlohmann::json::parse(e.spec.dump()));

  Reporter rep(todo.size(), opt.progress);
  std::mutex data_mu;
  std::map<std::string, std::shared_ptr<const Dataset>> data_cache;
  std::atomic<size_t> next{0};
  std::atomic<int> first_error{0};
  auto worker = [&] {
    dnnl_ctx::set_threads(per_job);
    for (size_t k; (k = next++) < todo.size();) {
      const RunSpec& r = *todo[k];
      try {
        std::shared_ptr<const Dataset> data;
        {
          std::lock_guard<std::mutex> lk(data_mu);
          auto key = r.cfg.data.to_json().dump();
          auto it = data_cache.find(key);
          if (it == data_cache.end())
            it = data_cache.emplace(key, std::make_shared<Dataset>(load_dataset(r.cfg.data))).first;
          data = it->second;
        }
        std::string started = utc_now();
        auto t = train(r.cfg, *data, [&](const Progress& p) { rep.progress(k, r, p); });
        auto doc = make_result(e, r, t, provenance(per_job, started, utc_now()));
        doc["data"] = {{"source", data->source},      {"checksum", data->checksum},
                       {"train", data->train.size()}, {"validation", data->validation.size()},
                       {"test", data->test.size()},   {"shape", data->shape.dims},
                       {"classes", data->classes},    {"preprocess", data->pre.name}};
        if (data->pre.name == "standardize") doc["data"]["mean"] = data->pre.mean, doc["data"]["std"] = data->pre.std;
        write_json_atomic(dir + "/" + r.id + ".json", doc);
        rep.finished(k, r, t);
      } catch (const Interrupted&) {
        next = todo.size();  // hand out no more runs; this one is not written (exit code: below)
      } catch (const Error& err) {
        rep.error(r, err);
        int zero = 0;
        first_error.compare_exchange_strong(zero, err.exit_code());
      } catch (const std::exception& ex) {
        rep.error(r, Error(ErrorKind::Internal, ex.what()));
        int zero = 0;
        first_error.compare_exchange_strong(zero, int(ErrorKind::Internal));
      }
    }
  };
  std::vector<std::thread> pool;
  for (int j = 1; j < jobs; ++j) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  print_table(mine, dir);
  if (int sig = interrupt_signal()) {
    size_t done = 0;
    for (auto* r : mine) done += fs::exists(dir + "/" + r->id + ".json");
    std::fprintf(stderr,
                 "sgdbench: interrupted by %s: %zu of %zu runs finished and kept in %s (the run in progress was "
                 "not written); run the same command again to resume\n",
                 Interrupted(sig).name(), done, mine.size(), dir.c_str());
    return Interrupted(sig).exit_code();
  }
  return first_error.load();
}

}  // namespace sgdbench
