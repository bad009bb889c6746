// Choosing and calling a backend: the kernel's ioctl or the emulator, one call at a time.
#pragma once

#include "emulate/emulated_scan.hpp"
#include "pagescan/features.hpp"
#include "pagescan/scan.hpp"

namespace pagescan::detail {

class ScanBackend {
 public:
  // Picks the backend for `request` by the categories it uses (masks and return mask).
  // Errors (naming the request's range): a bad PAGESCAN_BACKEND value; the kernel forced
  // where it has no ioctl; the emulator for a target whose main thread has exited.
  static Result<ScanBackend> choose(const Process& process, const RawScanArgs& request,
                                    BackendChoice choice, const Features& f);

  Backend kind() const { return kind_; }
  // The limits requests are validated against: the running kernel's category set for the
  // kernel backend, every category pagescan knows for the emulator.
  const KernelLimits& limits() const { return limits_; }
  Categories approximate() const { return notes_.approximate; }

  // One PAGEMAP_SCAN call with the kernel's contract: the count or -errno.
  long call(const Process& process, int pagemap_fd, RawScanArgs& args);

 private:
  Backend kind_ = Backend::kernel;
  KernelLimits limits_;
  emulate::EmulationNotes notes_;
};

}  // namespace pagescan::detail
