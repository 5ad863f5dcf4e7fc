// Size-limited text file reading (see file.hpp).
#include "core/file.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sgdbench {

std::string input_file_problem(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    const int err = errno;
    struct stat l {};
    if (err == ELOOP) return "a symbolic link loop";
    if (err == ENOENT && ::lstat(path.c_str(), &l) == 0 && S_ISLNK(l.st_mode)) {
      char target[4096] = {0};
      ssize_t n = ::readlink(path.c_str(), target, sizeof target - 1);
      return "a dangling symbolic link" + (n > 0 ? " (to " + std::string(target, size_t(n)) + ")" : std::string());
    }
    return err == ENOENT ? "not found" : std::strerror(err);
  }
  if (S_ISDIR(st.st_mode)) return "a directory";
  if (S_ISFIFO(st.st_mode)) return "a FIFO (named pipe)";
  if (S_ISCHR(st.st_mode)) return "a character device";
  if (S_ISBLK(st.st_mode)) return "a block device";
  if (S_ISSOCK(st.st_mode)) return "a socket";
  if (!S_ISREG(st.st_mode)) return "not a regular file";
  struct statfs fs {};
  if (::statfs(path.c_str(), &fs) == 0 && (fs.f_type == PROC_SUPER_MAGIC || fs.f_type == SYSFS_MAGIC))
    return "a /proc or /sys file (not data on disk)";
  if (st.st_size == 0) return "an empty file";
  return "";
}

std::string read_text_file(const std::string& path, ErrorKind kind, const std::string& what, size_t max_bytes) {
  auto fail = [&](const std::string& why) -> void {
    throw Error(kind, path + ": cannot read the " + what + ": " + why);
  };
  if (auto p = input_file_problem(path); !p.empty() && p != "an empty file") fail("it is " + p);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) fail(std::strerror(errno));
  if (size_t(st.st_size) > max_bytes)
    fail("it has " + std::to_string(st.st_size) + " bytes, more than the limit of " + std::to_string(max_bytes));
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(std::strerror(errno));
  std::string text;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      fail(std::strerror(e));
    }
    if (n == 0) break;
    text.append(buf, size_t(n));
    if (text.size() > max_bytes) {
      ::close(fd);
      fail("more than the limit of " + std::to_string(max_bytes) + " bytes");
    }
  }
  ::close(fd);
  return text;
}

namespace {
// Byte offset -> "line L, column C" in text.
std::string line_col(const std::string& text, size_t byte) {
  size_t line = 1, col = 1;
  for (size_t i = 0; i < byte && i < text.size(); ++i) {
    if (text[i] == '\n')
      ++line, col = 1;
    else
      ++col;
  }
  return "line " + std::to_string(line) + ", column " + std::to_string(col);
}
}  // namespace

nlohmann::ordered_json parse_json(const std::string& text, const std::string& where, ErrorKind kind) {
  try {
    return nlohmann::ordered_json::parse(text, json_depth_limit<nlohmann::ordered_json>(where, kind));
  } catch (const nlohmann::json::parse_error& e) {
    std::string msg = e.what();
    auto p = msg.find("parse error");
    throw Error(kind, where + ": invalid JSON at " + line_col(text, e.byte > 0 ? e.byte - 1 : 0) + ": " +
                          (p != std::string::npos ? msg.substr(p) : msg));
  } catch (const nlohmann::json::out_of_range& e) {  // 1e309: a number no double holds
    std::string msg = e.what();
    auto p = msg.find("number overflow");
    throw Error(kind, where + ": invalid JSON: " + (p != std::string::npos ? msg.substr(p) : msg) +
                          " (numbers must fit a 64-bit float or integer)");
  }
}

}  // namespace sgdbench
