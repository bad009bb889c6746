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
  return Error::from_errno(first, "userfaultfd (syscall and /dev/userfaultfd both refused)");
}

std::string range_text(const char* what, void* addr, std::size_t len) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "%s [0x%" PRIxPTR "-0x%" PRIxPTR ")", what,
                reinterpret_cast<std::uintptr_t>(addr),
                reinterpret_cast<std::uintptr_t>(addr) + len);
  return buf;
}

// The error of UFFDIO_UNREGISTER / UFFDIO_WRITEPROTECT. ENOENT there means a VMA of the
// range is not registered with any uffd (unmapped, or mapped afresh since registering):
// a wrong range, not a missing process, which is what Error::from_errno reads ENOENT as.
Error range_error(int err, const std::string& context) {
  if (err == ENOENT) {
    return Error(ENOENT, ErrorKind::invalid_argument,
                 context + ": the range is not registered (unmapped or replaced since)");
  }
  return Error::from_errno(err, context);
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
  if (rc < 0) return Error::from_errno(saved, "userfaultfd: UFFDIO_API handshake");
  return Offer{api.features, opened->via_dev, opened->user_mode_only};
}

Result<Userfaultfd> Userfaultfd::open(std::uint64_t features) {
  auto opened = open_raw();
  if (!opened) return opened.error();
  uffdio_api api{};
  api.api = UFFD_API;
  api.features = features;
  if (::ioctl(opened->fd, UFFDIO_API, &api) < 0) {
    int saved = errno;
    ::close(opened->fd);
    char text[96];
    std::snprintf(text, sizeof text, "userfaultfd: UFFDIO_API with features 0x%" PRIx64, features);
    return Error::from_errno(saved, text);
  }
  return Userfaultfd(opened->fd, api.features);
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
    return Error::from_errno(errno,
                             range_text("userfaultfd: register for write-protect", addr, len));
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
