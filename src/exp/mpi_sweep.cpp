// A sweep over the ranks of an MPI world (mpirun -n N sgdbench run SPEC): a dynamic work queue.
// Rank 0 reads what is done, prints the plan, hands out the next unfinished run to whichever rank
// asks (its own run thread included: the main thread of rank 0 only coordinates), prints one line
// per finished run with its rank and an ETA, then the one summary table; every rank exits with the
// same code (the first error of any rank, or the interrupt's). Each rank writes its own result
// files exactly as a local run does. Not: MPI itself (dist/world.hpp).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "core/error.hpp"
#include "core/interrupt.hpp"
#include "core/peers.hpp"
#include "dist/world.hpp"
#include "dnnl/context.hpp"
#include "exp/sweep.hpp"

namespace sgdbench {

namespace {
using nlohmann::json;
constexpr int kTagReport = 11, kTagWork = 12, kTagDone = 13;

// What a rank sends after a run: the outcome, for rank 0's progress line and exit code.
json run_report(const RunSpec& r, const TrainResult& t) {
  return {{"k", r.index},
          {"status", to_string(t.status)},
          {"acc", t.history.empty() ? -1.0 : t.history.back().test_acc},
          {"seconds", t.train_seconds + t.eval_seconds}};
}

// Runs one run, turning every outcome into a report (Interrupted included). wait: for another
// process's claim on the run (see Executor::run).
json run_and_report(Executor& exec, const RunSpec& r, int threads, bool wait) {
  try {
    return run_report(r, exec.run(r, threads, {}, true, wait));
  } catch (const RunElsewhere& x) {
    return {{"k", r.index}, {"elsewhere", x.busy ? "busy" : "done"}, {"holder", x.holder}};
  } catch (const Interrupted& i) {
    return {{"k", r.index}, {"interrupted", i.signal()}};
  } catch (const Error& err) {
    return {{"k", r.index}, {"error", std::string(to_string(err.kind())) + ": " + err.what()}, {"code", err.exit_code()}};
  } catch (const std::exception& ex) {
    return {{"k", r.index}, {"error", std::string("internal error: ") + ex.what()}, {"code", int(ErrorKind::Internal)}};
  }
}

int worker_rank(const Experiment& e, const RunOptions& opt) {
  register_as_peer();  // counted by local sweeps on this machine (ranks share cores by threads_per_rank)
  Sweep s{e, opt, runs_dir(opt, e), {}, {}, 0};
  Executor exec(s);
  const int threads = threads_per_rank(opt);
  dnnl_ctx::set_threads(threads);
  json report = json::object();
  for (;;) {
    dist::send(0, kTagReport, report.dump());
    auto w = json::parse(dist::recv(0, kTagWork));
    if (w.contains("stop")) break;
    const size_t k = w["k"].get<size_t>();
    if (k >= e.runs.size() || e.runs[k].id != w["id"].get<std::string>()) {
      report = {{"k", k},
                {"error", "spec: " + e.path + " differs between ranks (changed while the sweep started?)"},
                {"code", int(ErrorKind::Spec)}};
      continue;
    }
    report = run_and_report(exec, e.runs[k], threads, w.value("wait", false));
  }
  return json::parse(dist::recv(0, kTagDone))["code"].get<int>();
}

class Coordinator {
 public:
  explicit Coordinator(const Sweep& s) : s_(s), t0_(Clock::now()) {}

  // The next run to hand out, or nullptr when none is left or a signal arrived. *wait: it is a
  // run another process was computing, handed out again once the queue is empty, to be waited for.
  const RunSpec* take(bool* wait) {
    std::lock_guard<std::mutex> lk(mu_);
    *wait = false;
    if (stopping_ || interrupt_signal()) return nullptr;
    if (next_ < s_.todo.size()) return s_.todo[next_++];
    if (deferred_.empty()) return nullptr;
    if (!announced_)
      std::fprintf(stderr, "sgdbench: waiting for %zu run(s) that another process is computing (%s); a run it does "
                   "not finish is computed here\n", deferred_.size(), holder_.c_str());
    announced_ = true;
    *wait = true;
    const RunSpec* r = deferred_.front();
    deferred_.erase(deferred_.begin());
    return r;
  }

