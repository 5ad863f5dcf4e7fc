// Live sgdbench processes on this machine (peers.hpp): flock'ed files in one directory.
#include "core/peers.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
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

int live_peers() {
  const std::string& d = peers_dir();
  DIR* dir = ::opendir(d.c_str());
  if (!dir) return 0;
  const std::string self = std::to_string(::getpid());
  int n = 0;
  while (dirent* e = ::readdir(dir)) {
    const std::string name = e->d_name;
    if (name.empty() || name[0] == '.' || name == self) continue;
    const std::string p = d + "/" + name;
    int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) continue;
    if (::flock(fd, LOCK_SH | LOCK_NB) != 0) {
      if (errno == EWOULDBLOCK) ++n;  // its owner is alive
    } else {
      ::unlink(p.c_str());  // its owner is gone (a process reusing that pid at this very moment may
                            // lose its file: it is then not counted, which only shares less)
    }
    ::close(fd);
  }
  ::closedir(dir);
  return n;
}

}  // namespace sgdbench
