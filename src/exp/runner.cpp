// The sweep runner (see runner.hpp): local jobs, and the pieces shared with the MPI sweep (sweep.hpp).
#include "exp/runner.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "core/error.hpp"
#include "core/interrupt.hpp"
#include "core/peers.hpp"
#include "dnnl/context.hpp"
#include "dist/world.hpp"
#include "exp/claim.hpp"
#include "exp/result.hpp"
#include "exp/sweep.hpp"

namespace sgdbench {

namespace fs = std::filesystem;

std::string runs_dir(const RunOptions& opt, const Experiment& e) { return opt.out_dir + "/" + e.name + "/runs"; }

namespace {
std::string batch_str(const TrainConfig& c) { return c.batch_size == 0 ? "full" : std::to_string(c.batch_size); }
}  // namespace

std::string describe_run(const RunSpec& r) {
  char b[256];
  std::snprintf(b, sizeof b, "%s %s bs=%s lr=%g seed=%llu", r.cfg.model.name.c_str(),
                r.cfg.label.empty() ? r.cfg.optimizer.name.c_str() : r.cfg.label.c_str(), batch_str(r.cfg).c_str(),
                r.cfg.lr, (unsigned long long)r.cfg.seed);
  return b;
}

std::string fmt_pct(double a) {
  if (!std::isfinite(a)) return "nan";
  char b[16];
  std::snprintf(b, sizeof b, "%.2f%%", 100 * a);
  return b;
}

std::string fmt_duration(double s) {
  char b[32];
  if (s >= 3600)
    std::snprintf(b, sizeof b, "%dh%02dm", int(s / 3600), int(std::fmod(s, 3600) / 60));
  else
    std::snprintf(b, sizeof b, "%dm%02ds", int(s / 60), int(std::fmod(s, 60)));
  return b;
}

namespace {

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
                  describe_run(r).c_str(), (long long)p.epoch, (long long)p.epochs, (long long)p.step, loss,
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
    const double all = t.train_seconds + t.eval_seconds;
    std::fprintf(stderr, "%sdone %zu/%zu %s: %s, test acc %s, %.1f s (%.0f%% evaluating)\n", tty_ ? "\r\033[K" : "",
                 done_, total_, describe_run(r).c_str(), to_string(t.status),
                 t.history.empty() ? "-" : fmt_pct(t.history.back().test_acc).c_str(), all,
                 all > 0 ? 100.0 * t.eval_seconds / all : 0.0);
  }
  void elsewhere(size_t k, const RunSpec& r) {
    std::lock_guard<std::mutex> lk(mu_);
    frac_.erase(k);
    ++done_;
    if (!enabled_) return;
    std::fprintf(stderr, "%sdone %zu/%zu %s: finished by another process\n", tty_ ? "\r\033[K" : "", done_, total_,
                 describe_run(r).c_str());
  }
  void error(const RunSpec& r, const Error& e) {
    std::lock_guard<std::mutex> lk(mu_);
    ++done_;
    std::fprintf(stderr, "%ssgdbench: %s: run %s (%s): %s\n", tty_ ? "\r\033[K" : "", to_string(e.kind()), r.id.c_str(),
                 describe_run(r).c_str(), e.what());
  }
 private:
  using Clock = std::chrono::steady_clock;
  std::string eta() const {
    double done = double(done_);
    for (auto& [k, f] : frac_) done += f;
    double el = std::chrono::duration<double>(Clock::now() - t0_).count();
    if (done < 0.01) return "?";
    return fmt_duration(el / done * (double(total_) - done));
  }
  std::mutex mu_;
  size_t total_, done_ = 0;
  bool tty_, enabled_;
  Clock::time_point t0_;
  std::map<size_t, double> frac_;
  std::map<size_t, int64_t> last_epoch_;
};

}  // namespace

