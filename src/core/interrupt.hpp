// SIGINT/SIGTERM: the first one asks the work to stop at the next step boundary (the trainer
// throws Interrupted there, the runner writes nothing for the run in progress and hands out no
// more runs, the CLI says what is done and exits 128 + signal); a second one exits at once.
// Not: other signals.
#pragma once
#include <exception>
#include <string>

namespace sgdbench {

void install_interrupt_handlers();  // once at start-up, before any other thread starts
int interrupt_signal();             // the first signal received, 0 = none
void check_interrupt();             // throws Interrupted when a signal has arrived

class Interrupted : public std::exception {
 public:
  explicit Interrupted(int sig) : sig_(sig), what_(std::string("interrupted by ") + name()) {}
  int signal() const { return sig_; }
  int exit_code() const { return 128 + sig_; }  // 130 for SIGINT, 143 for SIGTERM
  const char* name() const;                     // "SIGINT", "SIGTERM"
  const char* what() const noexcept override { return what_.c_str(); }

 private:
  int sig_;
  std::string what_;
};

}  // namespace sgdbench
