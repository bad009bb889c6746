// The soft-dirty write-tracking engine on the real kernel: availability by the functional
// probe, per-page reports, and the process-wide clear_refs shared fairly between watches.
// Where the kernel lacks soft-dirty every behaviour test skips with the probe's reason.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "pagescan/features.hpp"
#include "pagescan/watch.hpp"
#include "support/kernel_facts.hpp"
#include "support/memory.hpp"
#include "support/watch_helpers.hpp"

using namespace pagescan;
using namespace pagescan::test;

namespace {

constexpr WatchOptions kSoftDirty{.engine = WatchEngine::soft_dirty};

PageRange pages(const Mapping& m, std::size_t first, std::size_t count) {
  return PageRange{m.page_addr(first), m.page_addr(first + count)};
}

Result<WriteWatch> watch(const Mapping& m) {
  return WriteWatch::create(m.data(), m.length(), kSoftDirty);
}

class SoftDirtyWatch : public testing::Test {
 protected:
  void SetUp() override {
    // Soft-dirty works here, so the engine's self-test must pass too.
    PAGESCAN_SKIP_UNLESS_ENGINE(WatchEngine::soft_dirty);
  }
};

}  // namespace

// The mirror of every other test here: runs only where soft-dirty is missing.
TEST(SoftDirtyAvailability, MissingSoftDirtyIsReportedUnsupportedWithTheProbesReason) {
  if (kernel_has(Fact::soft_dirty)) {
    GTEST_SKIP() << "soft-dirty works here: " << kernel_fact(Fact::soft_dirty).finding;
  }
  const Features& f = features();  // the library's reason, which its errors must quote
  ASSERT_FALSE(f.soft_dirty_detail.empty());
  Mapping m = Mapping::anonymous(2);
  auto w = watch(m);
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().kind(), ErrorKind::unsupported);
  EXPECT_EQ(w.error().errno_value(), EOPNOTSUPP);
  EXPECT_NE(w.error().message().find(f.soft_dirty_detail), std::string::npos)
      << w.error().message();
  auto available = watch_engine_available(WatchEngine::soft_dirty);
  ASSERT_FALSE(available);
  EXPECT_NE(available.error().message().find(f.soft_dirty_detail), std::string::npos)
      << available.error().message();
}

// A fresh mapping carries VM_SOFTDIRTY (every page reads dirty); arming clears it.
TEST_F(SoftDirtyWatch, FreshMappingReportsNothingUntilWritten) {
  Mapping m = Mapping::anonymous(8);
  m.write_pages(0, 4);
  auto w = watch(m);
  ASSERT_TRUE(w) << w.error().message();
  EXPECT_EQ(w->engine(), WatchEngine::soft_dirty);
  auto h = w->collect(m.data(), m.length());
  ASSERT_TRUE(h) << h.error().message();
  EXPECT_TRUE(h->ranges.empty());
}

TEST_F(SoftDirtyWatch, WrittenPagesAreReportedAscendingThenRearmed) {
  Mapping m = Mapping::anonymous(8);
  auto w = watch(m);
  ASSERT_TRUE(w) << w.error().message();
  m.write_page(6);
  m.write_page(2);
  m.write_page(3);
  auto h = w->collect(m.data(), m.length());
  ASSERT_TRUE(h) << h.error().message();
  EXPECT_TRUE(well_formed(*h, m.start(), m.end()));
  EXPECT_EQ(h->ranges, (std::vector<PageRange>{pages(m, 2, 2), pages(m, 6, 1)}));
  EXPECT_FALSE(h->more);
  auto again = w->collect(m.data(), m.length());
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_TRUE(again->ranges.empty());
}

TEST_F(SoftDirtyWatch, MaxPagesReportsTheRestNextTime) {
  Mapping m = Mapping::anonymous(10);
  auto w = watch(m);
  ASSERT_TRUE(w) << w.error().message();
  m.write_pages(0, 10);
  auto first = w->collect(m.data(), m.length(), CollectOptions{.max_pages = 3});
  ASSERT_TRUE(first) << first.error().message();
  EXPECT_EQ(first->ranges, std::vector<PageRange>{pages(m, 0, 3)});
  EXPECT_TRUE(first->more);
  auto rest = w->collect(m.data(), m.length());
  ASSERT_TRUE(rest) << rest.error().message();
  EXPECT_EQ(rest->ranges, std::vector<PageRange>{pages(m, 3, 7)});
  EXPECT_FALSE(rest->more);
}

