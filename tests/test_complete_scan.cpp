// The complete scan: every region, merged as one unbounded kernel call would, whatever
// the buffer size, with walk_end and the stop reason right (kernel-pagemap-scan.md §2.4,
// §3.5, §3.6, §5.3, §5.4).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstring>

#include <random>

#include "kernel/pagemap_scan.hpp"
#include "kernel/uapi.hpp"
#include "pagescan/features.hpp"
#include "pagescan/scan.hpp"
#include "support/kernel_facts.hpp"
#include "support/memory.hpp"
#include "support/scan_helpers.hpp"
#include "support/system_settings.hpp"

using namespace pagescan;
using namespace pagescan::test;

namespace {

// One raw ioctl with a buffer large enough for everything: the kernel's own answer for
// an unbounded output buffer (its regions; its walk_end may be stale, §2.4).
std::vector<PageRegion> kernel_unbounded(const ScanRequest& request, std::size_t capacity) {
  std::vector<PageRegion> out(capacity);
  RawScanArgs args = to_raw_args(request);
  args.vec = reinterpret_cast<std::uint64_t>(out.data());
  args.vec_len = out.size();
  int fd = *self_process().pagemap_fd();
  long n = kernel::pagemap_scan_ioctl(fd, args);
  EXPECT_GE(n, 0) << "raw ioctl failed: " << std::strerror(static_cast<int>(-n));
  out.resize(n < 0 ? 0 : static_cast<std::size_t>(n));
  EXPECT_LT(out.size(), capacity) << "oracle buffer too small";
  return out;
}

// The present pages of [start, end) as regions, from /proc/self/pagemap: an oracle that
// shares no code with the scanner.
std::vector<PageRegion> present_from_pagemap(std::uint64_t start, std::uint64_t end) {
  std::vector<PageRegion> out;
  const std::uint64_t page = page_size();
  int fd = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  std::vector<std::uint64_t> entries((end - start) / page);
  ssize_t got =
      ::pread(fd, entries.data(), entries.size() * 8, static_cast<off_t>(start / page * 8));
  ::close(fd);
  EXPECT_EQ(got, static_cast<ssize_t>(entries.size() * 8));
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (!(entries[i] & uapi::PM_PRESENT)) continue;
    std::uint64_t a = start + i * page;
    if (!out.empty() && out.back().end == a) {
      out.back().end += page;
    } else {
      out.push_back(PageRegion{a, a + page, Category::present});
    }
  }
  return out;
}

}  // namespace

TEST(CompleteScan, AlternatingPagesGiveOneRegionEachWhateverTheChunkSize) {
  PAGESCAN_SKIP_WITHOUT_SCAN();
  Mapping m = Mapping::anonymous(2000);
  for (std::size_t i = 0; i < m.pages(); i += 2) m.write_page(i);
  for (std::size_t chunk : {0, 1, 2, 7, 511, 512, 513, 4096}) {
    auto r = scan(self_process(), present_only(m), ScanOptions{chunk});
    ASSERT_TRUE(r) << r.error().message();
    ASSERT_EQ(r->regions.size(), 1000u) << "chunk " << chunk;
    for (std::size_t i = 0; i < 1000; ++i) {
      ASSERT_EQ(r->regions[i].start, m.page_addr(2 * i)) << "chunk " << chunk;
      ASSERT_EQ(r->regions[i].end, m.page_addr(2 * i + 1));
    }
    EXPECT_EQ(r->walk_end, m.end());
    EXPECT_EQ(r->stop_reason, StopReason::complete);
    EXPECT_EQ(r->pages, 1000u);
    EXPECT_EQ(r->region_count, 1000u);
  }
}

