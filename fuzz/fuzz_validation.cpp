// Fuzzes request validation with the kernel as the oracle: 96 random bytes become a
// struct pm_scan_arg; pagescan's validate() must accept or reject it exactly as the
// PAGEMAP_SCAN ioctl does, with the same errno.
//
// Accepted requests make the kernel walk our own address space and write regions to
// `vec`, so a vec that would pass access_ok() is redirected to memory we own: a scratch
// buffer for short buffers, a PROT_NONE reservation for long ones (the kernel's copy
// then fails with EFAULT instead of writing over the fuzzer). Inputs whose decision the
// redirection could change are skipped.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "kernel/pagemap_scan.hpp"
#include "pagescan/features.hpp"
#include "pagescan/scan.hpp"

using pagescan::RawScanArgs;

namespace {

constexpr std::uint64_t kScratch = 64;
pagescan::PageRegion scratch[kScratch];

void* no_access() {
  static void* p =
      ::mmap(nullptr, 1ull << 30, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return p;
}

bool fits(std::uint64_t vec, std::uint64_t len, std::uint64_t limit) {
  std::uint64_t bytes = len > UINT64_MAX / 24 ? UINT64_MAX : len * 24;
  std::uint64_t sum = vec + bytes;
  return sum <= limit && sum >= vec;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const pagescan::Features& f = pagescan::features();
  if (!f.pagemap_scan || size < sizeof(RawScanArgs)) return 0;
  static int fd = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  RawScanArgs args;
  std::memcpy(&args, data, sizeof args);
  // Small values are more interesting than uniform 64-bit noise for most fields.
  if (size > sizeof args) {
    std::uint8_t knobs = data[sizeof args];
    if (knobs & 1) args.size = 96;
    if (knobs & 2) args.flags &= 3;
    if (knobs & 4) args.category_inverted &= 0x3ff;
    if (knobs & 8) args.category_mask &= 0x3ff;
    if (knobs & 16) args.category_anyof_mask &= 0x3ff;
    if (knobs & 32) args.return_mask &= 0x3ff;
    if (knobs & 64) args.end = args.start + (args.end & 0xffffff);
    if (knobs & 128) args.vec_len &= 0xff;
  }
  if (args.vec != 0 && fits(args.vec, args.vec_len, f.user_address_limit)) {
    std::uint64_t target = args.vec_len <= kScratch ? reinterpret_cast<std::uint64_t>(scratch)
                                                    : reinterpret_cast<std::uint64_t>(no_access());
    if (!fits(target, args.vec_len, f.user_address_limit)) return 0;
    args.vec = target;
  }
  auto ours = pagescan::validate(args, f.limits());
  RawScanArgs copy = args;
  long n = pagescan::kernel::pagemap_scan_ioctl(fd, copy);
  int kernel_errno = n < 0 ? static_cast<int>(-n) : 0;
  // Errors raised after validation (EFAULT on copying out, EPERM, EINTR) are not
  // validation decisions; an accepted request may still fail in the walk.
  if (!ours) {
    if (ours.error().errno_value() != kernel_errno) std::abort();
  } else if (kernel_errno == EINVAL) {
    std::abort();  // we accepted what the kernel rejects
  }
  return 0;
}
