// Size-limited text file reading (see file.hpp).
#include "core/file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sgdbench {

std::string read_text_file(const std::string& path, ErrorKind kind, const std::string& what, size_t max_bytes) {
  auto fail = [&](const std::string& why) -> void {
    throw Error(kind, path + ": cannot read the " + what + ": " + why);
  };
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) fail(std::strerror(errno));
  if (S_ISDIR(st.st_mode)) fail("it is a directory");
  if (!S_ISREG(st.st_mode)) fail("not a regular file");
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
