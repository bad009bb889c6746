// Port of sanity_tests_sd() from the kernel selftest pagemap_ioctl.c (kernel-pagemap-scan.md
// §7): the 35 checks of argument validation, write-protect harvesting and walk_end, run
// against pagescan. Checks that pin one kernel call's exact count, buffer use or walk_end
// go through scan_raw(); the complete-scan checks through scan(), which must give what one
// call with an unbounded buffer gives, without the stale walk_end (§2.4).
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "pagescan/scan.hpp"
#include "support/conformance.hpp"
#include "support/memory.hpp"

using namespace pagescan;
using namespace pagescan::test;

namespace {

constexpr Categories kW = Category::written;

// The regions of a complete WRITTEN scan when every other page, from page 0, is written.
std::vector<PageRegion> even_pages(const Mapping& m, std::size_t first, std::size_t count,
                                   Categories categories = kW) {
  std::vector<PageRegion> out;
  for (std::size_t i = 0; i < count; ++i) out.push_back(region_of(m, first + 2 * i, 1, categories));
  return out;
}

ScanRequest written_request(std::uint64_t start, std::uint64_t end) {
  return ScanRequest::over(start, end).all_of(kW).returning(kW);
}

ScanRequest wpc_request(std::uint64_t start, std::uint64_t end, std::uint64_t max_pages = 0) {
  return written_request(start, end)
      .limit_pages(max_pages)
      .with_write_protect()
      .with_check_wp_async();
}

}  // namespace

class SanityTestsSd : public PagemapIoctlTest {
 protected:
  static constexpr std::size_t kPages = 1000;
  static constexpr std::size_t kVecSize = kPages / 2;

  // The selftest's starting point: 1000 anonymous pages, registered and write-protected.
  void SetUp() override {
    PagemapIoctlTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    mem_ = Mapping::anonymous(kPages);
    ASSERT_NO_FATAL_FAILURE(track(mem_));
  }

  // The argument checks all share the selftest's buffer of 500 regions.
  RawScanArgs on_mem(std::uint64_t flags, std::uint64_t category_mask, std::uint64_t anyof_mask,
                     std::uint64_t inverted, std::uint64_t return_mask) const {
    RawScanArgs a;
    a.flags = flags;
    a.start = mem_.start();
    a.end = mem_.end();
    a.vec = addr(vec_.data());
    a.vec_len = kVecSize;
    a.category_inverted = inverted;
    a.category_mask = category_mask;
    a.category_anyof_mask = anyof_mask;
    a.return_mask = return_mask;
    return a;
  }

  // The walk_end checks: all 1000 pages written (memset in the selftest) ...
  void write_all() { mem_.write_pages(0, kPages); }
  // ... then re-protected and every other page written again.
  void write_every_other() {
    write_all();
    ASSERT_TRUE(wp_addr_range(mem_.start(), mem_.length()));
    for (std::size_t i = 0; i < kPages; i += 2) mem_.write_page(i, 2);
  }

  struct WalkEndCase {
    std::size_t range_pages;  // the range is [mem, mem + range_pages)
    std::size_t vec_len;
    std::uint64_t flags;
    std::uint64_t max_pages;
    // The selftest's expectation for the one call.
    std::size_t count;
    std::size_t walk_end_page;
    // The complete scan() of the same request.
    std::vector<PageRegion> complete;
    std::size_t complete_walk_end_page;
    StopReason stop;
  };

