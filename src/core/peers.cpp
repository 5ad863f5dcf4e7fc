// Live sgdbench processes on this machine (peers.hpp): flock'ed files in one directory.
#include "core/peers.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>
#include <cstdlib>
#include <mutex>
#include <string>

namespace sgdbench {

namespace {
const std::string& peers_dir() {
  static const std::string d = [] {
    if (const char* e = std::getenv("SGDBENCH_PEERS_DIR"); e && *e) return std::string(e);
    return std::string(::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp") + "/sgdbench-peers";
  }();
  return d;
}
std::once_flag g_once;
int g_fd = -1;
std::string g_path;
void unregister() {
  if (g_fd >= 0) ::unlink(g_path.c_str());  // a normal exit tidies up; after kill -9 the next scan does
}
}  // namespace

void register_as_peer() {
  std::call_once(g_once, [] {
    const std::string& d = peers_dir();
    if (::mkdir(d.c_str(), 01777) == 0) ::chmod(d.c_str(), 01777);  // shared by every user
    const std::string p = d + "/" + std::to_string(::getpid());
    int fd = ::open(p.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) return;
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd);
      return;
    }
    g_fd = fd;  // held (and the lock with it) until the process ends
    g_path = p;
    std::atexit(unregister);
  });
}

std::vector<long> live_peers() {
  const std::string& d = peers_dir();
  std::vector<long> live;
  DIR* dir = ::opendir(d.c_str());
  if (!dir) return live;
  const std::string self = std::to_string(::getpid());
  while (dirent* e = ::readdir(dir)) {
    const std::string name = e->d_name;
    if (name.empty() || name[0] == '.' || name == self) continue;
    const std::string p = d + "/" + name;
    int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) continue;
    if (::flock(fd, LOCK_SH | LOCK_NB) != 0) {
      if (errno == EWOULDBLOCK) live.push_back(std::atol(name.c_str()));  // its owner is alive
    } else {
      ::unlink(p.c_str());  // its owner is gone (a process reusing that pid at this very moment may
                            // lose its file: it is then not counted, which only shares less)
    }
    ::close(fd);
  }
  ::closedir(dir);
  return live;
}

namespace {
// utime + stime of a process, in clock ticks; 0 when it cannot be read (gone).
double process_ticks(const std::string& stat_path) {
  std::FILE* f = std::fopen(stat_path.c_str(), "r");
  if (!f) return 0;
  char buf[1024] = {0};
  const size_t len = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  const char* p = std::strrchr(buf, ')');  // the command name may hold spaces: fields follow its ')'
  if (!p || len == 0) return 0;
  unsigned long long ut = 0, st = 0;
  // after ") ": state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime
  if (std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2) return 0;
  return double(ut + st);
}

// (busy ticks of the whole machine, ticks of this process and the peers); clock ticks (USER_HZ).
bool cpu_ticks(double* machine, double* self, const std::vector<long>& peers) {
  std::FILE* f = std::fopen("/proc/stat", "r");
  if (!f) return false;
  unsigned long long u = 0, n = 0, sy = 0, idle = 0, io = 0, irq = 0, sirq = 0;
  const int got = std::fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu", &u, &n, &sy, &idle, &io, &irq, &sirq);
  std::fclose(f);
  if (got != 7) return false;
  *machine = double(u + n + sy + irq + sirq);  // steal (another VM's) is not counted as busy here
  *self = process_ticks("/proc/self/stat");
  for (long pid : peers) *self += process_ticks("/proc/" + std::to_string(pid) + "/stat");
  return true;
}
}  // namespace

int busy_cores_elsewhere(int ms, const std::vector<long>& peers) {
  double m0, s0, m1, s1;
  if (!cpu_ticks(&m0, &s0, peers)) return 0;
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  if (!cpu_ticks(&m1, &s1, peers)) return 0;
  const double hz = double(::sysconf(_SC_CLK_TCK));
  const double busy = ((m1 - m0) - (s1 - s0)) / hz / (ms / 1000.0);
  return busy > 0 ? int(busy + 0.25) : 0;
}

}  // namespace sgdbench
