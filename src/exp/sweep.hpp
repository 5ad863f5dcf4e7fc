// The pieces every way of running a sweep shares (local jobs in runner.cpp, MPI ranks in
// mpi_sweep.cpp, Slurm array tasks via --shard): which runs are this process's and which are done,
// the one run executor (data cache, train, atomic result write), the plan line, the summary table
// and the interrupt message. Internal to src/exp/. Not: how runs are handed out.
#pragma once
#include <functional>
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
// Creates the results directory, removes provably stale temp files, writes spec.json.
void prepare_output(const Sweep& s);

// The one run executor: loads (once per data config) the data, trains, writes the result file.
class Executor {
 public:
  explicit Executor(const Sweep& s) : s_(s) {}
  // write = false: train only (data-parallel ranks other than 0).
  TrainResult run(const RunSpec& r, int threads, const std::function<void(const Progress&)>& on_progress,
                  bool write = true);

 private:
  const Sweep& s_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<const Dataset>> cache_;
};

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