  // One raw call must give the selftest's count and walk_end, with regions that start
  // the complete answer and no entry written past the count; scan() of the same request
  // must give the complete answer and the kernel's non-stale walk_end.
  void expect_walk_end(const WalkEndCase& c) {
    std::vector<PageRegion> vec(c.vec_len + 1, kSentinel);
    RawScanArgs a;
    a.flags = c.flags;
    a.start = mem_.start();
    a.end = mem_.page_addr(c.range_pages);
    a.vec = addr(vec.data());
    a.vec_len = c.vec_len;
    a.max_pages = c.max_pages;
    a.category_mask = kWritten;
    a.return_mask = kWritten;
    auto n = scan_raw(self_process(), a);
    ASSERT_TRUE(n) << n.error().message();
    EXPECT_EQ(*n, c.count);
    EXPECT_EQ(a.walk_end, mem_.page_addr(c.walk_end_page))
        << "walk_end is page " << (a.walk_end - mem_.start()) / page_size();
    ASSERT_LE(*n, c.complete.size());
    for (std::size_t i = 0; i < *n; ++i) EXPECT_EQ(vec[i], c.complete[i]) << "vec[" << i << "]";
    for (std::size_t i = *n; i < vec.size(); ++i)
      EXPECT_EQ(vec[i], kSentinel) << "vec[" << i << "]";

    // Whatever the chunk scan() passes to the kernel (its default, or small ones that make
    // it resume from walk_end many times), the answer is the same. None of these requests
    // write-protects a written page, so repeating them changes nothing.
    ScanRequest r = written_request(a.start, a.end)
                        .limit_pages(c.max_pages)
                        .with_write_protect(c.flags & RawScanArgs::kWpMatching)
                        .with_check_wp_async(c.flags & RawScanArgs::kCheckWpAsync);
    for (std::size_t chunk : {0, 1, 7, 512}) {
      SCOPED_TRACE("scan() with chunk_regions " + std::to_string(chunk));
      auto full = scan(self_process(), r, ScanOptions{chunk});
      ASSERT_TRUE(full) << full.error().message();
      EXPECT_EQ(full->regions, c.complete);
      EXPECT_EQ(full->walk_end, mem_.page_addr(c.complete_walk_end_page))
          << "walk_end is page " << (full->walk_end - mem_.start()) / page_size();
      EXPECT_EQ(full->stop_reason, c.stop);
    }
  }

  // A request with unknown category bits is a ScanRequest too: scan() must refuse it
  // with the kernel's errno before issuing any call (its write-protect included).
  void expect_scan_rejects(const RawScanArgs& a, int expected_errno) {
    ScanRequest r = ScanRequest::over(a.start, a.end);
    r.category_mask = Categories::from_bits(a.category_mask);
    r.category_anyof_mask = Categories::from_bits(a.category_anyof_mask);
    r.category_inverted = Categories::from_bits(a.category_inverted);
    r.return_mask = Categories::from_bits(a.return_mask);
    r.write_protect = a.flags & RawScanArgs::kWpMatching;
    r.check_wp_async = a.flags & RawScanArgs::kCheckWpAsync;
    auto got = scan(self_process(), r);
    ASSERT_FALSE(got) << "scan() accepted a request the kernel rejects";
    EXPECT_EQ(got.error().errno_value(), expected_errno) << got.error().message();
    EXPECT_EQ(got.error().kind(), ErrorKind::invalid_argument);
  }

  Mapping mem_;
  std::vector<PageRegion> vec_ = std::vector<PageRegion>(kVecSize);
};

// --- 1. Argument checks: what the kernel rejects, we reject with its errno. ---

TEST_F(SanityTestsSd, ZeroLengthRangeReturnsZero) {
  RawScanArgs a = on_mem(0, kBitsAll, 0, 0, kBitsAll);
  a.end = a.start;
  RawAnswer got;
  ASSERT_TRUE(accepted_like_kernel(a, &got));
  EXPECT_EQ(got.count, 0u);
  EXPECT_EQ(got.walk_end, mem_.start());  // §2.1: start == end gives walk_end = end
}

TEST_F(SanityTestsSd, NullVecWithLengthIsRejected) {
  RawScanArgs a = on_mem(0, kBitsAll, 0, 0, kBitsAll);
  a.vec = 0;
  EXPECT_TRUE(rejected_like_kernel(a, EINVAL));
}

TEST_F(SanityTestsSd, VecWithZeroLengthReturnsZero) {
  RawScanArgs a = on_mem(0, kBitsAll, 0, 0, kBitsAll);
  a.vec_len = 0;
  RawAnswer got;
  ASSERT_TRUE(accepted_like_kernel(a, &got));
  EXPECT_EQ(got.count, 0u);
}

TEST_F(SanityTestsSd, NullVecWithZeroLengthReturnsZero) {
  RawScanArgs a = on_mem(0, kBitsAll, 0, 0, kBitsAll);
  a.vec = 0;
  a.vec_len = 0;
  RawAnswer got;
  ASSERT_TRUE(accepted_like_kernel(a, &got));
  EXPECT_EQ(got.count, 0u);
  EXPECT_EQ(got.walk_end, mem_.end());
}

