// Request validation in the kernel's order and with its errno (kernel-pagemap-scan.md
// §2.1, pagemap_scan_get_args() in fs/proc/task_mmu.c): the first failure wins, so a
// request gets exactly the error the kernel would give it, with a message naming the
// field and what was expected.
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <string>

#include "pagescan/scan.hpp"

namespace pagescan {

static std::string hex(std::uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%" PRIx64, v);
  return buf;
}

static Error invalid(int err, std::string text) {
  return Error(err, ErrorKind::invalid_argument, std::move(text));
}

// x86-64 access_ok() for a non-constant size: the end address (ptr + size) must not pass
// the user limit, and the addition must not wrap.
static bool access_ok(std::uint64_t ptr, std::uint64_t size, std::uint64_t limit) {
  std::uint64_t sum = ptr + size;
  return sum <= limit && sum >= ptr;
}

Result<void> validate(const RawScanArgs& a, const KernelLimits& limits) {
  if (a.size != RawScanArgs::kSize) {
    return invalid(EINVAL, "size is " + std::to_string(a.size) + ", expected 96 " +
                               "(sizeof(struct pm_scan_arg))");
  }
  if (a.flags & ~(RawScanArgs::kWpMatching | RawScanArgs::kCheckWpAsync)) {
    return invalid(EINVAL, "flags " + hex(a.flags) +
                               " has unknown bits (expected PM_SCAN_WP_MATCHING 0x1 "
                               "and/or PM_SCAN_CHECK_WPASYNC 0x2)");
  }
  const std::uint64_t accepted = limits.accepted_categories.bits();
  struct Mask {
    const char* name;
    std::uint64_t bits;
  };
  for (Mask m :
       {Mask{"category_inverted", a.category_inverted}, Mask{"category_mask", a.category_mask},
        Mask{"category_anyof_mask", a.category_anyof_mask}, Mask{"return_mask", a.return_mask}}) {
    if (m.bits & ~accepted) {
      std::string names = to_string(Categories::from_bits(m.bits & ~accepted));
      return invalid(EINVAL, std::string(m.name) + " " + hex(m.bits) + " has " + names +
                                 ", which this kernel does not support (supported: " +
                                 to_string(limits.accepted_categories) + ")");
    }
  }
  if (a.start & (limits.page_size - 1)) {
    return invalid(EINVAL, "start " + hex(a.start) + " is not page-aligned (page size " +
                               std::to_string(limits.page_size) + ")");
  }
  if (!access_ok(a.start, a.end - a.start, limits.user_address_limit)) {
    if (a.end < a.start) {
      return invalid(EFAULT, "end " + hex(a.end) + " is before start " + hex(a.start));
    }
    return invalid(EFAULT, "range [" + hex(a.start) + ", " + hex(a.end) +
                               ") goes beyond the user address space (highest end " +
                               hex(limits.user_address_limit) + ")");
  }
  if (a.vec == 0 && a.vec_len != 0) {
    return invalid(EINVAL, "vec is NULL but vec_len is " + std::to_string(a.vec_len) +
                               " (expected vec_len 0 without an output buffer)");
  }
  if (a.vec != 0) {
    // size_mul() saturates, so an enormous vec_len fails access_ok() rather than wrapping.
    std::uint64_t bytes =
        a.vec_len > UINT64_MAX / sizeof(PageRegion) ? UINT64_MAX : a.vec_len * sizeof(PageRegion);
    if (!access_ok(a.vec, bytes, limits.user_address_limit)) {
      return invalid(EFAULT, "output buffer vec " + hex(a.vec) + " with vec_len " +
                                 std::to_string(a.vec_len) +
                                 " does not fit in the user address space");
    }
  }
  return {};
}

}  // namespace pagescan
