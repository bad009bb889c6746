// The PAGEMAP_SCAN ioctl itself, and the errors it raises described with context.
#include "kernel/pagemap_scan.hpp"

#include <sys/ioctl.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "kernel/uapi.hpp"

namespace pagescan::kernel {

long pagemap_scan_ioctl(int pagemap_fd, RawScanArgs& args) {
  long n = ::ioctl(pagemap_fd, uapi::PAGEMAP_SCAN, &args);
  return n < 0 ? -errno : n;
}

std::string describe_scan(const Process& process, std::uint64_t start, std::uint64_t end) {
  char range[64];
  std::snprintf(range, sizeof range, " [0x%" PRIx64 "-0x%" PRIx64 ")", start, end);
  return "scan of " + process.describe() + range;
}

// The kind follows the errno here, and only here, because the ioctl's errno is all its
// caller learns, and for PAGEMAP_SCAN each errno has one documented cause
// (kernel-pagemap-scan.md §2.1, §2.2): ENOTTY no ioctl, EPERM CHECK_WPASYNC, ESRCH the
// target's mm is gone; the emulator answers with the same errnos for the same causes.
Error scan_failure(int err, const Process& process, const RawScanArgs& args) {
  std::string text = describe_scan(process, args.start, args.end) + ": PAGEMAP_SCAN: ";
  text += std::strerror(err);
  ErrorKind kind = ErrorKind::kernel_failure;
  switch (err) {
    case ENOTTY:
      text += " (this kernel has no PAGEMAP_SCAN ioctl; it needs Linux 6.7 or later)";
      kind = ErrorKind::unsupported;
      break;
    case EPERM:
      text += " (a VMA in range is not registered for async userfaultfd write-protect)";
      kind = ErrorKind::permission;
      break;
    case EINVAL:
      text += " (the kernel rejected the request)";
      kind = ErrorKind::invalid_argument;
      break;
    case EFAULT:
      text += " (the output buffer or range is not accessible)";
      kind = ErrorKind::invalid_argument;
      break;
    case ESRCH:
      // The target's mm is gone (mmget_not_zero failed): it exited.
      text += " (" + process.describe() + " exited while it was being read)";
      kind = ErrorKind::no_such_process;
      break;
    case EOPNOTSUPP:
      text +=
          " (the emulated backend write-protects only the calling process's memory,"
          " through a userfaultfd it registered)";
      kind = ErrorKind::unsupported;
      break;
    case EINTR:
      text += " (interrupted by a fatal signal)";
      break;
    case ENOMEM:
      text += " (the kernel could not allocate its bounce buffer or page tables)";
      break;
    default:
      break;
  }
  return Error(err, kind, std::move(text));
}

}  // namespace pagescan::kernel