TEST_F(SanityTestsSd, AllFlagBitsAreRejected) {
  // The selftest passes flags as int -1, which the __u64 field sign-extends.
  RawScanArgs a = on_mem(~std::uint64_t{0}, kWritten, 0, 0, kWritten);
  EXPECT_TRUE(rejected_like_kernel(a, EINVAL));
}

TEST_F(SanityTestsSd, ExtraFlagBitsAreRejected) {
  RawScanArgs a = on_mem(kWpc | 0xff, kWritten, 0, 0, kWritten);
  EXPECT_TRUE(rejected_like_kernel(a, EINVAL));
}

TEST_F(SanityTestsSd, NoSelectionMaskIsAccepted) {
  RawScanArgs a = on_mem(0, 0, 0, 0, kWritten);
  RawAnswer got;
  ASSERT_TRUE(accepted_like_kernel(a, &got));
  // Empty masks match every page (§2.1); none is written yet, so all merge into one
  // region whose masked categories are empty.
  ASSERT_EQ(got.count, 1u);
  EXPECT_EQ(got.regions[0], region_of(mem_, 0, kPages, {}));
}

TEST_F(SanityTestsSd, NoReturnMaskReturnsZero) {
  RawScanArgs a = on_mem(0, kWritten, kWritten, 0, 0);
  RawAnswer got;
  ASSERT_TRUE(accepted_like_kernel(a, &got));
  EXPECT_EQ(got.count, 0u);  // nothing written since the write-protect
}

TEST_F(SanityTestsSd, UnknownReturnMaskBitIsRejected) {
  RawScanArgs a = on_mem(0, kWritten, 0, 0, 0x1000);
  EXPECT_TRUE(rejected_like_kernel(a, EINVAL));
  expect_scan_rejects(a, EINVAL);
}

TEST_F(SanityTestsSd, UnknownCategoryMaskBitsWithWpcAreRejected) {
  RawScanArgs a = on_mem(kWpc, 0xfff, kWritten, 0, kWritten);
  EXPECT_TRUE(rejected_like_kernel(a, EINVAL));
  expect_scan_rejects(a, EINVAL);
}

TEST_F(SanityTestsSd, InvertedAllWithWpcIsAccepted) {
  // category_inverted alone selects nothing (§3.1): every page matches, none is written,
  // so the WP changes nothing and both calls see the same memory.
  RawScanArgs a = on_mem(kWpc, 0, 0, kBitsAll, kWritten);
  RawAnswer got;
  ASSERT_TRUE(accepted_like_kernel(a, &got));
  ASSERT_EQ(got.count, 1u);
  EXPECT_EQ(got.regions[0], region_of(mem_, 0, kPages, {}));
}

// --- 2.-9. Harvesting written pages. ---

TEST_F(SanityTestsSd, ClearAreaWithLargerVecSize) {
  auto r = scan(self_process(), wpc_request(mem_.start(), mem_.end()));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(r->regions.empty());
  EXPECT_EQ(r->walk_end, mem_.end());
}

TEST_F(SanityTestsSd, RepeatedPatternOfWrittenAndNonWrittenPages) {
  for (std::size_t i = 0; i < kPages; i += 2) mem_.write_page(i);
  RawScanArgs a = on_mem(0, kWritten, 0, 0, kWritten);
  auto n = scan_raw(self_process(), a);
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_EQ(*n, kPages / 2);

  auto r = scan(self_process(), written_request(mem_.start(), mem_.end()));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->regions, even_pages(mem_, 0, kPages / 2));
}

TEST_F(SanityTestsSd, RepeatedPatternInPartsMaxPages498ThenVec2) {
  for (std::size_t i = 0; i < kPages; i += 2) mem_.write_page(i);

  auto first = scan(self_process(), wpc_request(mem_.start(), mem_.end(), kPages / 2 - 2));
  ASSERT_TRUE(first) << first.error().message();
  EXPECT_EQ(first->regions, even_pages(mem_, 0, 498));
  EXPECT_EQ(first->stop_reason, StopReason::max_pages);
  EXPECT_EQ(first->walk_end, mem_.page_addr(996));  // the next matching page (§2.4)

  RawScanArgs a = on_mem(0, kWritten, 0, 0, kWritten);
  a.vec_len = 2;
  auto second = scan_raw(self_process(), a);
  ASSERT_TRUE(second) << second.error().message();
  ASSERT_EQ(*second, 2u);
  EXPECT_EQ(vec_[0], region_of(mem_, 996, 1, kW));
  EXPECT_EQ(vec_[1], region_of(mem_, 998, 1, kW));

  auto third = scan(self_process(), wpc_request(mem_.start(), mem_.end()));
  ASSERT_TRUE(third) << third.error().message();
  EXPECT_EQ(third->regions, even_pages(mem_, 996, 2));
  EXPECT_EQ(first->regions.size() + third->regions.size(), kPages / 2);
}

