// The MPI world (see world.hpp). Every MPI call of sgdbench is in this file.
#include "dist/world.hpp"

#include <chrono>
#include <algorithm>
#include <climits>
#include <cstdlib>
#include <thread>
#include <vector>

#include "core/error.hpp"

#ifdef SGDBENCH_HAVE_MPI
#include <mpi.h>
#endif

namespace sgdbench::dist {

namespace {
World g_world;

int env_int(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return 0;
  char* end = nullptr;
  long x = std::strtol(v, &end, 10);
  return (*end == 0 && x > 0 && x < INT_MAX) ? int(x) : 0;
}

[[maybe_unused]] void nap() { std::this_thread::sleep_for(std::chrono::microseconds(200)); }

#ifdef SGDBENCH_HAVE_MPI
// Spins up to spin_us (a data-parallel step's all-reduce: the partner is usually within a few ms
// and a rank has nothing else to do; sleeping there costs more than the all-reduce itself), then
// sleep-polls (the sweep queue: a rank waiting for the next run must not take a core).
void wait(MPI_Request* req, MPI_Status* st = MPI_STATUS_IGNORE, int spin_us = 100) {
  const auto spin_until = std::chrono::steady_clock::now() + std::chrono::microseconds(spin_us);
  for (int done = 0;;) {
    MPI_Test(req, &done, st);
    if (done) return;
    if (std::chrono::steady_clock::now() > spin_until) nap();
  }
}
#endif
}  // namespace

bool built_with_mpi() {
#ifdef SGDBENCH_HAVE_MPI
  return true;
#else
  return false;
#endif
}

std::string library_version() {
#ifdef SGDBENCH_HAVE_MPI
  char v[MPI_MAX_LIBRARY_VERSION_STRING];
  int n = 0;
  MPI_Get_library_version(v, &n);
  std::string s(v, size_t(n));
  return s.substr(0, s.find_first_of(",\n"));
#else
  return "";
#endif
}

int launcher_size() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE", "MPI_LOCALNRANKS"})
    if (int n = env_int(v)) return n;
  // PMIx launchers (srun --mpi=pmix) set PMIX_RANK but not always a size: MPI_Init finds out.
  return std::getenv("PMIX_RANK") ? 1 : 0;
}

const World& init(int* argc, char*** argv) {
  const int n = launcher_size();
  if (n == 0 || g_world.mpi) return g_world;
#ifdef SGDBENCH_HAVE_MPI
  int provided = 0;
  // Only the main thread calls MPI (the rank-0 coordinator is the main thread; run threads do not).
  MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
  g_world.mpi = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &g_world.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_world.size);
  MPI_Comm local;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local);
  MPI_Comm_size(local, &g_world.local_size);
  MPI_Comm_free(&local);
#else
  (void)argc, (void)argv;
  SGD_CHECK(n <= 1, Usage, "started by an MPI launcher with ", n,
            " ranks, but this sgdbench was built without MPI (install libopenmpi-dev and rebuild; CMake option "
            "SGDBENCH_MPI): each rank would run the whole sweep on its own");
#endif
  return g_world;
}

const World& world() { return g_world; }

void finalize() {
#ifdef SGDBENCH_HAVE_MPI
  if (g_world.mpi) {
    int fin = 0;
    MPI_Finalized(&fin);
    if (!fin) MPI_Finalize();
  }
#endif
}

void abort_all(int code) {
#ifdef SGDBENCH_HAVE_MPI
  if (g_world.mpi) MPI_Abort(MPI_COMM_WORLD, code);
#endif
  std::_Exit(code);
}

void send(int to, int tag, const std::string& msg) {
#ifdef SGDBENCH_HAVE_MPI
  MPI_Request req;
  MPI_Isend(msg.data(), int(msg.size()), MPI_CHAR, to, tag, MPI_COMM_WORLD, &req);
  wait(&req);
#else
  (void)to, (void)tag, (void)msg;
  SGD_THROW(Internal, "dist::send in a build without MPI");
#endif
}

bool try_recv(int tag, int* from, std::string* msg) {
#ifdef SGDBENCH_HAVE_MPI
  int flag = 0;
  MPI_Status st;
  MPI_Iprobe(MPI_ANY_SOURCE, tag, MPI_COMM_WORLD, &flag, &st);
  if (!flag) return false;
  int count = 0;
  MPI_Get_count(&st, MPI_CHAR, &count);
  msg->assign(size_t(count), '\0');
  MPI_Recv(msg->data(), count, MPI_CHAR, st.MPI_SOURCE, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  *from = st.MPI_SOURCE;
  return true;
#else
  (void)tag, (void)from, (void)msg;
  return false;
#endif
}

std::string recv(int from, int tag) {
#ifdef SGDBENCH_HAVE_MPI
  MPI_Status st;
  for (int flag = 0;;) {
    MPI_Iprobe(from, tag, MPI_COMM_WORLD, &flag, &st);
    if (flag) break;
    nap();
  }
  int count = 0;
  MPI_Get_count(&st, MPI_CHAR, &count);
  std::string msg(size_t(count), '\0');
  MPI_Recv(msg.data(), count, MPI_CHAR, from, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  return msg;
#else
  (void)from, (void)tag;
  SGD_THROW(Internal, "dist::recv in a build without MPI");
#endif
}

#ifdef SGDBENCH_HAVE_MPI
namespace {
constexpr int kCollectiveSpinUs = 20000;
template <class T>
void allreduce(T* x, size_t n, MPI_Datatype type) {
  if (!g_world.mpi || g_world.size == 1) return;
  for (size_t i = 0; i < n; i += size_t(INT_MAX)) {  // counts are int
    MPI_Request req;
    MPI_Iallreduce(MPI_IN_PLACE, x + i, int(std::min(n - i, size_t(INT_MAX))), type, MPI_SUM, MPI_COMM_WORLD, &req);
    wait(&req, MPI_STATUS_IGNORE, kCollectiveSpinUs);
  }
}
}  // namespace
void allreduce_sum(double* x, size_t n) { allreduce(x, n, MPI_DOUBLE); }
void allreduce_sum(float* x, size_t n) { allreduce(x, n, MPI_FLOAT); }
void broadcast(double* x, size_t n, int root) {
  if (!g_world.mpi || g_world.size == 1) return;
  MPI_Request req;
  MPI_Ibcast(x, int(n), MPI_DOUBLE, root, MPI_COMM_WORLD, &req);
  wait(&req, MPI_STATUS_IGNORE, kCollectiveSpinUs);
}
void barrier() {
  if (!g_world.mpi || g_world.size == 1) return;
  MPI_Request req;
  MPI_Ibarrier(MPI_COMM_WORLD, &req);
  wait(&req);
}
#else
void allreduce_sum(double*, size_t) {}
void allreduce_sum(float*, size_t) {}
void broadcast(double*, size_t, int) {}
void barrier() {}
#endif

Agreed first_failure(int code) {
  std::vector<double> codes(size_t(g_world.size), 0.0);
  codes[size_t(g_world.rank)] = code;
  allreduce_sum(codes.data(), codes.size());
  for (int r = 0; r < g_world.size; ++r)
    if (codes[size_t(r)] != 0) return {r, int(codes[size_t(r)])};
  return {};
}

}  // namespace sgdbench::dist