void print_table(const Sweep& sw) {
  const std::string& dir = sw.dir;
  std::printf("\n%-16s %-16s %-18s %5s %9s %5s %-17s %8s %8s %9s %9s %8s\n", "run", "model", "method", "batch", "lr",
              "seed", "status", "final", "best", "to target", "train s", "eval s");
  double train_total = 0, eval_total = 0;
  for (auto* r : sw.mine) {
    auto j = read_json_file(dir + "/" + r->id + ".json");
    if (!j || !is_finished_result(*j, r->id)) {
      std::printf("%-16s %-16s %-18s %5s %9g %5llu %-17s\n", r->id.c_str(), r->cfg.model.name.c_str(),
                  r->cfg.label.substr(0, 18).c_str(), batch_str(r->cfg).c_str(), r->cfg.lr,
                  (unsigned long long)r->cfg.seed, "not run");
      continue;
    }
    const auto& s = (*j)["summary"];  // an object (is_finished_result); its fields may be anything
    auto field = [&](const char* k) { return s.contains(k) ? s[k] : nlohmann::json(); };
    auto pct = [](const nlohmann::json& v) { return v.is_number() ? fmt_pct(v.get<double>()) : "-"; };
    const auto steps = field("steps_to_target");
    std::string target = steps.is_number() ? std::to_string(int64_t(steps.get<double>())) + " st" : "-";
    const auto secs = field("train_seconds"), esecs = field("eval_seconds");
    const double ts = secs.is_number() ? secs.get<double>() : 0.0, es = esecs.is_number() ? esecs.get<double>() : 0.0;
    train_total += ts, eval_total += es;
    std::printf("%-16s %-16s %-18s %5s %9g %5llu %-17s %8s %8s %9s %9.1f %8.1f\n", r->id.c_str(),
                r->cfg.model.name.c_str(), r->cfg.label.substr(0, 18).c_str(), batch_str(r->cfg).c_str(), r->cfg.lr,
                (unsigned long long)r->cfg.seed, (*j)["status"].get<std::string>().c_str(),
                pct(field("final_test_acc")).c_str(), pct(field("best_test_acc")).c_str(), target.c_str(), ts, es);
  }
  // Evaluation (the test set at every logged point) is time the runs spend not training: say how much.
  if (train_total + eval_total > 0)
    std::printf("training %.1f s, evaluation %.1f s (%.0f%% of the runs' time; fewer logged points or a smaller "
                "eval split make it less)\n",
                train_total, eval_total, 100.0 * eval_total / (train_total + eval_total));
}


Sweep plan_sweep(const Experiment& e, const RunOptions& opt) {
  SGD_CHECK(opt.shard_count >= 1 && opt.shard_index >= 0 && opt.shard_index < opt.shard_count, Usage,
            "--shard: index must be in 1..N");
  Sweep s{e, opt, runs_dir(opt, e), {}, {}, 0};
  for (auto& r : e.runs)
    if (int(r.index % size_t(opt.shard_count)) == opt.shard_index) s.mine.push_back(&r);
  for (auto* r : s.mine) {
    const std::string path = s.dir + "/" + r->id + ".json";
    auto j = opt.force ? std::nullopt : read_json_file(path);
    if (j && is_finished_result(*j, r->id)) {
      ++s.done_before;
      continue;
    }
    std::error_code ec;
    if (fs::exists(path, ec) && !opt.force)
      std::fprintf(stderr, "sgdbench: warning: %s is %s, not a finished result of this run: recomputing it\n",
                   path.c_str(), fs::is_directory(path, ec) ? "a directory" : "unreadable or incomplete");
    s.todo.push_back(r);
  }
  return s;
}

