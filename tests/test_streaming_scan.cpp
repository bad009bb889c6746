// scan_each(): the complete scan's regions delivered chunk by chunk in bounded memory.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstring>

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
  EXPECT_EQ(got.size(), 64u);  // four chunks of 16
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
