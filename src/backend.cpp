// Choosing and calling a backend: the kernel's ioctl or the emulator, one call at a time.
#include "backend.hpp"

#include <cerrno>
#include <cstdlib>

#include "kernel/pagemap_scan.hpp"

namespace pagescan {

Result<BackendChoice> parse_backend_choice(std::string_view name) {
  if (name == "auto") return BackendChoice::automatic;
  if (name == "kernel") return BackendChoice::kernel;
  if (name == "emulated") return BackendChoice::emulated;
  return Error(EINVAL, ErrorKind::invalid_argument,
               "unknown backend '" + std::string(name) + "' (expected auto, kernel or emulated)");
}

namespace detail {

namespace {

std::uint64_t used_categories(const RawScanArgs& a) {
  return a.category_inverted | a.category_mask | a.category_anyof_mask | a.return_mask;
}

}  // namespace

Result<ScanBackend> ScanBackend::choose(const Process& process, const RawScanArgs& request,
                                        BackendChoice choice, const Features& f) {
  const std::uint64_t used = used_categories(request);
  if (choice == BackendChoice::automatic) {
    if (const char* env = std::getenv("PAGESCAN_BACKEND"); env && *env) {
      auto parsed = parse_backend_choice(env);
      if (!parsed) return parsed.error().with_context("PAGESCAN_BACKEND");
      choice = *parsed;
    }
  }
  if (choice == BackendChoice::automatic) {
    bool kernel_can = f.pagemap_scan && (used & ~f.scan_categories.bits()) == 0;
    choice = kernel_can ? BackendChoice::kernel : BackendChoice::emulated;
  }
  ScanBackend b;
  if (choice == BackendChoice::kernel) {
    if (!f.pagemap_scan) {
      return kernel::scan_failure(f.pagemap_scan_errno ? f.pagemap_scan_errno : ENOTTY, process,
                                  request);
    }
    b.kind_ = Backend::kernel;
    b.limits_ = f.limits();
  } else {
    b.kind_ = Backend::emulated;
    b.limits_ = KernelLimits{f.page_size, f.user_address_limit, Categories::all_known()};
  }
  return b;
}

long ScanBackend::call(const Process& process, int pagemap_fd, RawScanArgs& args) {
  if (kind_ == Backend::kernel) return kernel::pagemap_scan_ioctl(pagemap_fd, args);
  return emulate::emulated_pagemap_scan(process, args, limits_.page_size, notes_);
}

}  // namespace detail
}  // namespace pagescan
