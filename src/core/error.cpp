// Error kinds and their names.
#include "core/error.hpp"

namespace sgdbench {

const char* to_string(ErrorKind k) {
  switch (k) {
    case ErrorKind::Internal:
      return "internal error";
    case ErrorKind::Usage:
      return "usage error";
    case ErrorKind::Spec:
      return "spec error";
    case ErrorKind::Data:
      return "data error";
    case ErrorKind::Model:
      return "model error";
    case ErrorKind::Io:
      return "i/o error";
  }
  return "error";
}

Error::Error(ErrorKind kind, std::string message, const char* file, int line)
    : std::runtime_error(std::move(message)), kind_(kind) {
  if (file) {
    std::string f = file;
    auto p = f.rfind("src/");
    if (p != std::string::npos) f = f.substr(p);
    where_ = f;
    where_.append(":").append(std::to_string(line));
  }
}

}  // namespace sgdbench