  void outcome(int rank, const json& rep) {
    if (!rep.contains("k")) return;  // a rank's first request
    std::lock_guard<std::mutex> lk(mu_);
    const RunSpec& r = s_.e.runs.at(rep["k"].get<size_t>());
    ++done_;
    const double el = std::chrono::duration<double>(Clock::now() - t0_).count();
    const std::string eta = fmt_duration(el / double(done_) * double(s_.todo.size() - done_));
    if (rep.contains("elsewhere")) {
      if (rep["elsewhere"] == "busy") {  // another process holds its claim: asked again at the end
        deferred_.push_back(&r);
        holder_ = rep.value("holder", "");
        --done_;
        return;
      }
      if (s_.opt.progress)
        std::fprintf(stderr, "done %zu/%zu [rank %d] %s: finished by another process; ETA %s\n", done_,
                     s_.todo.size(), rank, describe_run(r).c_str(), eta.c_str());
      return;
    }
    if (rep.contains("interrupted")) {  // a signal on any rank stops the whole sweep
      keep_first(128 + rep["interrupted"].get<int>());
      stopping_ = true;
      --done_;
      return;
    }
    if (rep.contains("error")) {
      std::fprintf(stderr, "sgdbench: %s [rank %d, run %s (%s)]\n", rep["error"].get<std::string>().c_str(), rank,
                   r.id.c_str(), describe_run(r).c_str());
      keep_first(rep["code"].get<int>());
      return;
    }
    if (!s_.opt.progress) return;
    const double acc = rep["acc"].get<double>();
    std::fprintf(stderr, "done %zu/%zu [rank %d] %s: %s, test acc %s, %.1f s; ETA %s\n", done_, s_.todo.size(), rank,
                 describe_run(r).c_str(), rep["status"].get<std::string>().c_str(),
                 acc >= 0 ? fmt_pct(acc).c_str() : "-", rep["seconds"].get<double>(), eta.c_str());
    std::fflush(stderr);
  }
  int first_error() {
    std::lock_guard<std::mutex> lk(mu_);
    return first_error_;
  }

 private:
  using Clock = std::chrono::steady_clock;
  void keep_first(int code) {
    if (first_error_ == 0) first_error_ = code;
  }
  const Sweep& s_;
  std::mutex mu_;
  size_t next_ = 0, done_ = 0;
  bool stopping_ = false, announced_ = false;
  std::vector<const RunSpec*> deferred_;
  std::string holder_;
  int first_error_ = 0;
  Clock::time_point t0_;
};

int coordinator_rank(const Experiment& e, const RunOptions& opt) {
  const auto& w = dist::world();
  Sweep s = plan_sweep(e, opt);
  const int threads = threads_per_rank(opt);
  if (opt.jobs > 1)
    std::fprintf(stderr, "sgdbench: warning: --jobs %d is ignored under mpirun: each rank trains one run at a time "
                 "(start more ranks instead)\n", opt.jobs);
  print_plan(s, std::to_string(w.size) + " MPI ranks x " + std::to_string(threads) +
                    " thread(s), runs handed out one at a time by rank 0");
  Coordinator c(s);
  int code = 0;
  std::thread local;
  if (!opt.dry_run) register_as_peer();
  try {
    if (!opt.dry_run) prepare_output(s);
  } catch (const Error& err) {
    std::fprintf(stderr, "sgdbench: %s: %s\n", to_string(err.kind()), err.what());
    code = err.exit_code();
  }
  bool local_done = true;
  std::mutex done_mu;
  if (!opt.dry_run && code == 0) {
    local_done = false;
    local = std::thread([&] {
      Executor exec(s);
      dnnl_ctx::set_threads(threads);
      bool wait = false;
      while (const RunSpec* r = c.take(&wait)) c.outcome(0, run_and_report(exec, *r, threads, wait));
      std::lock_guard<std::mutex> lk(done_mu);
      local_done = true;
    });
  }
  // Serve the other ranks until each was told to stop and rank 0's own runs are done.
  for (int asking = w.size - 1;;) {
    int from = 0;
    std::string msg;
    if (dist::try_recv(kTagReport, &from, &msg)) {
      c.outcome(from, json::parse(msg));
      bool wait = false;
      const RunSpec* r = (opt.dry_run || code != 0) ? nullptr : c.take(&wait);
      dist::send(from, kTagWork,
                 r ? json{{"k", r->index}, {"id", r->id}, {"wait", wait}}.dump() : json{{"stop", true}}.dump());
      if (!r) --asking;
      continue;
    }
    {
      std::lock_guard<std::mutex> lk(done_mu);
      if (asking == 0 && local_done) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (local.joinable()) local.join();
  if (code == 0 && !opt.dry_run) code = finish_sweep(s, c.first_error());
  for (int r = 1; r < w.size; ++r) dist::send(r, kTagDone, json{{"code", code}}.dump());
  return code;
}
}  // namespace

int threads_per_rank(const RunOptions& opt) {
  if (opt.threads > 0) return opt.threads;
  if (const char* v = std::getenv("OMP_NUM_THREADS"); v && std::atoi(v) > 0) return std::atoi(v);
  return std::max(1, dnnl_ctx::hardware_threads() / std::max(1, dist::world().local_size));
}

int run_sweep_mpi(const Experiment& e, const RunOptions& opt) {
  return dist::world().rank == 0 ? coordinator_rank(e, opt) : worker_rank(e, opt);
}

}  // namespace sgdbench