TEST_F(SoftDirtyWatch, SubRangeResetRearmsOnlyThatRange) {
  Mapping m = Mapping::anonymous(8);
  auto w = watch(m);
  ASSERT_TRUE(w) << w.error().message();
  m.write_pages(0, 8);
  ASSERT_TRUE(w->reset(m.page(2), 3 * page_size()));
  m.write_page(3);
  auto h = w->collect(m.data(), m.length());
  ASSERT_TRUE(h) << h.error().message();
  EXPECT_EQ(h->ranges, (std::vector<PageRange>{pages(m, 0, 2), pages(m, 3, 1), pages(m, 5, 3)}));
}

TEST_F(SoftDirtyWatch, SubRangeCollectKeepsTheRestOfTheWatch) {
  Mapping m = Mapping::anonymous(8);
  auto w = watch(m);
  ASSERT_TRUE(w) << w.error().message();
  m.write_pages(0, 8);
  auto mid = w->collect(m.page(2), 3 * page_size());
  ASSERT_TRUE(mid) << mid.error().message();
  EXPECT_EQ(mid->ranges, std::vector<PageRange>{pages(m, 2, 3)});
  auto all = w->collect(m.data(), m.length());
  ASSERT_TRUE(all) << all.error().message();
  EXPECT_EQ(all->ranges, (std::vector<PageRange>{pages(m, 0, 2), pages(m, 5, 3)}));
}

TEST_F(SoftDirtyWatch, FoldBackReportsTheHarvestAgain) {
  Mapping m = Mapping::anonymous(6);
  auto w = watch(m);
  ASSERT_TRUE(w) << w.error().message();
  m.write_page(1);
  m.write_page(4);
  auto h = w->collect(m.data(), m.length());
  ASSERT_TRUE(h) << h.error().message();
  ASSERT_EQ(h->pages, 2u);
  ASSERT_TRUE(w->fold_back(*h));
  auto again = w->collect(m.data(), m.length());
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(again->ranges, h->ranges);
}

// The kernel's write through read(2) sets soft-dirty by itself: no helper needed.
TEST_F(SoftDirtyWatch, KernelWriteIsReported) {
  Mapping m = Mapping::anonymous(4);
  auto w = watch(m);
  ASSERT_TRUE(w) << w.error().message();
  ASSERT_TRUE(w->prepare_for_kernel_write(m.page(1), 1));  // a no-op here
  auto none = w->collect(m.data(), m.length());
  ASSERT_TRUE(none) << none.error().message();
  EXPECT_TRUE(none->ranges.empty());
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  ASSERT_EQ(::write(fds[1], "k", 1), 1);
  EXPECT_EQ(::read(fds[0], m.page(2), 1), 1);
  ::close(fds[0]);
  ::close(fds[1]);
  auto h = w->collect(m.data(), m.length());
  ASSERT_TRUE(h) << h.error().message();
  EXPECT_EQ(h->ranges, std::vector<PageRange>{pages(m, 2, 1)});
}

// clear_refs resets the whole process: one watch's collect, reset or creation must not
// cost another watch its written pages.
TEST_F(SoftDirtyWatch, OneWatchsClearKeepsAnotherWatchsWrites) {
  Mapping a = Mapping::anonymous(4), b = Mapping::anonymous(4);
  auto wa = watch(a);
  ASSERT_TRUE(wa) << wa.error().message();
  auto wb = watch(b);
  ASSERT_TRUE(wb) << wb.error().message();
  b.write_page(2);
  a.write_page(1);
  auto ha = wa->collect(a.data(), a.length());  // clears the process
  ASSERT_TRUE(ha) << ha.error().message();
  EXPECT_EQ(ha->ranges, std::vector<PageRange>{pages(a, 1, 1)});
  ASSERT_TRUE(wa->reset(a.data(), a.length()));  // clears again
  Mapping c = Mapping::anonymous(2);
  auto wc = watch(c);  // and again
  ASSERT_TRUE(wc) << wc.error().message();
  auto hb = wb->collect(b.data(), b.length());
  ASSERT_TRUE(hb) << hb.error().message();
  EXPECT_EQ(hb->ranges, std::vector<PageRange>{pages(b, 2, 1)});
  auto empty = wb->collect(b.data(), b.length());
  ASSERT_TRUE(empty) << empty.error().message();
  EXPECT_TRUE(empty->ranges.empty());
}

TEST_F(SoftDirtyWatch, OtherWatchesKeepWorkingAfterOneIsDestroyed) {
  Mapping a = Mapping::anonymous(4), b = Mapping::anonymous(4);
  auto wb = watch(b);
  ASSERT_TRUE(wb) << wb.error().message();
  {
    auto wa = watch(a);
    ASSERT_TRUE(wa) << wa.error().message();
    b.write_page(0);
  }
  b.write_page(3);
  auto h = wb->collect(b.data(), b.length());
  ASSERT_TRUE(h) << h.error().message();
  EXPECT_EQ(h->ranges, (std::vector<PageRange>{pages(b, 0, 1), pages(b, 3, 1)}));
}