TEST_F(SanityTestsSd, RepeatedPatternPlusLastPageMaxPages500) {
  // 501 written pages in 500 regions: the last region is pages 998-999.
  for (std::size_t i = 0; i < kPages; i += 2) mem_.write_page(i);
  mem_.write_page(kPages - 1);

  auto first = scan(self_process(), wpc_request(mem_.start(), mem_.end(), kPages / 2));
  ASSERT_TRUE(first) << first.error().message();
  EXPECT_EQ(first->regions, even_pages(mem_, 0, 500));  // the budget cuts 998-999 at 998
  EXPECT_EQ(first->stop_reason, StopReason::max_pages);
  EXPECT_EQ(first->walk_end, mem_.page_addr(999));

  auto second = scan(self_process(), wpc_request(mem_.start(), mem_.end()));
  ASSERT_TRUE(second) << second.error().message();
  ASSERT_EQ(second->regions.size(), 1u);
  EXPECT_EQ(second->regions[0], region_of(mem_, 999, 1, kW));
}

TEST_F(SanityTestsSd, OnlyGetTwoWrittenPagesAndClearThem) {
  write_all();
  RawScanArgs a = on_mem(kWpc, kWritten, 0, 0, kWritten);
  a.start = mem_.page_addr(1);
  a.end = mem_.page_addr(3);
  a.vec_len = 1;
  a.max_pages = 2;
  auto n = scan_raw(self_process(), a);
  ASSERT_TRUE(n) << n.error().message();
  ASSERT_EQ(*n, 1u);
  EXPECT_EQ(vec_[0], region_of(mem_, 1, 2, kW));

  auto r = scan(self_process(), written_request(mem_.start(), mem_.end()));
  ASSERT_TRUE(r) << r.error().message();
  std::vector<PageRegion> expected{region_of(mem_, 0, 1, kW), region_of(mem_, 3, kPages - 3, kW)};
  EXPECT_EQ(r->regions, expected);
}

TEST_F(SanityTestsSd, TwoRegions) {
  Mapping other = Mapping::anonymous(kPages);
  ASSERT_NO_FATAL_FAILURE(track(other));
  write_all();
  other.write_pages(0, kPages, 'b');
  ASSERT_TRUE(wp_addr_range(mem_.start(), mem_.length()));

  RawScanArgs a = on_mem(0, kWritten, 0, 0, kWritten);
  a.start = other.start();
  a.end = other.end();
  a.vec_len = 1;
  auto n = scan_raw(self_process(), a);
  ASSERT_TRUE(n) << n.error().message();
  ASSERT_EQ(*n, 1u);
  EXPECT_EQ(vec_[0], region_of(other, 0, kPages, kW));

  auto first = scan(self_process(), written_request(mem_.start(), mem_.end()));
  ASSERT_TRUE(first) << first.error().message();
  EXPECT_TRUE(first->regions.empty()) << "the write-protected mapping still shows written pages";
  auto second = scan(self_process(), written_request(other.start(), other.end()));
  ASSERT_TRUE(second) << second.error().message();
  EXPECT_EQ(second->regions, std::vector<PageRegion>{region_of(other, 0, kPages, kW)});
}

