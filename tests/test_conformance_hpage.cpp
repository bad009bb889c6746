// Port of hpage_unit_tests() from the kernel selftest pagemap_ioctl.c (kernel-pagemap-scan.md
// §7): write tracking over ten THPs, run against pagescan. Each check maps ten fresh
// PMD-mapped THPs, registers them for async uffd-wp and protects them, as the selftest does.
//
// A write fault on a write-protected THP splits it and unprotects only the written page
// (§4.1 HUGE, §5.3), so after "write everything" the ten THPs are tracked per page. Where the
// selftest asks for "a region of length > 0" our assertion is that exact page.
#include <gtest/gtest.h>

#include <vector>

#include "pagescan/scan.hpp"
#include "support/conformance.hpp"
#include "support/conformance_wp.hpp"
#include "support/kernel_facts.hpp"
#include "support/memory.hpp"

using namespace pagescan;
using namespace pagescan::test;

namespace {

constexpr Categories kW = Category::written;
constexpr Categories kHuge = Category::huge;
constexpr std::size_t kThps = 10;

}  // namespace

class HpageUnitTests : public PagemapIoctlTest {
 protected:
  void SetUp() override {
    PagemapIoctlTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    map_ = Mapping::aligned(kThps * kThpSize, kThpSize);
    ASSERT_NE(map_.data(), nullptr);
    PAGESCAN_REQUIRE_FACT(Fact::thp);
    ASSERT_TRUE(make_thp(map_)) << "no THP although " << kernel_fact(Fact::thp).finding;
    // The selftest only checks that madvise succeeded; we check that all ten THPs formed,
    // so every check below starts from PMD-mapped memory.
    auto huge = scan_or_fail(huge_pages());
    if (huge.regions != all_huge()) {
      GTEST_SKIP() << "only " << huge.pages / (kThpSize / page_size()) << " of " << kThps
                   << " THPs formed (no free huge pages?)";
    }
    ASSERT_NO_FATAL_FAILURE(track(map_));
    // Protecting a THP as a whole keeps it PMD-mapped (§5.3).
    ASSERT_EQ(scan_or_fail(huge_pages()).regions, all_huge());
  }

  ScanRequest huge_pages() const {
    return ScanRequest::over(map_.start(), map_.end()).all_of(kHuge).returning(kHuge);
  }
  std::vector<PageRegion> all_huge() const { return {region_of(map_, 0, n(), kHuge)}; }

  std::size_t n() const { return map_.pages(); }
  std::size_t half() const { return n() / 2; }
  std::vector<PageRegion> written() {
    return scan_or_fail(written_in(map_.start(), map_.end())).regions;
  }

  Mapping map_;
};

// 1. A WPC over the protected THPs reports nothing.
TEST_F(HpageUnitTests, AllNewHugePageMustNotBeWritten) {
  auto r = scan_or_fail(reset_written_in(map_.start(), map_.end()));
  EXPECT_EQ(r.regions, std::vector<PageRegion>{});
  EXPECT_EQ(r.walk_end, map_.end());
  EXPECT_EQ(scan_or_fail(huge_pages()).regions, all_huge())
      << "a WPC that matched nothing split a THP";
}

// 2. A plain scan reports nothing.
TEST_F(HpageUnitTests, AllTheHugePageMustNotBeWritten) {
  EXPECT_EQ(written(), std::vector<PageRegion>{});
}

// 3. After writing everything, a WPC reports one region from the start over every page with
// categories exactly WRITTEN, and protects it all.
TEST_F(HpageUnitTests, AllTheHugePageMustBeWrittenAndClear) {
  map_.write_pages(0, n());
  auto r = scan_or_fail(reset_written_in(map_.start(), map_.end()));
  ASSERT_EQ(r.regions.size(), 1u);
  EXPECT_EQ(r.regions[0].start, map_.start());
  EXPECT_EQ(len_pages(r.regions[0]), n());
  EXPECT_EQ(r.regions[0].categories, kW);
  EXPECT_EQ(written(), std::vector<PageRegion>{});
}

