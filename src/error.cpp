// Error construction: errno to ErrorKind, and messages with context.
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

static ErrorKind kind_of(int errno_value) {
  switch (errno_value) {
    case EINVAL:
    case EFAULT:
    case ERANGE:
      return ErrorKind::invalid_argument;
    case ESRCH:
    case ENOENT:
      return ErrorKind::no_such_process;
    case EPERM:
    case EACCES:
      return ErrorKind::permission;
    case ENOTTY:
    case ENOSYS:
    case EOPNOTSUPP:
      return ErrorKind::unsupported;
    default:
      return ErrorKind::kernel_failure;
  }
}

Error Error::from_errno(int errno_value, std::string context) {
  context += ": ";
  context += std::strerror(errno_value);
  return Error(errno_value, kind_of(errno_value), std::move(context));
}

Error Error::with_context(std::string_view outer) const {
  std::string text(outer);
  text += ": ";
  text += message_;
  return Error(errno_, kind_, std::move(text));
}

}  // namespace pagescan
