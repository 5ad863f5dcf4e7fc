// The MPI world this process belongs to: start-up detection (launched by mpirun/srun or not),
// rank and size, text messages for the sweep queue and the collectives of data-parallel training.
// Without MPI (cmake -DSGDBENCH_MPI=OFF, or libopenmpi-dev absent) every process is rank 0 of 1
// and a multi-rank launch is refused with a clear error. Not: what is sent (exp/, train/).
#pragma once
#include <cstddef>
#include <string>

namespace sgdbench::dist {

struct World {
  int rank = 0, size = 1;
  int local_size = 1;  // ranks on this host (threads per rank default to cores / local_size)
  bool mpi = false;    // MPI_Init was called
};

bool built_with_mpi();
std::string library_version();  // "Open MPI v4.1.4, ..." (first line), or "" without MPI
// Ranks an MPI launcher says this process is one of (OMPI_COMM_WORLD_SIZE, PMIX/PMI): 0 = not
// launched by one. Read from the environment, so it works without MPI compiled in.
int launcher_size();

// Initialises MPI when an MPI launcher started this process (else a 1-rank world). Throws
// Error(Usage) when started with more than one rank by a launcher but built without MPI.
const World& init(int* argc, char*** argv);
const World& world();
void finalize();  // MPI_Finalize when init called MPI_Init; safe to call more than once
// Aborts every rank (MPI_Abort) with this exit code; for a rank that cannot go on alone.
[[noreturn]] void abort_all(int code);

// Point-to-point text messages. Waiting never spins a core: it polls, sleeping ~1 ms between polls
// (OpenMPI's blocking calls busy-wait, which would take a core from the training threads).
void send(int to, int tag, const std::string& msg);
// A message with `tag` from any rank when one is waiting: true and fills from/msg; else false.
bool try_recv(int tag, int* from, std::string* msg);
std::string recv(int from, int tag);

// Collectives over all ranks (data-parallel training); no-ops in a 1-rank world.
void allreduce_sum(double* x, size_t n);
void allreduce_sum(float* x, size_t n);
void broadcast(double* x, size_t n, int root);
// Sleep-polling barrier.
void barrier();
// Every rank passes its status (0 = ok); all get the lowest rank whose status is not 0 (-1 when
// none) and that rank's status. Lets one rank print an error all ranks share, and none hang.
struct Agreed {
  int rank = -1, code = 0;
};
Agreed first_failure(int code);

}  // namespace sgdbench::dist
