// sgdbench::Error: one exception type with a kind (mapped to a CLI exit code), the place it was
// raised (file:line) and a context string (file name, spec field, layer). Not a logging facility.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace sgdbench {

// Each kind is a distinct exit code of the CLI (documented in README.md).
enum class ErrorKind {
  Internal = 1,  // a bug: a CHECK that should never fail
  Usage = 2,     // bad command line
  Spec = 3,      // malformed or invalid experiment spec
  Data = 4,      // missing, truncated or corrupt data file
  Model = 5,     // malformed model description, impossible shape
  Io = 7,        // cannot write results (6 is unused: it was a numeric error nothing raised)
};

const char* to_string(ErrorKind k);

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, std::string message, const char* file = nullptr, int line = 0);
  ErrorKind kind() const { return kind_; }
  int exit_code() const { return static_cast<int>(kind_); }
  const std::string& where() const { return where_; }

 private:
  ErrorKind kind_;
  std::string where_;
};

namespace detail {
template <class... A>
std::string cat(const A&... a) {
  std::ostringstream os;
  (os << ... << a);
  return os.str();
}
}  // namespace detail
}  // namespace sgdbench

// Throws sgdbench::Error of the given kind with a message built from the remaining arguments.
#define SGD_THROW(kind, ...) \
  throw ::sgdbench::Error(::sgdbench::ErrorKind::kind, ::sgdbench::detail::cat(__VA_ARGS__), __FILE__, __LINE__)

// CHECK(cond, kind, message parts...): throws when cond is false.
#define SGD_CHECK(cond, kind, ...)             \
  do {                                         \
    if (!(cond)) SGD_THROW(kind, __VA_ARGS__); \
  } while (0)
