// Interrupt handling (see interrupt.hpp): one thread takes SIGINT/SIGTERM with sigwait and sets
// the flag the trainer reads at step boundaries.
#include "core/interrupt.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <thread>

namespace sgdbench {

namespace {
std::atomic<int> g_signal{0};

// No handler ever runs on a computing thread: oneDNN's JIT GEMM kernels point RSP into the heap
// while they run, so a signal frame pushed there corrupts the heap (oneDNN issue #4845; we saw
// "corrupted size vs. prev_size" and SIGSEGV in about 1 of 10 interrupted sweeps). The signals
// are blocked in every thread (threads inherit the mask of the thread that starts them) and one
// thread takes them with sigwait.
extern "C" void never_called(int) {}

void wait_for_signals(sigset_t set) {
  for (;;) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) continue;
    int none = 0;
    if (g_signal.compare_exchange_strong(none, sig)) continue;  // first: stop at the next step boundary
    const char msg[] = "\nsgdbench: second signal: exiting now (finished results are kept)\n";
    ssize_t r = ::write(2, msg, sizeof msg - 1);
    (void)r;
    ::_exit(128 + sig);
  }
}
}  // namespace

void install_interrupt_handlers() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  // A handler replaces an inherited SIG_IGN (a shell starts background jobs with SIGINT ignored,
  // and an ignored signal is discarded even while blocked); it never runs, as both are blocked.
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = never_called;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread(wait_for_signals, set).detach();
}

int interrupt_signal() { return g_signal.load(); }

void check_interrupt() {
  if (int s = g_signal.load()) throw Interrupted(s);
}

const char* Interrupted::name() const {
  return sig_ == SIGINT ? "SIGINT" : sig_ == SIGTERM ? "SIGTERM" : "a signal";
}

}  // namespace sgdbench
