// Catch2 main for the sgdbench test suite: the process's threads compute as the CLI's do
// (flush-to-zero + denormals-are-zero, all cores), so goldens are checked in the mode users run.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "dnnl/context.hpp"
#include "model/network.hpp"

int main(int argc, char** argv) {
  sgdbench::dnnl_ctx::set_threads(0);
  // The sub-batch tests check plans against the default 6 MiB target by hand: a
  // SGDBENCH_SUB_BATCH_KIB left in the environment (for a benchmark) does not change them.
  sgdbench::Network::set_sub_batch_bytes(0);
  return Catch::Session().run(argc, argv);
}