void print_plan(const Sweep& s, const std::string& how) {
  std::printf("experiment %s (%s): %zu runs", s.e.name.c_str(), s.e.path.c_str(), s.e.runs.size());
  if (s.opt.shard_count > 1)
    std::printf(", shard %d/%d%s holds %zu", s.opt.shard_index + 1, s.opt.shard_count,
                s.opt.shard_note.empty() ? "" : (" (" + s.opt.shard_note + ")").c_str(), s.mine.size());
  std::printf("; %zu already done, %zu to run; %s; results in %s\n", s.done_before, s.todo.size(), how.c_str(),
              s.dir.c_str());
  if (s.opt.dry_run)
    for (auto* r : s.mine)
      std::printf("  [%3zu] %s  %s%s\n", r->index, r->id.c_str(), describe_run(*r).c_str(),
                  std::find(s.todo.begin(), s.todo.end(), r) == s.todo.end() ? "  (done)" : "");
  std::fflush(stdout);
}

namespace {
// An experiment directory's identity, identity.json: the hash of the sorted run ids of each spec
// whose runs it holds. Two different specs (or the same one with other --set values) under one
// experiment name and --out would mix their runs silently: refused unless --allow-mixed, which
// adds the new spec's hash. `train` (a spec from flags) collects its runs there on purpose.
void check_identity(const Sweep& s, const std::string& exp_dir) {
  if (s.e.path == kCommandLineSpec) return;
  std::vector<std::string> ids;
  for (auto& r : s.e.runs) ids.push_back(r.id);
  std::sort(ids.begin(), ids.end());
  const std::string hash = run_id(nlohmann::json(ids));
  const std::string path = exp_dir + "/identity.json";
  nlohmann::json doc = {{"schema_version", 1}, {"specs", nlohmann::json::array()}};
  if (auto old = read_json_file(path); old && old->is_object() && (*old)["specs"].is_array()) doc = *old;
  for (auto& x : doc["specs"])
    if (x.is_object() && x.value("runs_hash", "") == hash) return;
  if (!doc["specs"].empty() && !s.opt.allow_mixed) {
    const auto& first = doc["specs"][0];
    SGD_THROW(Spec, s.e.path, ": ", exp_dir, " already holds runs of experiment '", s.e.name,
              "' from a different spec, --set or sgdbench version (", first.value("spec_file", std::string("?")), ", ",
              first.value("runs", 0), " runs; this one has ", s.e.runs.size(),
              "): use another --out or experiment name, or --allow-mixed to add these runs beside them");
  }
  doc["specs"].push_back({{"runs_hash", hash}, {"runs", s.e.runs.size()}, {"spec_file", s.e.path}, {"added", utc_now()}});
  write_json_atomic(path, doc);
}
}  // namespace

void prepare_output(const Sweep& s) {
  std::error_code ec;
  fs::create_directories(s.dir, ec);
  if (ec) SGD_THROW(Io, s.dir, ": cannot create the results directory (", ec.message(), ")");
  remove_stale_tmp(s.dir);
  const std::string exp_dir = s.opt.out_dir + "/" + s.e.name;
  remove_stale_tmp(exp_dir);  // spec.json's
  check_identity(s, exp_dir);
  write_json_atomic(exp_dir + "/spec.json", nlohmann::json::parse(s.e.spec.dump()));
}

Executor::Executor(const Sweep& s) : s_(s), started_(fs::file_time_type::clock::now()) {}

bool finished_since(const Sweep& s, const RunSpec& r, std::optional<fs::file_time_type> since) {
  const std::string path = s.dir + "/" + r.id + ".json";
  auto j = read_json_file(path);
  if (!j || !is_finished_result(*j, r.id)) return false;
  if (!since) return true;
  std::error_code ec;
  auto t = fs::last_write_time(path, ec);
  return !ec && t > *since;
}

