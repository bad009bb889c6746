// Error construction: kind names, and messages with context.
#include <cerrno>
#include <cstring>

#include "pagescan/result.hpp"

namespace pagescan {

std::string_view to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::invalid_argument:
      return "invalid_argument";
    case ErrorKind::no_such_process:
      return "no_such_process";
    case ErrorKind::permission:
      return "permission";
    case ErrorKind::unsupported:
      return "unsupported";
    case ErrorKind::kernel_failure:
      return "kernel_failure";
  }
  return "unknown";
}

Error Error::from_errno(int errno_value, ErrorKind kind, std::string context) {
  context += ": ";
  context += std::strerror(errno_value);
  return Error(errno_value, kind, std::move(context));
}

Error Error::with_context(std::string_view outer) const {
  std::string text(outer);
  text += ": ";
  text += message_;
  return Error(errno_, kind_, std::move(text));
}

}  // namespace pagescan