// The kernel's own unbounded call reports walk_end = its last internal restart point
// here (page 1024 of 2000); the complete scan reports the end.
TEST(CompleteScan, WalkEndIsNeverTheStaleRestartPoint) {
  PAGESCAN_SKIP_WITHOUT_SCAN();
  Mapping m = Mapping::anonymous(2000);
  for (std::size_t i = 0; i < m.pages(); i += 2) m.write_page(i);
  std::vector<PageRegion> out(2048);
  RawScanArgs args = to_raw_args(present_only(m));
  args.vec = reinterpret_cast<std::uint64_t>(out.data());
  args.vec_len = out.size();
  auto n = scan_raw(self_process(), args);
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_EQ(*n, 1000u);
  EXPECT_LT(args.walk_end, m.end()) << "the kernel's quirk is gone: update §2.4";

  auto r = scan(self_process(), present_only(m));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->walk_end, m.end());
  EXPECT_EQ(r->stop_reason, StopReason::complete);
}

TEST(CompleteScan, MoreThanHundredThousandRegionsMatchPagemapAndTheUnboundedKernelCall) {
  PAGESCAN_SKIP_WITHOUT_SCAN();
  const std::size_t pages = 2 * 100'003;
  Mapping m = Mapping::anonymous(pages, MAP_NORESERVE);
  ::madvise(m.data(), m.length(), MADV_NOHUGEPAGE);
  for (std::size_t i = 0; i < pages; i += 2) m.write_page(i);
  auto r = scan(self_process(), present_only(m));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->regions.size(), 100'003u);
  EXPECT_EQ(r->regions, present_from_pagemap(m.start(), m.end()));
  EXPECT_EQ(r->regions, kernel_unbounded(present_only(m), 200'000));
  EXPECT_EQ(r->stop_reason, StopReason::complete);
  EXPECT_EQ(r->walk_end, m.end());
  EXPECT_GE(r->kernel_calls, 100'003u / features().chunk_regions());
}

// Runs that straddle the kernel's 512-region chunk boundary (and any smaller chunk we
// choose) come back exactly as one unbounded call returns them: no split, no duplicate.
TEST(CompleteScan, RegionsAcrossChunkBoundariesComeBackMerged) {
  PAGESCAN_SKIP_WITHOUT_SCAN();
  Mapping m = Mapping::anonymous(6000);
  ::madvise(m.data(), m.length(), MADV_NOHUGEPAGE);
  std::mt19937 rng(20261129);
  // Runs of 1..5 written pages separated by 1..3 untouched pages: every region boundary
  // falls at a different offset relative to the chunk.
  for (std::size_t i = 0; i < m.pages();) {
    std::size_t run = 1 + rng() % 5, gap = 1 + rng() % 3;
    for (std::size_t j = i; j < std::min(i + run, m.pages()); ++j) m.write_page(j);
    i += run + gap;
  }
  auto expected = present_from_pagemap(m.start(), m.end());
  ASSERT_GT(expected.size(), 1024u);
  for (std::size_t chunk : {0, 1, 3, 100, 512}) {
    auto r = scan(self_process(), present_only(m), ScanOptions{chunk});
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->regions, expected) << "chunk " << chunk;
  }
  // return_mask 0: every match has categories 0, so contiguous matches merge across
  // written and unwritten pages alike into one region per VMA-independent run.
  auto whole = scan(self_process(), ScanRequest::over(m.start(), m.end()), ScanOptions{1});
  ASSERT_TRUE(whole);
  ASSERT_EQ(whole->regions.size(), 1u);
  EXPECT_EQ(whole->regions[0], (PageRegion{m.start(), m.end(), {}}));
}

TEST(CompleteScan, MaxPagesCutIsTheKernelsAndResumingFromWalkEndLosesNothing) {
  PAGESCAN_SKIP_WITHOUT_SCAN();
  Mapping m = Mapping::anonymous(3000);
  ::madvise(m.data(), m.length(), MADV_NOHUGEPAGE);
  for (std::size_t i = 0; i < m.pages(); i += 3) m.write_pages(i, 2);  // 2 of every 3
  auto all = present_from_pagemap(m.start(), m.end());
  for (std::uint64_t budget : {1, 2, 3, 511, 1000, 1999, 2000}) {
    std::vector<PageRegion> joined;
    ScanRequest req = present_only(m).limit_pages(budget);
    for (int round = 0;; ++round) {
      ASSERT_LT(round, 5000);
      auto r = scan(self_process(), req, ScanOptions{7});
      ASSERT_TRUE(r) << r.error().message();
      ASSERT_LE(r->pages, budget);
      for (auto& region : r->regions) {
        if (!joined.empty() && joined.back().end == region.start) {
          joined.back().end = region.end;
        } else {
          joined.push_back(region);
        }
      }
      if (r->stop_reason == StopReason::complete) {
        EXPECT_EQ(r->walk_end, m.end());
        break;
      }
      ASSERT_EQ(r->stop_reason, StopReason::max_pages);
      EXPECT_EQ(r->pages, budget);
      ASSERT_GT(r->walk_end, req.start);
      req.start = r->walk_end;
    }
    EXPECT_EQ(joined, all) << "budget " << budget;
  }
}

// When the budget runs out exactly at the end of a run, the kernel's stop address is
// the next matching page, or the end when none follows (§2.4).
TEST(CompleteScan, BudgetEndingAtARunEndStopsAtTheNextMatch) {
  PAGESCAN_SKIP_WITHOUT_SCAN();
  Mapping m = Mapping::anonymous(8);
  m.write_pages(0, 3);
  m.write_page(5);
  auto three = scan(self_process(), present_only(m).limit_pages(3));
  ASSERT_TRUE(three);
  EXPECT_EQ(three->walk_end, m.page_addr(5));
  EXPECT_EQ(three->stop_reason, StopReason::max_pages);
  auto four = scan(self_process(), present_only(m).limit_pages(4));
  ASSERT_TRUE(four);
  EXPECT_EQ(four->walk_end, m.end());
  EXPECT_EQ(four->stop_reason, StopReason::complete);
  EXPECT_EQ(four->pages, 4u);
}

TEST(CompleteScan, ResumeInsideAThpReportsTheRestOfTheHugePage) {
  PAGESCAN_SKIP_WITHOUT_SCAN();
  Mapping m = Mapping::aligned(kThpSize, kThpSize);
  PAGESCAN_REQUIRE_FACT(Fact::thp);
  ASSERT_TRUE(make_thp(m)) << "no THP although " << kernel_fact(Fact::thp).finding;
  auto req = ScanRequest::over(m.start(), m.end())
                 .all_of(Category::present)
                 .returning(Category::present | Category::huge)
                 .limit_pages(100);
  auto first = scan(self_process(), req);
  ASSERT_TRUE(first) << first.error().message();
  ASSERT_EQ(first->regions.size(), 1u);
  EXPECT_EQ(first->regions[0],
            (PageRegion{m.start(), m.page_addr(100), Category::present | Category::huge}));
  EXPECT_EQ(first->walk_end, m.page_addr(100));
  EXPECT_EQ(first->stop_reason, StopReason::max_pages);

  req.start = first->walk_end;
  req.max_pages = 0;
  auto rest = scan(self_process(), req);
  ASSERT_TRUE(rest);
  ASSERT_EQ(rest->regions.size(), 1u);
  EXPECT_EQ(rest->regions[0],
            (PageRegion{m.page_addr(100), m.end(), Category::present | Category::huge}));
  EXPECT_EQ(rest->stop_reason, StopReason::complete);
}

// Without write-protect a max_pages cut inside a hugetlb page reports the part (with
// HUGE); resuming from walk_end reports the rest (§3.5).
TEST(CompleteScan, ResumeInsideAHugetlbPageReportsTheRest) {
  PAGESCAN_SKIP_WITHOUT_SCAN();
  PAGESCAN_REQUIRE_FACT(Fact::hugetlb);
  HugetlbReservation reserve(2);
  ASSERT_TRUE(reserve.ok()) << reserve.why_not();
  auto m = Mapping::hugetlb(2 * kThpSize);
  ASSERT_TRUE(m) << "MAP_HUGETLB: " << std::strerror(errno);
  m->write_page(0);
  m->write_page(512);
  auto req = ScanRequest::over(m->start(), m->end())
                 .all_of(Category::present)
                 .returning(Category::present | Category::huge)
                 .limit_pages(700);
  auto first = scan(self_process(), req);
  ASSERT_TRUE(first) << first.error().message();
  ASSERT_EQ(first->regions.size(), 1u);
  EXPECT_EQ(first->regions[0].end, m->page_addr(700));
  EXPECT_EQ(first->walk_end, m->page_addr(700));
  req.start = first->walk_end;
  req.max_pages = 0;
  auto rest = scan(self_process(), req);
  ASSERT_TRUE(rest);
  ASSERT_EQ(rest->regions.size(), 1u);
  EXPECT_EQ(rest->regions[0],
            (PageRegion{m->page_addr(700), m->end(), Category::present | Category::huge}));
}

// Under write-protect the kernel withdraws a hugetlb page it could report only in part
// and walks on (§5.4): the complete scan neither loops on the stale mark nor loses the
// page (it stays written), and says which page was withdrawn.
TEST(CompleteScan, WithdrawnPartialHugetlbPageUnderWriteProtectIsNamed) {
  PAGESCAN_SKIP_WITHOUT_SCAN();
  PAGESCAN_REQUIRE_FACT(Fact::uffd_wp_async);
  auto wp = AsyncWp::create();
  ASSERT_TRUE(wp) << "no async uffd-wp although " << kernel_fact(Fact::uffd_wp_async).finding;
  PAGESCAN_REQUIRE_FACT(Fact::hugetlb);
  HugetlbReservation reserve(2);
  ASSERT_TRUE(reserve.ok()) << reserve.why_not();
  auto m = Mapping::hugetlb(2 * kThpSize);
  ASSERT_TRUE(m) << "MAP_HUGETLB: " << std::strerror(errno);
  wp->init(m->data(), m->length());
  m->write_page(0);
  m->write_page(512);
  auto written = ScanRequest::over(m->start(), m->end())
                     .all_of(Category::written)
                     .returning(Category::written);
  auto cut = scan(self_process(), ScanRequest(written).limit_pages(10).with_write_protect());
  ASSERT_TRUE(cut) << cut.error().message();
  EXPECT_TRUE(cut->regions.empty());
  EXPECT_NE(cut->withdrawn_hugetlb_page, 0u);
  // Nothing was protected: both pages still read as written.
  auto after = scan(self_process(), written);
  ASSERT_TRUE(after);
  ASSERT_EQ(after->regions.size(), 1u);
  EXPECT_EQ(after->regions[0], (PageRegion{m->start(), m->end(), Category::written}));
  // A whole-page request protects both.
  auto whole = scan(self_process(), ScanRequest(written).with_write_protect());
  ASSERT_TRUE(whole);
  EXPECT_EQ(whole->withdrawn_hugetlb_page, 0u);
  EXPECT_EQ(whole->pages, 1024u);
  auto none = scan(self_process(), written);
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->regions.empty());
  wp->free(m->data(), m->length());
}

TEST(CompleteScan, SixtyFourTibReservationWithAFewTouchedPages) {
  PAGESCAN_SKIP_WITHOUT_SCAN();
  const std::size_t length = std::size_t{64} << 40;
  PAGESCAN_SKIP_IF_EMULATED_HUGE_RANGE();
  std::string why;
  auto reserved = reserve_sparse(length, why);
  if (!reserved) GTEST_SKIP() << why;
  Mapping& m = *reserved;
  std::vector<std::size_t> touched = {0, 12345, 1u << 30, (length / page_size()) - 1};
  for (std::size_t i : touched) m.write_page(i);
  auto r = scan(self_process(), present_only(m));
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_EQ(r->regions.size(), touched.size());
  for (std::size_t k = 0; k < touched.size(); ++k) {
    EXPECT_EQ(r->regions[k].start, m.page_addr(touched[k]));
    EXPECT_EQ(r->regions[k].pages(page_size()), 1u);
  }
  EXPECT_EQ(r->walk_end, m.end());
}

TEST(CompleteScan, ZeroLengthRangeIsCompleteAtStart) {
  PAGESCAN_SKIP_WITHOUT_SCAN();
  Mapping m = Mapping::anonymous(4);
  m.write_pages(0, 4);
  auto r = scan(self_process(), ScanRequest::over(m.page_addr(1), m.page_addr(1)));
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->regions.empty());
  EXPECT_EQ(r->walk_end, m.page_addr(1));
  EXPECT_EQ(r->stop_reason, StopReason::complete);
}

