// Memory kinds and WRITTEN scan/reset calls for the ports of pagemap_ioctl.c's base_tests,
// hpage_unit_tests, test_simple, mprotect_tests and transact_test (kernel-pagemap-scan.md §7).
#pragma once

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

#include "pagescan/scan.hpp"
#include "support/conformance.hpp"
#include "support/memory.hpp"

namespace pagescan::test {

inline constexpr Categories kWrittenSet = Category::written;

// The eight kinds of memory the selftest runs base_tests() on, in its order.
enum class MemoryKind {
  page,                   // "Page testing": 10 anonymous pages
  large_page,             // "Large Page testing": 5120 anonymous pages
  huge_page,              // "Huge page testing": one PMD-mapped THP
  hugetlb_shmem,          // "Hugetlb shmem testing": SysV SHM_HUGETLB, 2 MiB
  hugetlb_mem,            // "Hugetlb mem testing": MAP_HUGETLB | MAP_PRIVATE, 2 MiB
  hugetlb_memfd,          // "Hugetlb shmem testing" (again): memfd MFD_HUGETLB, MAP_SHARED
  file_memory,            // "File memory testing": MAP_PRIVATE of a 10-page regular file
  file_anonymous_memory,  // "File anonymous memory testing": MAP_PRIVATE of a 10-page memfd
};

inline constexpr std::array<MemoryKind, 8> kAllMemoryKinds = {
    MemoryKind::page,          MemoryKind::large_page,           MemoryKind::huge_page,
    MemoryKind::hugetlb_shmem, MemoryKind::hugetlb_mem,          MemoryKind::hugetlb_memfd,
    MemoryKind::file_memory,   MemoryKind::file_anonymous_memory};

// A GoogleTest-safe name ("HugetlbMemfd") and the selftest's prefix ("Hugetlb mem testing:").
std::string_view test_name(MemoryKind kind);
std::string_view selftest_prefix(MemoryKind kind);
bool is_hugetlb(MemoryKind kind);
// gtest prints test parameters with this.
inline void PrintTo(MemoryKind kind, std::ostream* os) {
  *os << selftest_prefix(kind) << " (" << test_name(kind) << ")";
}

// Maps memory of `kind`. nullopt, with the reason in `why_not`, when the kernel cannot give
// it: no THP formed, or no hugetlb page (the caller holds the reservation).
std::optional<Mapping> make_memory(MemoryKind kind, std::string& why_not);

// The unit in which this kind's WRITTEN state changes under our tests: the whole 2 MiB page
// for hugetlb (one huge PTE, §4.1), one page otherwise. A THP counts as pages here because a
// write fault on a write-protected THP splits it first (§4.1 HUGE, §5.3).
std::size_t written_granule_pages(MemoryKind kind, const Mapping& m);

// The region a complete WRITTEN scan reports after pages [first, first + count) of `m` were
// written (starting from nothing written): the pages rounded out to the granule.
PageRegion written_region(MemoryKind kind, const Mapping& m, std::size_t first, std::size_t count,
                          Categories categories = kWrittenSet);

// Complete scans (scan()) of [start, end) for WRITTEN pages, returning `returned`; the
// reset variant adds WP_MATCHING | CHECK_WPASYNC, as every reset of the selftest does.
ScanRequest written_in(std::uint64_t start, std::uint64_t end, Categories returned = kWrittenSet);
ScanRequest reset_written_in(std::uint64_t start, std::uint64_t end, std::uint64_t max_pages = 0,
                             Categories returned = kWrittenSet);

// scan() that records a test failure (with the library's message) when it fails, and then
// returns an empty result.
ScanResult scan_or_fail(const ScanRequest& request);

// The selftest's call pagemap_ioctl(start, end - start, vec, vec_len, flags, max_pages,
// WRITTEN, 0, 0, returned) as raw arguments, for scan_raw().
RawScanArgs written_args(std::uint64_t start, std::uint64_t end, std::uint64_t vec_len,
                         std::uint64_t flags = 0, std::uint64_t max_pages = 0,
                         Categories returned = kWrittenSet);

// Exactly one call through scan_raw() with its own buffer of args.vec_len entries filled
// with kSentinel. Records a failure when the call fails or writes past its count. For calls
// that change page state (WP_MATCHING over written pages), where accepted_like_kernel()'s
// second, bare-ioctl call would see a different state.
RawAnswer raw_call(RawScanArgs args);

}  // namespace pagescan::test
