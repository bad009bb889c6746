// Helpers for the ports of the kernel's PAGEMAP_SCAN selftests (kernel-pagemap-scan.md §7):
// the selftest's wp_addr_range() and LEN() over our API, the bare ioctl to compare errnos
// with, and a fixture that skips when the selftest itself would skip.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <vector>

#include "pagescan/process.hpp"
#include "pagescan/scan.hpp"
#include "support/memory.hpp"

namespace pagescan {

// gtest prints regions in failure messages with this.
inline void PrintTo(const PageRegion& r, std::ostream* os) {
  *os << std::hex << "[0x" << r.start << ", 0x" << r.end << ") " << std::dec
      << to_string(r.categories);
}

}  // namespace pagescan

namespace pagescan::test {

// "WPC": PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC.
inline constexpr std::uint64_t kWpc = RawScanArgs::kWpMatching | RawScanArgs::kCheckWpAsync;
// The selftest's PAGEMAP_BITS_ALL: the seven categories of 6.7 (no soft-dirty, no guard).
inline constexpr std::uint64_t kBitsAll = 0x7f;
// The selftest's PAGEMAP_NON_WRITTEN_BITS: the same without WRITTEN.
inline constexpr std::uint64_t kNonWrittenBits =
    kBitsAll & ~static_cast<std::uint64_t>(Category::written);
inline constexpr std::uint64_t kWritten = static_cast<std::uint64_t>(Category::written);
inline constexpr std::uint64_t kPresent = static_cast<std::uint64_t>(Category::present);

// The calling process, opened once for all tests of the binary.
const Process& self_process();

// The selftest's LEN(region): the region's length in pages.
std::uint64_t len_pages(const PageRegion& region);

// An address as the kernel's __u64.
inline std::uint64_t addr(const void* p) {
  return reinterpret_cast<std::uint64_t>(p);
}

// One region of a mapping: `count` pages from page `first`, with `categories`.
PageRegion region_of(const Mapping& m, std::size_t first, std::size_t count, Categories categories);

// The selftest's wp_addr_range(): PAGEMAP_SCAN through scan_raw() with no output buffer,
// WPC, mask = return = WRITTEN, the "exclusive WP" path of §5.2(1).
::testing::AssertionResult wp_addr_range(std::uint64_t start, std::uint64_t len);

// The same call issued as a bare ioctl on our own fd of /proc/self/pagemap: the kernel's
// answer, with no pagescan code in between. Returns the count or -errno; writes walk_end
// back into `args`.
long kernel_scan(RawScanArgs& args);

// Issues `args` through scan_raw() and as a bare ioctl, each on its own copy, and checks
// that both fail with `expected_errno`, that scan_raw() reports the kernel's errno, and
// that neither wrote walk_end (the kernel never does on validation errors, §2.1).
::testing::AssertionResult rejected_like_kernel(const RawScanArgs& args, int expected_errno);

// The regions of `vec` the call said it wrote.
inline std::vector<PageRegion> written_part(std::span<const PageRegion> vec, std::size_t count) {
  return {vec.begin(), vec.begin() + static_cast<std::ptrdiff_t>(count)};
}

// A region value no scan produces, to see whether a call wrote an entry.
inline constexpr PageRegion kSentinel{0xdead000, 0xbeef000, Categories::from_bits(0x5a5a)};

// What one accepted call answered: its count, walk_end and the regions it wrote.
struct RawAnswer {
  std::size_t count = 0;
  std::uint64_t walk_end = 0;
  std::vector<PageRegion> regions;
};

// Issues `args` through scan_raw() and then as a bare ioctl, each with its own output
// buffer of args.vec_len entries prefilled with kSentinel (args.vec only says whether
// there is one), and checks that both succeed with the same count, walk_end and regions
// and leave every entry past the count untouched (§3.4). For calls that change no page
// state: no WP_MATCHING, or WP_MATCHING over pages none of which is written.
::testing::AssertionResult accepted_like_kernel(const RawScanArgs& args, RawAnswer* answer);

// Base fixture for the ports of pagemap_ioctl.c. The selftest skips everything when it
// cannot open a uffd with WP_UNPOPULATED | WP_ASYNC | WP_HUGETLBFS_SHMEM; so do these.
class PagemapIoctlTest : public ::testing::Test {
 protected:
  void SetUp() override;

  AsyncWp& wp() { return *wp_; }
  // The selftest's wp_init + wp_addr_range on a mapping: register for async WP and
  // protect every page. Use under ASSERT_NO_FATAL_FAILURE.
  void track(const Mapping& m);

 private:
  std::optional<AsyncWp> wp_;
};

}  // namespace pagescan::test
