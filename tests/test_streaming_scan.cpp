// scan_each(): the complete scan's regions delivered chunk by chunk in bounded memory.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstring>
#include <string>

#include "pagescan/features.hpp"
#include "pagescan/scan.hpp"
#include "support/memory.hpp"
#include "support/scan_helpers.hpp"

using namespace pagescan;
using namespace pagescan::test;

TEST(StreamingScan, DeliversTheCompleteScansRegionsInBoundedChunks) {
  PAGESCAN_SKIP_WITHOUT_SCAN();
  Mapping m = Mapping::anonymous(5000);
  ::madvise(m.data(), m.length(), MADV_NOHUGEPAGE);
  for (std::size_t i = 0; i < m.pages(); i += 2) m.write_page(i);
  auto whole = scan(self_process(), present_only(m.start(), m.end()));
  ASSERT_TRUE(whole);
  for (std::size_t chunk : {0, 1, 100}) {
    std::vector<PageRegion> streamed;
    std::size_t biggest = 0, calls = 0;
    auto summary = scan_each(
        self_process(), present_only(m.start(), m.end()),
        [&](std::span<const PageRegion> regions) {
          biggest = std::max(biggest, regions.size());
          ++calls;
          streamed.insert(streamed.end(), regions.begin(), regions.end());
          return true;
        },
        ScanOptions{chunk});
    ASSERT_TRUE(summary) << summary.error().message();
    EXPECT_EQ(streamed, whole->regions) << "chunk " << chunk;
    EXPECT_LE(biggest, chunk ? chunk : features().chunk_regions());
    EXPECT_EQ(summary->region_count, whole->regions.size());
    EXPECT_EQ(summary->pages, whole->pages);
    EXPECT_EQ(summary->stop_reason, StopReason::complete);
    EXPECT_EQ(summary->walk_end, m.end());
    EXPECT_GT(calls, 1u);
  }
}

// A sink that stops gets walk_end = where to resume: resuming there yields exactly the
// regions not yet delivered.
TEST(StreamingScan, StoppingEarlyGivesAResumePointThatLosesNothing) {
  PAGESCAN_SKIP_WITHOUT_SCAN();
  Mapping m = Mapping::anonymous(600);
  ::madvise(m.data(), m.length(), MADV_NOHUGEPAGE);
  for (std::size_t i = 0; i < m.pages(); i += 3) m.write_page(i);
  auto whole = scan(self_process(), present_only(m.start(), m.end()));
  ASSERT_TRUE(whole);
  std::vector<PageRegion> got;
  auto first = scan_each(
      self_process(), present_only(m.start(), m.end()),
      [&](std::span<const PageRegion> regions) {
        got.insert(got.end(), regions.begin(), regions.end());
        return got.size() < 50;
      },
      ScanOptions{16});
  ASSERT_TRUE(first);
  EXPECT_EQ(first->stop_reason, StopReason::stopped_by_caller);
  // Kernel calls of 16 regions; the last region of each is held back until the next call
  // shows it does not grow: 15, then 16 per call, so the sink stops at 63.
  EXPECT_EQ(got.size(), 63u);
  EXPECT_EQ(first->region_count, got.size());
  // Anywhere from the end of the last delivered region to the start of the next one.
  EXPECT_GE(first->walk_end, got.back().end);
  EXPECT_LE(first->walk_end, whole->regions[got.size()].start);
  auto rest = scan(self_process(), present_only(first->walk_end, m.end()));
  ASSERT_TRUE(rest);
  got.insert(got.end(), rest->regions.begin(), rest->regions.end());
  EXPECT_EQ(got, whole->regions);
}

// 64 TiB of ASan-style shadow reservation with scattered touched pages, streamed with a
// chunk of 8 regions: the memory the scan holds is one chunk, whatever the range.
TEST(StreamingScan, HugeSparseReservationInBoundedMemory) {
  PAGESCAN_SKIP_WITHOUT_SCAN();
  const std::size_t length = std::size_t{64} << 40;
  PAGESCAN_SKIP_IF_EMULATED_HUGE_RANGE();
  std::string why;
  auto reserved = reserve_sparse(length, why);
  if (!reserved) GTEST_SKIP() << why;
  Mapping& m = *reserved;
  const std::size_t stride = (length / page_size()) / 1000;
  for (std::size_t i = 0; i < 1000; ++i) m.write_page(i * stride);
  std::size_t seen = 0;
  std::uint64_t last = 0;
  auto s = scan_each(
      self_process(), present_only(m.start(), m.end()),
      [&](std::span<const PageRegion> regions) {
        for (const PageRegion& r : regions) {
          EXPECT_GT(r.start, last);
          last = r.start;
        }
        seen += regions.size();
        return true;
      },
      ScanOptions{8});
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(seen, 1000u);
  EXPECT_EQ(s->walk_end, m.end());
}

