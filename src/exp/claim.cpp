// Per-run claims (claim.hpp): flock(2) on runs/<id>.claim.
#include "exp/claim.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "core/error.hpp"
#include "core/interrupt.hpp"
#include "exp/result.hpp"

namespace sgdbench {

namespace {
std::string read_holder(int fd) {
  char buf[512] = {0};
  ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  std::string s = n > 0 ? std::string(buf, size_t(n)) : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == '\0')) s.pop_back();
  return s.empty() ? "another process" : s;
}
}  // namespace

std::optional<RunClaim> RunClaim::take(const std::string& dir, const std::string& id, std::string* holder, bool wait) {
  const std::string path = dir + "/" + id + ".claim";
  for (;;) {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) SGD_THROW(Io, path, ": cannot create the run's claim file (", std::strerror(errno), ")");
    if (::flock(fd, LOCK_EX | LOCK_NB) == 0) {
      // Locked; but if the holder before us removed the file after we opened it, our lock is on
      // an unlinked inode: open the path again.
      struct stat a {}, b {};
      if (::fstat(fd, &a) != 0 || ::stat(path.c_str(), &b) != 0 || a.st_ino != b.st_ino || a.st_dev != b.st_dev) {
        ::close(fd);
        continue;
      }
      // Ours. Name the holder for anyone who finds the run busy.
      const std::string who = "host " + this_host_name() + ", pid " + std::to_string(::getpid()) + ", since " +
                              utc_now() + "\n";
      if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, who.data(), who.size(), 0) != ssize_t(who.size())) {
        // The lock is what counts; a claim without its text only names its holder less well.
      }
      return RunClaim(fd, path);
    }
    const int err = errno;
    if (err != EWOULDBLOCK && err != EINTR) {
      ::close(fd);
      SGD_THROW(Io, path, ": cannot lock the run's claim file (", std::strerror(err), ")");
    }
    if (holder) *holder = read_holder(fd);
    ::close(fd);
    if (!wait) return std::nullopt;
    check_interrupt();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    check_interrupt();
  }
}

RunClaim::~RunClaim() {
  if (fd_ < 0) return;
  // Unlink before unlocking: a process that opened the file before the unlink and locks it
  // afterwards finds the finished result (written before this) and leaves the run alone.
  ::unlink(path_.c_str());
  ::close(fd_);
}

}  // namespace sgdbench
