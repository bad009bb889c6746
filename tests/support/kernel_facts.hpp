// What the running kernel does, found by the tests themselves, independently of the
// library: a test never lets pagescan::features() decide whether it runs or what it
// expects, because a broken library probe would then turn failures into skips.
//
// Each fact is probed on first use with raw syscalls, /proc/self/pagemap (PFNs and flag
// bits), /proc/kpageflags when readable, and sysfs, then cached for the process. Each
// comes with a finding: one human sentence saying what was observed, which a skip names
// ("this kernel maps a private page on read faults: no pfnzero").
//
// PAGESCAN_REQUIRE=fact,fact,... (the names below) turns a skip for a named fact into a
// failure, so CI on a kernel known to have a fact cannot silently skip its tests. An
// unknown name there fails every test binary, listing the known names.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>

#include "pagescan/categories.hpp"

namespace pagescan::test {

// The facts, with their PAGESCAN_REQUIRE names (fact_name()):
enum class Fact {
  pagemap_scan,    // the PAGEMAP_SCAN ioctl answers on /proc/self/pagemap (6.7+)
  scan_wpallowed,  // scan_<category>: PAGEMAP_SCAN accepts that PAGE_IS_* bit in a
  scan_written,    //   scan of written memory (6.7: the first seven; 6.8 soft-dirty;
  scan_file,       //   6.16 guard)
  scan_present,
  scan_swapped,
  scan_pfnzero,
  scan_huge,
  scan_soft_dirty,
  scan_guard,
  uffd_wp_async,   // a userfaultfd with WP_ASYNC | WP_UNPOPULATED | WP_HUGETLBFS_SHMEM
                   // whose write-protected page a write unprotects by itself (6.7+)
  soft_dirty,      // pagemap bit 55 set by a write and cleared by clear_refs (a child)
  guard_regions,   // MADV_GUARD_INSTALL on anonymous memory (6.13+)
  zero_page,       // a read fault on anonymous memory maps the shared zero page
  huge_zero_page,  // a read fault in a MADV_HUGEPAGE region maps the huge zero page
  thp,             // a write in an aligned MADV_HUGEPAGE region gets a PMD-mapped THP
                   // of kThpSize
  hugetlb,         // a default-size hugetlb page can be mapped (raising nr_hugepages
                   // for the probe when root)
  swap,            // swap is active, or a swapfile can be added (root)
  pfns_visible,    // /proc/self/pagemap shows PFNs (CAP_SYS_ADMIN)
};

struct KernelFact {
  bool present = false;
  std::string finding;  // what the probe saw, present or not; never empty
};

// The fact, probed on first use and cached. Thread-safe. Never fails: what cannot be
// probed is absent, the finding saying why. Some probes fork (soft_dirty) or change a
// system setting for their duration (hugetlb, swap); call them in the parent, not in a
// forked child.
const KernelFact& kernel_fact(Fact fact);
inline bool kernel_has(Fact fact) {
  return kernel_fact(fact).present;
}

// "pagemap_scan", "zero_page", ...; every fact, in declaration order.
std::string_view fact_name(Fact fact);
std::span<const Fact> all_facts();
// Prints the name, for GoogleTest's parameter listings.
inline void PrintTo(Fact fact, std::ostream* out) {
  *out << fact_name(fact);
}
std::optional<Fact> fact_named(std::string_view name);
// The scan_<category> fact of a category.
Fact scan_fact(Category category);

// The categories PAGEMAP_SCAN accepts here (the scan_<category> facts); empty without it.
Categories accepted_scan_categories();

// The highest range end PAGEMAP_SCAN's access_ok() accepts, found by empty scans (which
// walk nothing); without the ioctl, the x86-64 4-level paging limit. Cached.
std::uint64_t kernel_user_address_limit();

// The default hugetlb page size (Hugepagesize in /proc/meminfo), 0 without hugetlb.
std::uint64_t kernel_hugetlb_page_size();
// The THP mode in force (the bracketed word of transparent_hugepage/enabled), "" without.
std::string kernel_thp_mode();

// Whether PAGESCAN_REQUIRE names the fact.
bool fact_required(Fact fact);
// A failure message naming each unknown name in PAGESCAN_REQUIRE and listing the known
// ones; empty when every name is known.
std::string unknown_required_names();

// When the fact is absent: the skip message (the finding and the fact's name), or the
// failure message when PAGESCAN_REQUIRE names it. nullopt when the fact is present.
struct AbsentFact {
  bool required = false;
  std::string message;
};
std::optional<AbsentFact> absent_fact(Fact fact);

// Skips the current test naming the finding when the kernel lacks `fact`, or fails it
// when PAGESCAN_REQUIRE names the fact. Returns from the calling (void) function either way.
#define PAGESCAN_REQUIRE_FACT(fact)                                         \
  if (const auto absent_ = ::pagescan::test::absent_fact(fact); !absent_) { \
  } else if (absent_->required) {                                           \
    GTEST_FAIL() << absent_->message;                                       \
  } else                                                                    \
    GTEST_SKIP() << absent_->message

// The exit code of a test run whose tests all skipped and none failed (test_events.cpp's
// main); tests/CMakeLists.txt gives ctest the same number as SKIP_RETURN_CODE.
inline constexpr int kAllSkippedExitCode = 77;

}  // namespace pagescan::test
