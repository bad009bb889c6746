// userfaultfd in write-protect mode: creating one, the API handshake, registering ranges.
#include "kernel/userfaultfd.hpp"

#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>

#include "kernel/uapi.hpp"

namespace pagescan::kernel {

namespace {

struct Opened {
  int fd = -1;
  bool via_dev = false;
  bool user_mode_only = false;
};

Result<Opened> open_raw() {
  const int flags = O_CLOEXEC | O_NONBLOCK;
  long fd = ::syscall(SYS_userfaultfd, flags | uapi::kUffdUserModeOnly);
  if (fd >= 0) return Opened{static_cast<int>(fd), false, true};
  int first = errno;
  fd = ::syscall(SYS_userfaultfd, flags);
  if (fd >= 0) return Opened{static_cast<int>(fd), false, false};
  int dev = ::open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
  if (dev >= 0) {
    int uffd = ::ioctl(dev, uapi::kUserfaultfdIocNew, flags);
    int saved = errno;
    ::close(dev);
    if (uffd >= 0) return Opened{uffd, true, false};
    errno = saved;
  }
  // ENOSYS: a kernel without CONFIG_USERFAULTFD. EPERM: policy
  // (vm.unprivileged_userfaultfd 0, no access to /dev/userfaultfd, a seccomp filter).
  const ErrorKind kind = first == ENOSYS  ? ErrorKind::unsupported
                         : first == EPERM ? ErrorKind::permission
                                          : ErrorKind::kernel_failure;
  return Error::from_errno(first, kind, "userfaultfd (syscall and /dev/userfaultfd both refused)");
}

std::string range_text(const char* what, void* addr, std::size_t len) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "%s [0x%" PRIxPTR "-0x%" PRIxPTR ")", what,
                reinterpret_cast<std::uintptr_t>(addr),
                reinterpret_cast<std::uintptr_t>(addr) + len);
  return buf;
}

// The error of UFFDIO_UNREGISTER / UFFDIO_WRITEPROTECT over a range we registered.
// ENOENT there means a VMA of the range is not registered with any uffd: it was unmapped,
// or unmapped and mapped afresh, since registering. That is the condition every engine
// reports as ENOENT / invalid_argument (the caller broke the contract that a watched
// region stays mapped; docs/errors.md 4.22). Anything else (EAGAIN while the mm changes,
// ENOMEM) is the kernel failing a valid request.
Error range_error(int err, const std::string& context) {
  if (err == ENOENT) {
    return Error(ENOENT, ErrorKind::invalid_argument,
                 context + ": the range is not registered (unmapped or replaced since)");
  }
  return Error::from_errno(err, ErrorKind::kernel_failure, context);
}

// UFFDIO_API refuses (EINVAL) an API version or a feature it does not offer.
Error api_error(int err, const std::string& context) {
  return Error::from_errno(err, err == EINVAL ? ErrorKind::unsupported : ErrorKind::kernel_failure,
                           context);
}

}  // namespace

Result<Userfaultfd::Offer> Userfaultfd::probe() {
  auto opened = open_raw();
  if (!opened) return opened.error();
  uffdio_api api{};
  api.api = UFFD_API;
  api.features = 0;
  int rc = ::ioctl(opened->fd, UFFDIO_API, &api);
  int saved = errno;
  ::close(opened->fd);
  if (rc < 0) return api_error(saved, "userfaultfd: UFFDIO_API handshake");
  return Offer{api.features, opened->via_dev, opened->user_mode_only};
}

Result<Userfaultfd> Userfaultfd::open(std::uint64_t features) {
  auto opened = open_raw();
  if (!opened) return opened.error();
  return adopt(opened->fd, features);
}

Result<Userfaultfd> Userfaultfd::adopt(int fd, std::uint64_t features) {
  uffdio_api api{};
  api.api = UFFD_API;
  api.features = features;
  if (::ioctl(fd, UFFDIO_API, &api) < 0) {
    int saved = errno;
    ::close(fd);
    char text[96];
    std::snprintf(text, sizeof text, "userfaultfd: UFFDIO_API with features 0x%" PRIx64, features);
    return api_error(saved, text);
  }
  return Userfaultfd(fd, api.features);
}

Userfaultfd::Userfaultfd(Userfaultfd&& other) noexcept
    : fd_(other.fd_), features_(other.features_) {
  other.fd_ = -1;
}

Userfaultfd& Userfaultfd::operator=(Userfaultfd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    features_ = other.features_;
    other.fd_ = -1;
  }
  return *this;
}

Userfaultfd::~Userfaultfd() {
  if (fd_ >= 0) ::close(fd_);
}

Result<void> Userfaultfd::register_wp(void* addr, std::size_t len) {
  uffdio_register reg{};
  reg.range.start = reinterpret_cast<std::uint64_t>(addr);
  reg.range.len = len;
  reg.mode = UFFDIO_REGISTER_MODE_WP;
  if (::ioctl(fd_, UFFDIO_REGISTER, &reg) < 0) {
    const int err = errno;
    const std::string what = range_text("userfaultfd: register for write-protect", addr, len);
    // EBUSY: another userfaultfd registered part of the range (another watch): the
    // request conflicts with the caller's own state, as an mprotect watch over another
    // does (docs/errors.md 4.10, 4.11). EINVAL: memory userfaultfd cannot write-protect
    // (a file mapping, or shmem/hugetlb without WP_HUGETLBFS_SHMEM).
    if (err == EBUSY) return Error::from_errno(err, ErrorKind::invalid_argument, what);
    if (err == EINVAL) {
      return Error(EOPNOTSUPP, ErrorKind::unsupported,
                   what + ": userfaultfd cannot write-protect this memory");
    }
    return Error::from_errno(err, ErrorKind::kernel_failure, what);
  }
  return {};
}

Result<void> Userfaultfd::unregister(void* addr, std::size_t len) {
  uffdio_range range{reinterpret_cast<std::uint64_t>(addr), len};
  if (::ioctl(fd_, UFFDIO_UNREGISTER, &range) < 0) {
    return range_error(errno, range_text("userfaultfd: unregister", addr, len));
  }
  return {};
}

Result<void> Userfaultfd::write_protect(void* addr, std::size_t len, bool protect) {
  uffdio_writeprotect wp{};
  wp.range.start = reinterpret_cast<std::uint64_t>(addr);
  wp.range.len = len;
  wp.mode = protect ? UFFDIO_WRITEPROTECT_MODE_WP : 0;
  if (::ioctl(fd_, UFFDIO_WRITEPROTECT, &wp) < 0) {
    return range_error(
        errno,
        range_text(protect ? "userfaultfd: write-protect" : "userfaultfd: unprotect", addr, len));
  }
  return {};
}

}  // namespace pagescan::kernel