TEST_F(SanityTestsSd, SmallerMaxPages) {
  // 1050 pages, every other one written: 525 one-page regions, harvested 210 at a time.
  Mapping m = Mapping::anonymous(1050);
  ASSERT_NO_FATAL_FAILURE(track(m));
  auto clear = scan(self_process(), wpc_request(m.start(), m.end()));
  ASSERT_TRUE(clear) << clear.error().message();
  EXPECT_TRUE(clear->regions.empty());
  for (std::size_t i = 0; i < m.pages(); i += 2) m.write_page(i);

  const std::size_t max_pages = m.pages() / 5;  // 210
  std::size_t total = 0;
  const std::size_t expected_counts[] = {210, 210, 105};
  for (std::size_t call = 0; call < 3; ++call) {
    SCOPED_TRACE("call " + std::to_string(call + 1));
    auto r = scan(self_process(), wpc_request(m.start(), m.end(), max_pages));
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->regions, even_pages(m, 2 * total, expected_counts[call]));
    total += r->regions.size();
    // Stopped by the budget at the next written page, except after the last one.
    EXPECT_EQ(r->walk_end, call < 2 ? m.page_addr(2 * total) : m.end());
  }
  EXPECT_EQ(total, m.pages() / 2);
}

TEST_F(SanityTestsSd, SmallerVecRandomWritesDrainedFromWalkEnd) {
  // 100 rounds of random writes over 10000 pages, each drained by resuming a 50-entry
  // WPC scan from walk_end until every write was read back. With vec_len below the
  // kernel's chunk there is no internal restart, so walk_end is the start of the first
  // region that did not fit (§2.4) and nothing is read twice or skipped.
  constexpr std::size_t kMemPages = 10000;
  constexpr std::size_t kVec = 50;
  constexpr int kIterations = 100;
  constexpr std::uint32_t kSeed = 0x5ca11ed;
  Mapping m = Mapping::anonymous(kMemPages);
  ASSERT_NO_FATAL_FAILURE(track(m));
  std::mt19937 rng(kSeed);
  std::bernoulli_distribution coin(0.5);
  std::vector<PageRegion> vec(kVec);

  for (int iteration = 0; iteration < kIterations; ++iteration) {
    SCOPED_TRACE("seed " + std::to_string(kSeed) + ", iteration " + std::to_string(iteration));
    std::vector<bool> written(kMemPages);
    std::vector<bool> read(kMemPages);
    std::size_t writes = 0;
    for (std::size_t i = 0; i < kMemPages; ++i) {
      if (coin(rng)) {
        m.write_page(i, static_cast<char>(iteration));
        written[i] = true;
        ++writes;
      }
    }
    std::size_t reads = 0;
    std::uint64_t walk_end = m.start();
    for (std::size_t calls = 0; reads < writes; ++calls) {
      ASSERT_LT(walk_end, m.end()) << reads << " of " << writes << " writes read";
      ASSERT_LT(calls, kMemPages) << "no progress";
      RawScanArgs a;
      a.flags = kWpc;
      a.start = walk_end;
      a.end = m.end();
      a.vec = addr(vec.data());
      a.vec_len = kVec;
      a.category_mask = kWritten;
      a.return_mask = kWritten;
      auto n = scan_raw(self_process(), a);
      ASSERT_TRUE(n) << n.error().message();
      ASSERT_LE(*n, kVec);
      for (std::size_t j = 0; j < *n; ++j) {
        for (std::uint64_t p = vec[j].start; p < vec[j].end; p += page_size()) {
          std::size_t page = (p - m.start()) / page_size();
          ASSERT_TRUE(written[page]) << "page " << page << " reported but not written";
          ASSERT_FALSE(read[page]) << "page " << page << " reported twice";
          read[page] = true;
          ++reads;
        }
      }
      walk_end = a.walk_end;
    }
    ASSERT_EQ(reads, writes);
  }
}

// --- 10. walk_end of single calls, and scan() of the same request. ---

TEST_F(SanityTestsSd, WalkEndZeroLengthRange) {
  write_all();
  expect_walk_end({0, kPages, 0, 0, 0, 0, {}, 0, StopReason::complete});
}

TEST_F(SanityTestsSd, WalkEndZeroLengthRangeWithWp) {
  write_all();
  expect_walk_end({0, kPages, kWpc, 0, 0, 0, {}, 0, StopReason::complete});
}

TEST_F(SanityTestsSd, WalkEndZeroLengthRangeWithWpAndNoBuffer) {
  write_all();
  expect_walk_end({0, 0, kWpc, 0, 0, 0, {}, 0, StopReason::complete});
}

TEST_F(SanityTestsSd, WalkEndBigVec) {
  write_all();
  expect_walk_end({kPages,
                   kPages,
                   0,
                   0,
                   1,
                   kPages,
                   {region_of(mem_, 0, kPages, kW)},
                   kPages,
                   StopReason::complete});
}

