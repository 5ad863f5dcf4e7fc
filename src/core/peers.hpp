// Other sgdbench processes on this machine, so that two sweeps share the cores instead of
// spinning each other's OpenMP threads to a standstill (issue 13, class 7). Each process that
// trains registers itself for its lifetime: an exclusive flock(2) on <dir>/<pid>, dir =
// $SGDBENCH_PEERS_DIR or /dev/shm/sgdbench-peers (else /tmp/sgdbench-peers), mode 1777. The
// kernel drops the lock however the process ends; a file whose lock is free is stale and removed.
// Not: threads themselves (dnnl/context.hpp) or what a run does with them (exp/runner.cpp).
#pragma once
#include <vector>

namespace sgdbench {

// Registers this process (once; later calls do nothing). Failure to register (no writable
// directory) is silent: the process then simply is not counted.
void register_as_peer();
// The pids of the other live registered processes on this machine (not this one).
std::vector<long> live_peers();
// Whole cores kept busy by programs other than sgdbench over the next `ms` milliseconds: the
// machine's busy time (/proc/stat) less this process's and the peers' (/proc/<pid>/stat),
// floor(busy + 0.25), so a daemon's blips are not a core. 0 when /proc cannot be read. Sleeps.
int busy_cores_elsewhere(int ms, const std::vector<long>& peers);

}  // namespace sgdbench
