// The pieces every way of running a sweep shares (local jobs in runner.cpp, MPI ranks in
// mpi_sweep.cpp, Slurm array tasks via --shard): which runs are this process's and which are done,
// the one run executor (data cache, train, atomic result write), the plan line, the summary table
// and the interrupt message. Internal to src/exp/. Not: how runs are handed out.
#pragma once
#include <filesystem>
#include <functional>
#include <optional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "exp/runner.hpp"

namespace sgdbench {

struct Sweep {
  const Experiment& e;
  RunOptions opt;
  std::string dir;                              // <out>/<experiment>/runs
  std::vector<const RunSpec*> mine, todo;       // this shard's runs; those without a finished result
  size_t done_before = 0;
};
// Reads the existing results (warns about and recomputes stray or unfinished ones).
Sweep plan_sweep(const Experiment& e, const RunOptions& opt);
// "experiment X (spec): N runs; D already done, T to run; <how>; results in DIR"; --dry-run's list.
void print_plan(const Sweep& s, const std::string& how);
// Creates the results directory, removes provably stale temp files, checks and records the
// experiment directory's identity (identity.json: Error(Spec) when it holds another spec's runs,
// unless --allow-mixed), writes spec.json.
void prepare_output(const Sweep& s);

// Thrown by Executor::run for a run this process does not compute: another process holds its
// claim (busy; holder names it) or finished it since this sweep was planned.
struct RunElsewhere {
  bool busy;
  std::string holder;
};

// The one run executor: takes the run's claim (claim.hpp), loads (once per data config) the
// data, trains, writes the result file.
class Executor {
 public:
  explicit Executor(const Sweep& s);
  // write = false: train only (data-parallel ranks other than 0). wait = true: wait for another
  // process's claim on the run to be released instead of throwing RunElsewhere{busy}.
  TrainResult run(const RunSpec& r, int threads, const std::function<void(const Progress&)>& on_progress,
                  bool write = true, bool wait = false);
  void set_claims(bool on) { claims_ = on; }  // off: the caller holds the claims (data-parallel)

 private:
  const Sweep& s_;
  bool claims_ = true;
  std::filesystem::file_time_type started_;  // this sweep's start: --force recomputes older results
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<const Dataset>> cache_;
};
// True when DIR/<id>.json holds a finished result written after `since` (nullopt: at any time).
bool finished_since(const Sweep& s, const RunSpec& r, std::optional<std::filesystem::file_time_type> since);

std::string describe_run(const RunSpec& r);  // "lenet SGD bs=32 lr=0.01 seed=1"
std::string fmt_pct(double a);               // "85.10%"
std::string fmt_duration(double seconds);    // "3m07s", "1h02m"
// The summary table of every run of this shard, read back from the result files.
void print_table(const Sweep& s);
// The process exit code at the end of a sweep: the interrupt's (with the "K of N runs kept"
// message) when a signal arrived, else first_error.
int finish_sweep(const Sweep& s, int first_error);

// The sweep over the ranks of an MPI world (size > 1): rank 0 hands out runs one at a time.
int run_sweep_mpi(const Experiment& e, const RunOptions& opt);
// --threads, else OMP_NUM_THREADS, else this host's cores shared by the MPI ranks on it.
int threads_per_rank(const RunOptions& opt);

}  // namespace sgdbench