TrainResult Executor::run(const RunSpec& r, int threads, const std::function<void(const Progress&)>& on_progress,
                          bool write, bool wait) {
  std::optional<RunClaim> claim;
  if (write && claims_) {
    std::string holder;
    claim = RunClaim::take(s_.dir, r.id, &holder, wait);
    if (!claim) throw RunElsewhere{true, holder};
    // Another process may have finished it since the plan (with --force: since this sweep began).
    if (finished_since(s_, r, s_.opt.force ? std::optional(started_) : std::nullopt)) throw RunElsewhere{false, ""};
  }
  std::shared_ptr<const Dataset> data;
  {
    std::lock_guard<std::mutex> lk(mu_);
    auto key = r.cfg.data.to_json().dump();
    auto it = cache_.find(key);
    if (it == cache_.end()) it = cache_.emplace(key, std::make_shared<Dataset>(load_dataset(r.cfg.data))).first;
    data = it->second;
  }
  std::string started = utc_now();
  auto t = train(r.cfg, *data, on_progress);
  if (!write) return t;
  auto doc = make_result(s_.e, r, t, provenance(threads, started, utc_now()));
  doc["data"] = {{"source", data->source},      {"checksum", data->checksum},
                 {"train", data->train.size()}, {"validation", data->validation.size()},
                 {"test", data->test.size()},   {"shape", data->shape.dims},
                 {"classes", data->classes},    {"preprocess", data->pre.name}};
  if (data->pre.name == "standardize") doc["data"]["mean"] = data->pre.mean, doc["data"]["std"] = data->pre.std;
  if (r.cfg.data_parallel > 1)  // how the ranks shared the work (trainer.cpp: slices, dropout streams)
    doc["provenance"]["data_parallel"] = {
        {"ranks", r.cfg.data_parallel},
        {"batch_slices", "rank r takes samples [r*n/N, (r+1)*n/N) of every batch of n (GD: of the train split)"},
        {"dropout_streams", "rank r draws its dropout masks from stream r of the run seed (rank 0: a one-process "
                            "run's masks)"}};
  write_json_atomic(s_.dir + "/" + r.id + ".json", doc);
  return t;
}

int finish_sweep(const Sweep& s, int first_error) {
  print_table(s);
  int sig = interrupt_signal();
  if (!sig && first_error > 128 && first_error < 128 + 65) sig = first_error - 128;  // another rank's signal
  if (sig) {
    size_t done = 0;
    for (auto* r : s.mine) done += fs::exists(s.dir + "/" + r->id + ".json");
    std::fprintf(stderr,
                 "sgdbench: interrupted by %s: %zu of %zu runs finished and kept in %s (the run in progress was "
                 "not written); run the same command again to resume\n",
                 Interrupted(sig).name(), done, s.mine.size(), s.dir.c_str());
    return Interrupted(sig).exit_code();
  }
  return first_error;
}