// 4. Writing the middle page (the first page of the sixth THP) makes exactly that page
// written: the fault splits the THP and unprotects one PTE.
TEST_F(HpageUnitTests, OnlyMiddlePageWritten) {
  map_.write_page(half());
  auto regions = written();
  ASSERT_EQ(regions.size(), 1u);
  EXPECT_GT(len_pages(regions[0]), 0u);
  EXPECT_EQ(regions[0], region_of(map_, half(), 1, kW));
}

// 5. Everything written, then the selftest's wp_addr_range() (no output buffer) over the
// first half: exactly the second half stays written.
TEST_F(HpageUnitTests, ClearFirstHalfOfHugePage) {
  map_.write_pages(0, n());
  ASSERT_TRUE(wp_addr_range(map_.start(), map_.length() / 2));
  auto regions = written();
  ASSERT_EQ(regions.size(), 1u);
  EXPECT_EQ(len_pages(regions[0]), half());
  EXPECT_EQ(regions[0].start, map_.page_addr(half()));
  EXPECT_EQ(regions, std::vector<PageRegion>{region_of(map_, half(), half(), kW)});
}

// 6. Everything written, then a WPC limited to half the pages: it reports and protects the
// first half and stops there; the second half stays written.
TEST_F(HpageUnitTests, ClearFirstHalfOfHugePageWithLimitedBuffer) {
  map_.write_pages(0, n());
  auto reset = scan_or_fail(reset_written_in(map_.start(), map_.end(), half()));
  EXPECT_EQ(reset.regions, std::vector<PageRegion>{region_of(map_, 0, half(), kW)});
  EXPECT_EQ(reset.stop_reason, StopReason::max_pages);
  EXPECT_EQ(reset.walk_end, map_.page_addr(half()));  // just after the last page reported

  auto regions = written();
  ASSERT_EQ(regions.size(), 1u);
  EXPECT_EQ(len_pages(regions[0]), half());
  EXPECT_EQ(regions[0].start, map_.page_addr(half()));
}

// 7. Everything written, then a WPC over the second half limited to half the pages: the
// budget runs out exactly at the range end, so the scan is complete, and the first half
// stays written.
TEST_F(HpageUnitTests, ClearSecondHalfHugePage) {
  map_.write_pages(0, n());
  auto reset = scan_or_fail(reset_written_in(map_.page_addr(half()), map_.end(), half()));
  EXPECT_EQ(reset.regions, std::vector<PageRegion>{region_of(map_, half(), half(), kW)});
  EXPECT_EQ(reset.walk_end, map_.end());
  EXPECT_EQ(reset.stop_reason, StopReason::complete);

  auto regions = written();
  ASSERT_EQ(regions.size(), 1u);
  EXPECT_EQ(len_pages(regions[0]), half());
  EXPECT_EQ(regions, std::vector<PageRegion>{region_of(map_, 0, half(), kW)});
}

// 8a. Everything written, then one WPC with vec 1 and max_pages of half a THP: one region of
// 256 pages from the start, and walk_end just after it (a max_pages stop, §2.4).
TEST_F(HpageUnitTests, GetHalfHugePage) {
  const std::size_t half_thp = kThpSize / page_size() / 2;
  map_.write_pages(0, n());
  RawAnswer got = raw_call(written_args(map_.start(), map_.end(), 1, kWpc, half_thp));
  ASSERT_EQ(got.count, 1u);
  EXPECT_EQ(len_pages(got.regions[0]), half_thp);
  EXPECT_EQ(got.regions[0], region_of(map_, 0, half_thp, kW));
  EXPECT_EQ(got.walk_end, map_.page_addr(half_thp));
}

// 8b. After that call, a complete scan reports the rest as one region: the call protected
// exactly the pages it reported.
TEST_F(HpageUnitTests, GetHalfHugePageLeavesTheRestWritten) {
  const std::size_t half_thp = kThpSize / page_size() / 2;
  map_.write_pages(0, n());
  RawAnswer got = raw_call(written_args(map_.start(), map_.end(), 1, kWpc, half_thp));
  ASSERT_EQ(got.count, 1u);
  auto regions = written();
  ASSERT_EQ(regions.size(), 1u);
  EXPECT_EQ(len_pages(regions[0]), n() - half_thp);
  EXPECT_EQ(regions[0], region_of(map_, half_thp, n() - half_thp, kW));
}
