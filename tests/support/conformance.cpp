// Helpers for the ports of the kernel's PAGEMAP_SCAN selftests.
#include "support/conformance.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "kernel/pagemap_scan.hpp"
#include "pagescan/features.hpp"
#include "support/kernel_facts.hpp"

namespace pagescan::test {

std::uint64_t len_pages(const PageRegion& region) {
  return region.pages(page_size());
}

PageRegion region_of(const Mapping& m, std::size_t first, std::size_t count,
                     Categories categories) {
  return PageRegion{m.page_addr(first), m.page_addr(first + count), categories};
}

::testing::AssertionResult wp_addr_range(std::uint64_t start, std::uint64_t len) {
  RawScanArgs args;
  args.flags = kWpc;
  args.start = start;
  args.end = start + len;
  args.category_mask = kWritten;
  args.return_mask = kWritten;
  auto n = scan_raw(self_process(), args);
  if (!n) return ::testing::AssertionFailure() << "wp_addr_range: " << n.error().message();
  return ::testing::AssertionSuccess();
}

long kernel_scan(RawScanArgs& args) {
  // Our own fd, so that nothing of pagescan (not even its Process) sits in between.
  static const int fd = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  return kernel::pagemap_scan_ioctl(fd, args);
}

::testing::AssertionResult rejected_like_kernel(const RawScanArgs& args, int expected_errno) {
  constexpr std::uint64_t kUnwritten = 0x5a5a5a5a5a5a5000;
  RawScanArgs ours = args;
  RawScanArgs theirs = args;
  ours.walk_end = theirs.walk_end = kUnwritten;
  auto n = scan_raw(self_process(), ours);
  long k = kernel_scan(theirs);
  if (k >= 0) {
    return ::testing::AssertionFailure() << "the kernel accepted the request (returned " << k
                                         << "), expected " << std::strerror(expected_errno);
  }
  if (-k != expected_errno) {
    return ::testing::AssertionFailure() << "the kernel failed with " << std::strerror(int(-k))
                                         << ", expected " << std::strerror(expected_errno);
  }
  if (n) {
    return ::testing::AssertionFailure()
           << "scan_raw accepted the request (returned " << *n << ") that the kernel rejects with "
           << std::strerror(int(-k));
  }
  if (n.error().errno_value() != -k) {
    return ::testing::AssertionFailure()
           << "scan_raw failed with " << std::strerror(n.error().errno_value())
           << " but the kernel with " << std::strerror(int(-k)) << ": " << n.error().message();
  }
  if (ours.walk_end != kUnwritten || theirs.walk_end != kUnwritten) {
    return ::testing::AssertionFailure()
           << "walk_end was written on a validation error (ours 0x" << std::hex << ours.walk_end
           << ", kernel 0x" << theirs.walk_end << ")";
  }
  return ::testing::AssertionSuccess() << n.error().message();
}

::testing::AssertionResult accepted_like_kernel(const RawScanArgs& args, RawAnswer* answer) {
  // One spare entry: a call must not write even one entry past vec_len.
  std::size_t slots = static_cast<std::size_t>(args.vec_len) + 1;
  std::vector<PageRegion> ours_vec(slots, kSentinel);
  std::vector<PageRegion> kernel_vec(slots, kSentinel);
  RawScanArgs ours = args;
  RawScanArgs theirs = args;
  if (args.vec) {
    ours.vec = addr(ours_vec.data());
    theirs.vec = addr(kernel_vec.data());
  }
  auto n = scan_raw(self_process(), ours);
  long k = kernel_scan(theirs);
  if (k < 0) {
    return ::testing::AssertionFailure()
           << "the kernel rejected the request: " << std::strerror(int(-k));
  }
  if (!n) {
    return ::testing::AssertionFailure()
           << "scan_raw failed where the kernel returned " << k << ": " << n.error().message();
  }
  if (*n != static_cast<std::size_t>(k)) {
    return ::testing::AssertionFailure()
           << "scan_raw returned " << *n << ", the kernel " << k << " regions";
  }
  if (ours.walk_end != theirs.walk_end) {
    return ::testing::AssertionFailure() << std::hex << "scan_raw walk_end 0x" << ours.walk_end
                                         << ", the kernel's 0x" << theirs.walk_end;
  }
  for (std::size_t i = 0; i < slots; ++i) {
    if (!(ours_vec[i] == kernel_vec[i])) {
      return ::testing::AssertionFailure()
             << "vec[" << i << "] differs: scan_raw " << ::testing::PrintToString(ours_vec[i])
             << ", the kernel " << ::testing::PrintToString(kernel_vec[i]);
    }
    if (i >= *n && !(ours_vec[i] == kSentinel)) {
      return ::testing::AssertionFailure()
             << "vec[" << i << "] past the count " << *n << " was overwritten";
    }
  }
  if (answer) {
    answer->count = *n;
    answer->walk_end = ours.walk_end;
    answer->regions = written_part(ours_vec, *n);
  }
  return ::testing::AssertionSuccess();
}

// The kernel selftest skips everything without PAGEMAP_SCAN or async uffd-wp.
void PagemapIoctlTest::SetUp() {
  PAGESCAN_REQUIRE_FACT(Fact::pagemap_scan);
  PAGESCAN_REQUIRE_FACT(Fact::uffd_wp_async);
  wp_ = AsyncWp::create();
  ASSERT_TRUE(wp_) << "the kernel has async uffd-wp (" << kernel_fact(Fact::uffd_wp_async).finding
                   << "), yet AsyncWp::create() failed";
}

void PagemapIoctlTest::track(const Mapping& m) {
  ASSERT_NE(m.data(), nullptr);
  ASSERT_NO_FATAL_FAILURE(wp_->init(m.data(), m.length()));
  ASSERT_TRUE(wp_addr_range(m.start(), m.length()));
}

}  // namespace pagescan::test