TEST(CompleteScan, UnalignedEndIsRoundedUpLikeTheKernel) {
  PAGESCAN_SKIP_WITHOUT_SCAN();
  Mapping m = Mapping::anonymous(4);
  m.write_pages(0, 4);
  auto r =
      scan(self_process(), ScanRequest::over(m.start(), m.start() + 1).all_of(Category::present));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->regions.size(), 1u);
  EXPECT_EQ(r->regions[0].end, m.page_addr(1));
  EXPECT_EQ(r->walk_end, m.page_addr(1));
}

// With write-protect and check-wp-async, a VMA that is not async-tracked after one that
// is fails the scan with EPERM, and nothing at all was re-armed (the kernel alone would
// have protected the first VMA before failing, §2.2).
TEST(CompleteScan, CheckWpAsyncFailureLeavesNoProtectionBehind) {
  PAGESCAN_SKIP_WITHOUT_SCAN();
  PAGESCAN_REQUIRE_FACT(Fact::uffd_wp_async);
  auto wp = AsyncWp::create();
  ASSERT_TRUE(wp) << "no async uffd-wp although " << kernel_fact(Fact::uffd_wp_async).finding;
  Mapping m = Mapping::anonymous(8);
  // The first half is tracked (registration splits the VMA); the second half is not.
  wp->init(m.data(), 4 * page_size());
  m.write_pages(0, 8);
  auto req = ScanRequest::over(m.start(), m.end())
                 .all_of(Category::written)
                 .returning(Category::written)
                 .with_write_protect()
                 .with_check_wp_async();
  auto r = scan(self_process(), req);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().errno_value(), EPERM);
  EXPECT_EQ(r.error().kind(), ErrorKind::permission);
  EXPECT_NE(r.error().message().find("not registered for async"), std::string::npos)
      << r.error().message();
  // The tracked half is still written: the failed call changed nothing.
  auto still = scan(self_process(), ScanRequest::over(m.start(), m.page_addr(4))
                                        .all_of(Category::written)
                                        .returning(Category::written));
  ASSERT_TRUE(still);
  ASSERT_EQ(still->regions.size(), 1u);
  EXPECT_EQ(still->pages, 4u);
  wp->free(m.data(), 4 * page_size());
}

TEST(CompleteScan, ScanIntoReusesTheCallersVectorAndGivesTheSameAnswer) {
  PAGESCAN_SKIP_WITHOUT_SCAN();
  Mapping m = Mapping::anonymous(3000);
  ::madvise(m.data(), m.length(), MADV_NOHUGEPAGE);
  for (std::size_t i = 0; i < m.pages(); i += 2) m.write_page(i);
  auto fresh = scan(self_process(), present_only(m));
  ASSERT_TRUE(fresh);
  std::vector<PageRegion> out = {PageRegion{1, 2, {}}};  // stale content is cleared
  for (int round = 0; round < 3; ++round) {
    auto summary = scan_into(self_process(), present_only(m), out);
    ASSERT_TRUE(summary) << summary.error().message();
    EXPECT_EQ(out, fresh->regions);
    EXPECT_EQ(summary->region_count, out.size());
    EXPECT_EQ(summary->walk_end, m.end());
  }
  const PageRegion* storage = out.data();
  ASSERT_TRUE(scan_into(self_process(), present_only(m), out));
  EXPECT_EQ(out.data(), storage) << "the capacity is reused";
}
