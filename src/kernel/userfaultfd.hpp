// userfaultfd in write-protect mode: creating one (syscall, user-mode-only, or
// /dev/userfaultfd), the API handshake, registering ranges and (un)protecting them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "pagescan/result.hpp"

namespace pagescan::kernel {

class Userfaultfd {
 public:
  // Opens a uffd and enables `features` (UFFD_FEATURE_* bits). Tries, in order, the
  // syscall with UFFD_USER_MODE_ONLY (needs no privilege even when
  // vm.unprivileged_userfaultfd is 0), the plain syscall, and /dev/userfaultfd.
  static Result<Userfaultfd> open(std::uint64_t features);

  // Takes ownership of `fd`, a userfaultfd not yet handshaken (one made in another
  // process, remote/inject_userfaultfd.hpp), and enables `features`. The fd is closed on
  // failure too.
  static Result<Userfaultfd> adopt(int fd, std::uint64_t features);

  // The features the kernel offers (an API handshake asking for none), without keeping
  // the fd. `how` says which way of opening worked.
  struct Offer {
    std::uint64_t features = 0;
    bool via_dev = false;
    bool user_mode_only = false;
  };
  static Result<Offer> probe();

  Userfaultfd(Userfaultfd&& other) noexcept;
  Userfaultfd& operator=(Userfaultfd&& other) noexcept;
  ~Userfaultfd();

  int fd() const { return fd_; }
  std::uint64_t features() const { return features_; }

  // UFFDIO_REGISTER in MODE_WP over [addr, addr + len). Errors: EBUSY / invalid_argument
  // (another uffd registered part of it), EOPNOTSUPP / unsupported (memory userfaultfd
  // cannot write-protect; the kernel said EINVAL), else kernel_failure.
  Result<void> register_wp(void* addr, std::size_t len);
  // UFFDIO_UNREGISTER, which also clears the range's uffd-wp bits and markers. Fails with
  // EINVAL (kernel_failure) over a VMA another uffd registered; ENOENT as write_protect.
  Result<void> unregister(void* addr, std::size_t len);
  // UFFDIO_WRITEPROTECT: protect (true) or unprotect (false) [addr, addr + len).
  // ENOENT (part of the range is not registered: unmapped or replaced since) is
  // invalid_argument, "...: the range is not registered (unmapped or replaced since)";
  // anything else kernel_failure.
  Result<void> write_protect(void* addr, std::size_t len, bool protect);

 private:
  Userfaultfd(int fd, std::uint64_t features) : fd_(fd), features_(features) {}
  int fd_ = -1;
  std::uint64_t features_ = 0;
};

}  // namespace pagescan::kernel
