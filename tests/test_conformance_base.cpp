// Port of base_tests() from the kernel selftest pagemap_ioctl.c (kernel-pagemap-scan.md §7):
// its six write-tracking checks on each of the selftest's eight kinds of memory, run against
// pagescan. The selftest runs the checks in sequence on one mapping; here each (kind, check)
// is its own test on fresh memory, which replays the earlier steps first.
//
// Calls the selftest makes with a one-entry vec go through scan_raw(), and the read-only ones
// are also compared with the bare ioctl; every check also asserts the complete answer of
// scan(). Where the selftest allows slack for huge pages ("between N-2 and N pages"), the
// exact answer follows from the kernel rules: a hugetlb page is written or not as a whole
// (§4.1), and a write fault on a write-protected THP splits it, so it is tracked per page
// from then on (§4.1 HUGE, §5.3).
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pagescan/scan.hpp"
#include "support/conformance.hpp"
#include "support/conformance_wp.hpp"
#include "support/kernel_facts.hpp"
#include "support/memory.hpp"
#include "support/system_settings.hpp"

using namespace pagescan;
using namespace pagescan::test;

namespace {

constexpr Categories kW = Category::written;
constexpr Categories kHuge = Category::huge;
// Huge pages reserved for a hugetlb kind: it maps one; the rest is headroom.
constexpr std::uint64_t kHugetlbPages = 4;

}  // namespace

class BaseTests : public PagemapIoctlTest, public ::testing::WithParamInterface<MemoryKind> {
 protected:
  void SetUp() override {
    PagemapIoctlTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    kind_ = GetParam();
    if (is_hugetlb(kind_)) {
      PAGESCAN_REQUIRE_FACT(Fact::hugetlb);
      reservation_.emplace(kHugetlbPages);
      ASSERT_TRUE(reservation_->ok())
          << selftest_prefix(kind_) << " needs hugetlb pages: " << reservation_->why_not();
    }
    if (kind_ == MemoryKind::huge_page) {
      PAGESCAN_REQUIRE_FACT(Fact::thp);
    }
    std::string why_not;
    auto m = make_memory(kind_, why_not);
    ASSERT_TRUE(m) << selftest_prefix(kind_) << " " << why_not;
    mem_ = std::move(*m);
    ASSERT_NO_FATAL_FAILURE(track(mem_));
    ASSERT_NO_FATAL_FAILURE(expect_kind());
  }

  // The memory is the kind it claims: THP and hugetlb memory is HUGE throughout (a hugetlb
  // slot under a uffd-wp marker is HUGE|SWAPPED, §4.1), the rest nowhere.
  void expect_kind() {
    auto huge =
        scan_or_fail(ScanRequest::over(mem_.start(), mem_.end()).all_of(kHuge).returning(kHuge));
    std::vector<PageRegion> expected;
    if (kind_ == MemoryKind::huge_page || is_hugetlb(kind_)) {
      expected.push_back(region_of(mem_, 0, n(), kHuge));
    }
    ASSERT_EQ(huge.regions, expected) << "the memory is not of the kind under test";
  }

  std::size_t n() const { return mem_.pages(); }
  std::size_t mid() const { return n() / 2; }
  std::vector<PageRegion> whole() const { return {region_of(mem_, 0, n(), kW)}; }
  // HUGE as a reported category: only hugetlb keeps its huge entry through a write fault.
  Categories huge_if_hugetlb() const { return is_hugetlb(kind_) ? kHuge : Categories{}; }

  std::vector<PageRegion> written() {
    return scan_or_fail(written_in(mem_.start(), mem_.end())).regions;
  }

  // A reset of the whole mapping (the selftest's WPC with vec 1; in each state where it
  // resets there is at most one written region, so a complete reset does the same).
  void reset_expecting(const std::vector<PageRegion>& expected, Categories returned = kW) {
    auto r = scan_or_fail(reset_written_in(mem_.start(), mem_.end(), 0, returned));
    ASSERT_EQ(r.regions, expected);
    ASSERT_EQ(r.walk_end, mem_.end());
  }

  // Checks 2 and 3: everything written and reset, then all but the first and last page
  // written and reset.
  void replay_through_check3() {
    mem_.write_pages(0, n());
    ASSERT_NO_FATAL_FAILURE(reset_expecting(whole()));
    mem_.write_pages(1, n() - 2);
    ASSERT_NO_FATAL_FAILURE(reset_expecting({written_region(kind_, mem_, 1, n() - 2)}));
  }

  // Check 5's state: the middle page written, not yet reset.
  void replay_through_check5() {
    ASSERT_NO_FATAL_FAILURE(replay_through_check3());
    ASSERT_NO_FATAL_FAILURE(reset_expecting({}));
    mem_.write_page(mid());
  }

  MemoryKind kind_ = MemoryKind::page;
  std::optional<HugetlbReservation> reservation_;  // outlives mem_ (declared first)
  Mapping mem_;
};

// 1. WPC with vec 1 and max_pages N-2 reports nothing: protected new memory is not written.
TEST_P(BaseTests, AllNewPagesMustNotBeWritten) {
  RawAnswer got;
  ASSERT_TRUE(accepted_like_kernel(written_args(mem_.start(), mem_.end(), 1, kWpc, n() - 2), &got));
  EXPECT_EQ(got.count, 0u);
  EXPECT_EQ(got.walk_end, mem_.end());  // nothing matched, so no stop address (§2.4)

  auto full = scan_or_fail(reset_written_in(mem_.start(), mem_.end(), n() - 2));
  EXPECT_EQ(full.regions, std::vector<PageRegion>{});
  EXPECT_EQ(full.walk_end, mem_.end());
  EXPECT_EQ(full.stop_reason, StopReason::complete);
}