namespace {
// Runs that train on several ranks together (parallel.data > 1): every rank of the MPI world takes
// part in each, one run after another; rank 0 plans, reports and writes the results.
int run_sweep_data_parallel(const Experiment& e, const RunOptions& opt) {
  const auto& w = dist::world();
  Sweep s = w.rank == 0 ? plan_sweep(e, opt) : Sweep{e, opt, runs_dir(opt, e), {}, {}, 0};
  const int threads = threads_per_rank(opt);
  // Rank 0's list of runs to do, as run indices, for every rank (they may not plan themselves:
  // rank 0 could already be writing a result while they read the directory).
  // The last two entries: rank 0's hash of the run ids, to check every rank expanded the same spec.
  std::vector<double> todo(e.runs.size() + 2, 0.0);
  std::vector<std::string> id_list;
  for (auto& r : e.runs) id_list.push_back(r.id);
  const uint64_t ids = std::stoull(run_id(nlohmann::json(id_list)), nullptr, 16);  // the one FNV-1a of JSON
  int code = 0;
  std::vector<RunClaim> claims;  // rank 0's, released when the sweep ends
  if (w.rank == 0) {
    print_plan(s, std::to_string(w.size) + " MPI ranks train each run together (data-parallel), " +
                      std::to_string(threads) + " thread(s) each");
    try {
      if (!opt.dry_run) prepare_output(s);
    } catch (const Error& err) {
      std::fprintf(stderr, "sgdbench: %s: %s\n", to_string(err.kind()), err.what());
      code = err.exit_code();
    }
    // Rank 0 claims its runs up front (the ranks must agree on the list before any is trained); a
    // run another process holds is left to it.
    size_t busy = 0;
    std::string holder;
    for (auto* r : s.todo) {
      if (opt.dry_run || code != 0) break;
      auto c = RunClaim::take(s.dir, r->id, &holder);
      if (!c) {
        ++busy;
        continue;
      }
      if (!opt.force && finished_since(s, *r, std::nullopt)) continue;  // finished by another process since the plan
      claims.push_back(std::move(*c));
      todo[r->index] = 1.0;
    }
    if (busy)
      std::fprintf(stderr, "sgdbench: %zu run(s) are being computed by another process (%s): left to it\n", busy,
                   holder.c_str());
    todo[e.runs.size()] = double(ids >> 32), todo[e.runs.size() + 1] = double(ids & 0xFFFFFFFFu);
  }
  dist::broadcast(todo.data(), todo.size(), 0);
  if (code == 0 && (uint64_t(todo[e.runs.size()]) << 32 | uint64_t(todo[e.runs.size() + 1])) != ids) {
    std::fprintf(stderr, "sgdbench: spec error: %s: rank %d expanded different runs from rank 0's (the spec or "
                 "the options differ between ranks)\n", e.path.c_str(), w.rank);
    code = int(ErrorKind::Spec);
  }
  if (auto f = dist::first_failure(code); f.rank >= 0) return f.code;
  Reporter rep(s.todo.size(), opt.progress && w.rank == 0);
  Executor exec(s);
  exec.set_claims(false);
  dnnl_ctx::set_threads(threads);
  size_t k = 0;
  int sig = 0;
  for (auto& r : e.runs) {
    if (todo[r.index] == 0) continue;
    try {
      auto t = exec.run(r, threads, [&](const Progress& p) { rep.progress(k, r, p); }, w.rank == 0);
      if (w.rank == 0) rep.finished(k, r, t);
      ++k;
    } catch (const Interrupted& i) {
      sig = i.signal();  // every rank stopped at the same step (the trainer agrees on signals)
      break;
    } catch (const Error& err) {
      // The other ranks may be inside a collective of this run: end them all.
      std::fprintf(stderr, "sgdbench: %s: run %s (%s) [rank %d]: %s\n", to_string(err.kind()), r.id.c_str(),
                   describe_run(r).c_str(), w.rank, err.what());
      dist::abort_all(err.exit_code());
    }
  }
  if (w.rank != 0) return sig ? Interrupted(sig).exit_code() : 0;
  return opt.dry_run ? 0 : finish_sweep(s, sig ? Interrupted(sig).exit_code() : 0);
}
}  // namespace

namespace {
bool has_data_parallel(const Experiment& e, const RunOptions& opt) {
  for (auto& r : e.runs)
    if (r.cfg.data_parallel > 1 && int(r.index % size_t(opt.shard_count)) == opt.shard_index) return true;
  return false;
}
}  // namespace

void check_parallel(const Experiment& e, const RunOptions& opt) {
  if (!has_data_parallel(e, opt)) return;
  const int n = dist::world().size;
  for (auto& r : e.runs)
    SGD_CHECK(r.cfg.data_parallel == n, Usage, e.path, ": run ", r.index, " (", describe_run(r),
              ") asks for parallel.data = ", r.cfg.data_parallel, " but this is ",
              n == 1 ? std::string("one process") : std::to_string(n) + " MPI ranks",
              ": start it with mpirun -n ", r.cfg.data_parallel,
              " (every run of a data-parallel sweep needs the same parallel.data)");
}