// The backends a streaming test runs on: the kernel's (skipped without PAGEMAP_SCAN) and
// the emulator.
class StreamingBackends : public testing::TestWithParam<BackendChoice> {
 protected:
  void SetUp() override {
    if (GetParam() == BackendChoice::kernel) PAGESCAN_SKIP_WITHOUT_SCAN();
  }
  ScanOptions options(std::size_t chunk) const {
    ScanOptions o;
    o.chunk_regions = chunk;
    o.backend = GetParam();
    return o;
  }
};

std::string backend_name(const testing::TestParamInfo<BackendChoice>& info) {
  return info.param == BackendChoice::kernel ? "kernel" : "emulated";
}

// Runs of present and absent pages of many lengths, every page reported (the categories
// alternate present / none), so regions meet at every chunk boundary: with small chunks
// (and page budgets cutting inside runs) the chunks, concatenated, are scan()'s answer,
// with the same summary.
TEST_P(StreamingBackends, ConcatenatedChunksEqualScanAcrossChunkBoundaries) {
  Mapping m = Mapping::anonymous(96);
  ::madvise(m.data(), m.length(), MADV_NOHUGEPAGE);
  std::size_t at = 0;
  for (std::size_t run = 1; at < m.pages(); ++run) {
    for (std::size_t i = 0; i < run && at + i < m.pages(); ++i) {
      if (run % 2) m.write_page(at + i);
    }
    at += run;
  }
  const ScanRequest requests[] = {
      ScanRequest::over(m.start(), m.end()).returning(Category::present),
      present_only(m),
  };
  for (const ScanRequest& base : requests) {
    for (std::uint64_t budget : {0, 1, 10, 37}) {
      ScanRequest request = base;
      request.limit_pages(budget);
      for (std::size_t chunk : {1, 2, 3, 5, 7}) {
        SCOPED_TRACE("return mask " + std::to_string(request.return_mask.bits()) + ", max_pages " +
                     std::to_string(budget) + ", chunk " + std::to_string(chunk));
        auto whole = scan(self_process(), request, options(chunk));
        ASSERT_TRUE(whole) << whole.error().message();
        std::vector<PageRegion> streamed;
        std::size_t biggest = 0;
        auto summary = scan_each(
            self_process(), request,
            [&](std::span<const PageRegion> regions) {
              biggest = std::max(biggest, regions.size());
              streamed.insert(streamed.end(), regions.begin(), regions.end());
              return true;
            },
            options(chunk));
        ASSERT_TRUE(summary) << summary.error().message();
        EXPECT_EQ(streamed, whole->regions);
        EXPECT_LE(biggest, chunk);
        EXPECT_EQ(summary->region_count, whole->regions.size());
        EXPECT_EQ(summary->pages, whole->pages);
        EXPECT_EQ(summary->walk_end, whole->walk_end);
        EXPECT_EQ(summary->stop_reason, whole->stop_reason);
      }
    }
  }
}

// Memory that changes between two kernel calls: a call stops at a full buffer, the region
// after its last one is unmapped-to-absent before the next call, and the next call's first
// region continues the held-back one. scan_each delivers one region for the run, as
// scan() over the final memory does; delivered unjoined it would be two.
TEST_P(StreamingBackends, RunThatGrowsBetweenCallsArrivesAsOneRegion) {
  Mapping m = Mapping::anonymous(16);
  ::madvise(m.data(), m.length(), MADV_NOHUGEPAGE);
  for (std::size_t i = 0; i < m.pages(); i += 2) m.write_page(i);
  // Every page, present or not: [p0 present] [p1] [p2 present] [p3] | [p4 present] ...
  const ScanRequest request = ScanRequest::over(m.start(), m.end()).returning(Category::present);
  std::vector<PageRegion> streamed;
  bool changed = false;
  auto summary = scan_each(
      self_process(), request,
      [&](std::span<const PageRegion> regions) {
        streamed.insert(streamed.end(), regions.begin(), regions.end());
        if (!changed) {
          // The first call stopped at page 4 (no slot for a fifth region).
          changed = true;
          EXPECT_EQ(::madvise(m.page(4), page_size(), MADV_DONTNEED), 0);
        }
        return true;
      },
      options(4));
  ASSERT_TRUE(summary) << summary.error().message();
  ASSERT_TRUE(changed);
  auto now = scan(self_process(), request, options(0));
  ASSERT_TRUE(now) << now.error().message();
  ASSERT_GT(now->regions.size(), 3u);
  EXPECT_EQ(now->regions[3], (PageRegion{m.page_addr(3), m.page_addr(6), Categories{}}))
      << "page 4 did not become absent";
  EXPECT_EQ(streamed, now->regions);
  EXPECT_EQ(summary->region_count, now->regions.size());
}

INSTANTIATE_TEST_SUITE_P(Backends, StreamingBackends,
                         testing::Values(BackendChoice::kernel, BackendChoice::emulated),
                         backend_name);
