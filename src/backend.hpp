// Choosing and calling a backend: the kernel's ioctl or the emulator, one call at a time.
#pragma once

#include "emulate/emulated_scan.hpp"
#include "pagescan/features.hpp"
#include "pagescan/scan.hpp"

namespace pagescan::detail {

class ScanBackend {
 public:
  // Picks the backend for `request` by the categories it uses (masks and return mask).
  // Errors: a bad PAGESCAN_BACKEND value under BackendChoice::automatic (EINVAL /
  // invalid_argument, "PAGESCAN_BACKEND: unknown backend ...", no range); the kernel
  // forced where it has no ioctl (the probe's errno, ENOTTY when it recorded none, kind
  // unsupported, naming the request's range: kernel::scan_failure). Nothing else: the
  // emulator reads a live thread's /proc files once the main thread has exited.
  static Result<ScanBackend> choose(const Process& process, const RawScanArgs& request,
                                    BackendChoice choice, const Features& f);

  Backend kind() const { return kind_; }
  // The limits requests are validated against: the running kernel's category set for the
  // kernel backend, every category pagescan knows for the emulator.
  const KernelLimits& limits() const { return limits_; }
  Categories approximate() const { return notes_.approximate; }

  // One PAGEMAP_SCAN call with the kernel's contract: the count or -errno. The kernel
  // backend returns the ioctl's own; the emulator the ones the ioctl would (EPERM under
  // CHECK_WPASYNC), plus ESRCH (the target has no running thread left), EOPNOTSUPP
  // (write-protect of another process), EIO (a short pagemap read) and the errno of a
  // /proc read that failed. kernel::scan_failure() turns them into Errors.
  long call(const Process& process, int pagemap_fd, RawScanArgs& args);

 private:
  Backend kind_ = Backend::kernel;
  KernelLimits limits_;
  emulate::EmulationNotes notes_;
};

}  // namespace pagescan::detail
