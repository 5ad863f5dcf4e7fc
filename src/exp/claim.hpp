// Per-run claims in a shared results directory: while a process computes run <id> it holds an
// exclusive flock(2) on runs/<id>.claim (a file naming its host, PID namespace, pid and start
// time), so two processes on the same spec and --out compute every run once. The kernel (or, on
// NFS, the lock manager) drops the lock when the holder dies, however it dies: a stale claim file
// is just a file, taken over by the next process that finds the run unfinished. Not: result files
// (result.hpp) or who runs what (runner.cpp, mpi_sweep.cpp).
#pragma once
#include <optional>
#include <string>
#include <utility>

namespace sgdbench {

class RunClaim {
 public:
  // Takes the claim of run `id` in `dir`, or nullopt when another live process holds it
  // (*holder: what its claim file says, "host h, pid p, since t", or "another process").
  // wait = true: waits (sleeping, polling every 200 ms, interruptible by SIGINT/SIGTERM, which
  // throws Interrupted) until the holder releases it. Error(Io) naming the file when it cannot
  // be created.
  static std::optional<RunClaim> take(const std::string& dir, const std::string& id, std::string* holder,
                                      bool wait = false);
  RunClaim(RunClaim&& o) noexcept : fd_(o.fd_), path_(std::move(o.path_)) { o.fd_ = -1; }
  RunClaim& operator=(RunClaim&& o) noexcept {
    std::swap(fd_, o.fd_);
    std::swap(path_, o.path_);
    return *this;
  }
  ~RunClaim();  // removes the claim file, then unlocks (a taker re-checks the inode it locked)

 private:
  RunClaim(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_;
  std::string path_;
};

}  // namespace sgdbench
