// Runner: executes an expanded experiment: skips finished runs (resume), shards, runs jobs side
// by side with the threads split between them, shows progress and a summary table, and writes
// one result file per run atomically. Not: spec parsing (spec.hpp), result schema (result.hpp).
#pragma once
#include <string>

#include "exp/spec.hpp"

namespace sgdbench {

struct RunOptions {
  std::string out_dir = "results";  // results land in <out_dir>/<experiment>/runs/<run-id>.json
  int jobs = 1;
  int threads = 0;                       // total; 0 = all cores. Each job gets threads / jobs.
  int shard_index = 0, shard_count = 1;  // this process runs runs with index % count == index
  std::string shard_note;                // where the shard came from ("Slurm array task 2 of 0-3")
  bool dry_run = false, force = false;
  bool allow_mixed = false;  // runs of different specs under one <out>/<experiment> (see prepare_output)
  bool progress = true;
};

// Data-parallel runs (parallel.data > 1) need exactly that many MPI ranks, and a sweep under
// mpirun is either all data-parallel or all queued: Error(Usage) naming the run otherwise.
void check_parallel(const Experiment& e, const RunOptions& opt);

// Under an MPI launcher with several ranks (dist::world().size > 1) the ranks share the runs
// through a work queue on rank 0 (mpi_sweep.cpp); every rank must call this.
// Returns the process exit code: 0 when every run finished (diverged runs included), else the
// exit code of the first error (data missing, cannot write, ...).
int run_experiment(const Experiment& e, const RunOptions& opt);

std::string runs_dir(const RunOptions& opt, const Experiment& e);

}  // namespace sgdbench
