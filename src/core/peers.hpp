// Other sgdbench processes on this machine, so that two sweeps share the cores instead of
// spinning each other's OpenMP threads to a standstill (issue 13, class 7). Each process that
// trains registers itself for its lifetime: an exclusive flock(2) on <dir>/<pid>, dir =
// $SGDBENCH_PEERS_DIR or /dev/shm/sgdbench-peers (else /tmp/sgdbench-peers), mode 1777. The
// kernel drops the lock however the process ends; a file whose lock is free is stale and removed.
// Not: threads themselves (dnnl/context.hpp) or what a run does with them (exp/runner.cpp).
#pragma once

namespace sgdbench {

// Registers this process (once; later calls do nothing). Failure to register (no writable
// directory) is silent: the process then simply is not counted.
void register_as_peer();
// Other live registered processes on this machine (not this one).
int live_peers();

}  // namespace sgdbench