int run_experiment(const Experiment& e, const RunOptions& opt) {
  check_parallel(e, opt);
  if (has_data_parallel(e, opt)) return run_sweep_data_parallel(e, opt);
  if (dist::world().size > 1) return run_sweep_mpi(e, opt);
  Sweep s = plan_sweep(e, opt);
  const int total_threads = opt.threads > 0 ? opt.threads : dnnl_ctx::hardware_threads();
  const int jobs = std::max(1, std::min<int>(opt.jobs, int(std::max<size_t>(s.todo.size(), 1))));
  const int per_job = std::max(1, total_threads / jobs);
  // Threads not chosen (no --threads, no OMP_NUM_THREADS): each run starts with this machine's
  // cores shared among the live sgdbench processes (core/peers.hpp) and less those other programs
  // keep busy (sampled for 50 ms), so two sweeps on one machine, or a sweep beside a build, do
  // not spin each other's OpenMP threads to a standstill. The count is fixed for the run and
  // recorded in its provenance (a run's numbers depend on its thread count, not on its timing).
  const bool share = opt.threads <= 0 && !std::getenv("OMP_NUM_THREADS");
  print_plan(s, std::to_string(jobs) + " job(s) x " + std::to_string(per_job) + " thread(s)" +
                    (share ? " (fewer while other sgdbench processes run here)" : ""));
  if (opt.dry_run) return 0;
  prepare_output(s);
  register_as_peer();
  std::atomic<bool> noted{false};
  auto threads_now = [&] {
    if (!share) return per_job;
    const auto pids = live_peers();
    const int peers = int(pids.size()), busy = busy_cores_elsewhere(50, pids);
    const int n = std::max(1, std::min(total_threads / (1 + peers), total_threads - busy) / jobs);
    if (n < per_job && !noted.exchange(true))
      std::fprintf(stderr, "sgdbench: %d other sgdbench process(es) running and %d of %d cores busy with other work "
                   "on this machine: runs start with %d thread(s) each while they are (--threads N fixes the "
                   "count)\n", peers, std::min(busy, total_threads), total_threads, n);
    return n;
  };

  Reporter rep(s.todo.size(), opt.progress);
  Executor exec(s);
  std::atomic<size_t> next{0};
  std::atomic<int> first_error{0};
  std::mutex deferred_mu;
  std::vector<size_t> deferred;  // runs another process was computing: waited for at the end
  std::string holder;
  // One run: its outcome reported, errors kept. wait: for another process's claim on it.
  auto one = [&](size_t k, bool wait) {
    const RunSpec& r = *s.todo[k];
    try {
      const int threads = threads_now();
      dnnl_ctx::set_threads(threads);
      auto t = exec.run(r, threads, [&](const Progress& p) { rep.progress(k, r, p); }, true, wait);
      rep.finished(k, r, t);
    } catch (const Interrupted&) {
      next = s.todo.size();  // hand out no more runs; this one is not written (exit code: below)
    } catch (const RunElsewhere& x) {
      if (x.busy) {
        std::lock_guard<std::mutex> lk(deferred_mu);
        deferred.push_back(k);
        holder = x.holder;
      } else {
        rep.elsewhere(k, r);
      }
    } catch (const Error& err) {
      rep.error(r, err);
      int zero = 0;
      first_error.compare_exchange_strong(zero, err.exit_code());
    } catch (const std::exception& ex) {
      rep.error(r, Error(ErrorKind::Internal, ex.what()));
      int zero = 0;
      first_error.compare_exchange_strong(zero, int(ErrorKind::Internal));
    }
  };
  auto worker = [&] {
    dnnl_ctx::set_threads(per_job);
    for (size_t k; (k = next++) < s.todo.size();) one(k, false);
  };
  std::vector<std::thread> pool;
  for (int j = 1; j < jobs; ++j) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  // Runs claimed by another process sharing this directory: wait for each (sleeping); if that
  // process stops without finishing one, its claim is released and this process computes it.
  if (!deferred.empty() && !interrupt_signal()) {
    std::sort(deferred.begin(), deferred.end());
    std::fprintf(stderr, "sgdbench: waiting for %zu run(s) that another process is computing (%s); a run it does "
                 "not finish is computed here\n", deferred.size(), holder.c_str());
    for (size_t k : deferred)
      if (!interrupt_signal()) one(k, true);
  }
  return finish_sweep(s, first_error.load());
}

}  // namespace sgdbench