// 2. After writing every page, one call with vec 1 reports one region of all N pages.
TEST_P(BaseTests, AllPagesMustBeWritten) {
  mem_.write_pages(0, n());
  RawAnswer got;
  ASSERT_TRUE(accepted_like_kernel(written_args(mem_.start(), mem_.end(), 1), &got));
  ASSERT_EQ(got.count, 1u);
  EXPECT_EQ(len_pages(got.regions[0]), n());
  EXPECT_EQ(got.regions, whole());
  EXPECT_EQ(got.walk_end, mem_.end());

  EXPECT_EQ(written(), whole());
}

// 3. Reset, write all pages but the first and last, and a WPC with vec 1 reports them as one
// region (the selftest allows N-2 to N pages; hugetlb reports its whole page, the rest N-2).
TEST_P(BaseTests, AllPagesDirtyOtherThanFirstAndLastOne) {
  mem_.write_pages(0, n());
  ASSERT_NO_FATAL_FAILURE(reset_expecting(whole()));
  mem_.write_pages(1, n() - 2);
  PageRegion expected = written_region(kind_, mem_, 1, n() - 2);
  EXPECT_EQ(written(), std::vector<PageRegion>{expected});

  RawAnswer got = raw_call(written_args(mem_.start(), mem_.end(), 1, kWpc));
  ASSERT_EQ(got.count, 1u);
  EXPECT_GE(len_pages(got.regions[0]), n() - 2);
  EXPECT_LE(len_pages(got.regions[0]), n());
  EXPECT_EQ(got.regions[0], expected);
  EXPECT_EQ(got.walk_end, mem_.end());
}

// 4. The WPC of check 3 protected what it reported: a scan with vec 1 finds nothing. The same
// holds when the reset is scan()'s complete one.
TEST_P(BaseTests, WpMatchingCheckWpAsyncLeavesNothingWritten) {
  mem_.write_pages(0, n());
  ASSERT_NO_FATAL_FAILURE(reset_expecting(whole()));
  mem_.write_pages(1, n() - 2);
  RawAnswer reset = raw_call(written_args(mem_.start(), mem_.end(), 1, kWpc));
  ASSERT_EQ(reset.count, 1u);

  RawAnswer got;
  ASSERT_TRUE(accepted_like_kernel(written_args(mem_.start(), mem_.end(), 1), &got));
  EXPECT_EQ(got.count, 0u);
  EXPECT_EQ(got.walk_end, mem_.end());
  EXPECT_EQ(written(), std::vector<PageRegion>{});

  mem_.write_pages(1, n() - 2);
  ASSERT_NO_FATAL_FAILURE(reset_expecting({written_region(kind_, mem_, 1, n() - 2)}));
  EXPECT_EQ(written(), std::vector<PageRegion>{});
}

// 5. Reset, write the middle page: a complete scan reports one region holding it (exactly
// that page, or the hugetlb page around it).
TEST_P(BaseTests, OnlyMiddlePageDirty) {
  ASSERT_NO_FATAL_FAILURE(replay_through_check5());
  auto regions = written();
  ASSERT_EQ(regions.size(), 1u);
  EXPECT_GE(len_pages(regions[0]), 1u);
  EXPECT_EQ(regions[0], written_region(kind_, mem_, mid(), 1));
}

// 6. Reset (returning WRITTEN|HUGE), write the two middle pages, and scan only those two with
// vec 1: one region starting at the middle page, two pages long. Without write-protect a
// range edge may cut a hugetlb page (§3.5), which then keeps HUGE.
TEST_P(BaseTests, OnlyTwoMiddlePagesDirty) {
  ASSERT_NO_FATAL_FAILURE(replay_through_check5());
  ASSERT_NO_FATAL_FAILURE(
      reset_expecting({written_region(kind_, mem_, mid(), 1, kW | huge_if_hugetlb())}, kW | kHuge));
  mem_.write_pages(mid(), 2);

  std::uint64_t start = mem_.page_addr(mid());
  std::uint64_t end = mem_.page_addr(mid() + 2);
  std::vector<PageRegion> expected = {region_of(mem_, mid(), 2, kW | huge_if_hugetlb())};
  RawAnswer got;
  ASSERT_TRUE(accepted_like_kernel(written_args(start, end, 1, 0, 0, kW | kHuge), &got));
  ASSERT_EQ(got.count, 1u);
  EXPECT_EQ(got.regions[0].start, start);
  EXPECT_EQ(len_pages(got.regions[0]), 2u);
  EXPECT_EQ(got.regions, expected);
  EXPECT_EQ(got.walk_end, end);

  EXPECT_EQ(scan_or_fail(written_in(start, end, kW | kHuge)).regions, expected);
}

INSTANTIATE_TEST_SUITE_P(PagemapIoctl, BaseTests, ::testing::ValuesIn(kAllMemoryKinds),
                         [](const ::testing::TestParamInfo<MemoryKind>& param_info) {
                           return std::string(test_name(param_info.param));
                         });