TEST_F(SanityTestsSd, WalkEndVec1) {
  write_all();
  expect_walk_end(
      {kPages, 1, 0, 0, 1, kPages, {region_of(mem_, 0, kPages, kW)}, kPages, StopReason::complete});
}

TEST_F(SanityTestsSd, WalkEndVec1Max1000) {
  // The budget runs out exactly at the end of the only run and nothing follows: end.
  write_all();
  expect_walk_end({kPages,
                   1,
                   0,
                   kPages,
                   1,
                   kPages,
                   {region_of(mem_, 0, kPages, kW)},
                   kPages,
                   StopReason::complete});
}

TEST_F(SanityTestsSd, WalkEndMax500) {
  write_all();
  expect_walk_end({kPages,
                   kPages,
                   0,
                   kPages / 2,
                   1,
                   kPages / 2,
                   {region_of(mem_, 0, kPages / 2, kW)},
                   kPages / 2,
                   StopReason::max_pages});
}

TEST_F(SanityTestsSd, WalkEndMax1) {
  write_all();
  expect_walk_end(
      {kPages, kPages, 0, 1, 1, 1, {region_of(mem_, 0, 1, kW)}, 1, StopReason::max_pages});
}

TEST_F(SanityTestsSd, WalkEndMaxUlong) {
  // The selftest passes max_pages as int -1: the largest budget, never reached.
  write_all();
  expect_walk_end({kPages,
                   kPages,
                   0,
                   std::numeric_limits<std::uint64_t>::max(),
                   1,
                   kPages,
                   {region_of(mem_, 0, kPages, kW)},
                   kPages,
                   StopReason::complete});
}

TEST_F(SanityTestsSd, WalkEndEveryOtherPageBigVec) {
  ASSERT_NO_FATAL_FAILURE(write_every_other());
  expect_walk_end({kPages, kPages, 0, 0, kPages / 2, kPages, even_pages(mem_, 0, kPages / 2),
                   kPages, StopReason::complete});
}

TEST_F(SanityTestsSd, WalkEndEveryOtherPageVec1) {
  // The buffer is full when the second region starts: walk_end is that region's start.
  ASSERT_NO_FATAL_FAILURE(write_every_other());
  expect_walk_end(
      {kPages, 1, 0, 0, 1, 2, even_pages(mem_, 0, kPages / 2), kPages, StopReason::complete});
}

TEST_F(SanityTestsSd, WalkEndEveryOtherPageVec1Max1000) {
  ASSERT_NO_FATAL_FAILURE(write_every_other());
  expect_walk_end(
      {kPages, 1, 0, kPages, 1, 2, even_pages(mem_, 0, kPages / 2), kPages, StopReason::complete});
}

TEST_F(SanityTestsSd, WalkEndEveryOtherPageVec500Max1000) {
  ASSERT_NO_FATAL_FAILURE(write_every_other());
  expect_walk_end({kPages, kPages / 2, 0, kPages, kPages / 2, kPages,
                   even_pages(mem_, 0, kPages / 2), kPages, StopReason::complete});
}

TEST_F(SanityTestsSd, WalkEndEveryOtherPageVec1000Max1000) {
  ASSERT_NO_FATAL_FAILURE(write_every_other());
  expect_walk_end({kPages, kPages, 0, kPages, kPages / 2, kPages, even_pages(mem_, 0, kPages / 2),
                   kPages, StopReason::complete});
}

TEST_F(SanityTestsSd, WalkEndEveryOtherPageMax500) {
  // The budget runs out with the last written page and no page matches after it: end.
  ASSERT_NO_FATAL_FAILURE(write_every_other());
  expect_walk_end({kPages, kPages, 0, kPages / 2, kPages / 2, kPages,
                   even_pages(mem_, 0, kPages / 2), kPages, StopReason::complete});
}

TEST_F(SanityTestsSd, WalkEndEveryOtherPageMax1) {
  // The budget runs out after page 0; the next matching page (2) is where to resume.
  ASSERT_NO_FATAL_FAILURE(write_every_other());
  expect_walk_end({kPages, kPages, 0, 1, 1, 2, even_pages(mem_, 0, 1), 2, StopReason::max_pages});
}
