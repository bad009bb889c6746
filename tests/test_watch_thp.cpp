// THP advice around write watches (src/watch/thp_guard.hpp): MADV_NOHUGEPAGE only on the
// VMAs of the range that could get PMD-mapped THPs, only while watched, and the VMAs given
// back as they were (flags and count) when the watch ends, fails to arm, or finds its range
// replaced or taken over by a newer watch; and uffd errors over a replaced range.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "pagescan/features.hpp"
#include "pagescan/watch.hpp"
#include "proc/maps.hpp"
#include "support/kernel_facts.hpp"
#include "support/memory.hpp"
#include "support/sanitizers.hpp"
#include "support/watch_helpers.hpp"
#include "watch/thp_guard.hpp"

using namespace pagescan;
using namespace pagescan::test;

namespace {

// The VMAs of this process overlapping [start, end), from smaps.
std::vector<proc::Vma> vmas_over(std::uint64_t start, std::uint64_t end) {
  std::vector<proc::Vma> out;
  auto vmas = proc::read_vmas(0, true);
  if (!vmas) ADD_FAILURE() << vmas.error().message();
  if (!vmas) return out;
  for (const proc::Vma& v : *vmas) {
    if (v.end > start && v.start < end) out.push_back(v);
  }
  return out;
}

// The process's VMA count (/proc/self/maps lines).
std::size_t vma_count() {
  std::ifstream maps("/proc/self/maps");
  std::size_t n = 0;
  for (std::string line; std::getline(maps, line);) ++n;
  return n;
}

// Sanitizer runtimes map and unmap memory by themselves: the process-wide count is only
// compared without them.
constexpr bool kCountIsStable = !kUnderAsan && !kUnderTsan;

std::string text(const std::vector<proc::Vma>& vmas) {
  std::string out;
  for (const proc::Vma& v : vmas) {
    char range[64];
    std::snprintf(range, sizeof range, "[0x%" PRIx64 "-0x%" PRIx64 ")", v.start, v.end);
    out += range;
    for (const std::string& f : v.vm_flags) out += " " + f;
    out += "\n";
  }
  return out;
}

// Same bounds and VmFlags, VMA by VMA.
testing::AssertionResult same_vmas(const std::vector<proc::Vma>& before,
                                   const std::vector<proc::Vma>& after) {
  bool same = before.size() == after.size();
  for (std::size_t i = 0; same && i < before.size(); ++i) {
    same = before[i].start == after[i].start && before[i].end == after[i].end &&
           before[i].vm_flags == after[i].vm_flags;
  }
  if (same) return testing::AssertionSuccess();
  return testing::AssertionFailure() << "before:\n" << text(before) << "after:\n" << text(after);
}

std::string range_text(std::uint64_t start, std::uint64_t end) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "[0x%" PRIx64 "-0x%" PRIx64 ")", start, end);
  return buf;
}

// Skips unless THP is in "madvise" or "always" mode with 2 MiB PMDs.
#define SKIP_WITHOUT_THP() PAGESCAN_REQUIRE_FACT(Fact::thp)

// A 4 MiB mapping aligned to 2 MiB, advised MADV_HUGEPAGE: one `hg` VMA holding two
// PMD-aligned blocks.
Mapping hugepage_mapping() {
  Mapping m = Mapping::aligned(2 * kThpSize, kThpSize);
  if (::madvise(m.data(), m.length(), MADV_HUGEPAGE) != 0) ADD_FAILURE() << "MADV_HUGEPAGE";
  return m;
}

// ---- the decision: which VMAs could get a PMD-mapped THP over the range ----

proc::Vma vma(std::uint64_t start, std::uint64_t end, std::vector<std::string> flags) {
  proc::Vma v;
  v.start = start;
  v.end = end;
  v.perms = "rw-p";
  v.vm_flags = std::move(flags);
  return v;
}

constexpr std::uint64_t kPmd = 2u << 20;
constexpr std::uint64_t kBase = 0x7f0000000000;  // PMD-aligned

TEST(ThpDecision, NeverOrAbsentThpNeedsNoAdvice) {
  const proc::Vma hg = vma(kBase, kBase + 4 * kPmd, {"rd", "wr", "hg"});
  EXPECT_FALSE(watch::ThpGuard::could_get_thp(hg, kBase, kBase + kPmd, "never", kPmd));
  EXPECT_FALSE(watch::ThpGuard::could_get_thp(hg, kBase, kBase + kPmd, "", kPmd));
  EXPECT_FALSE(watch::ThpGuard::could_get_thp(hg, kBase, kBase + kPmd, "always", 0));
}

TEST(ThpDecision, MadviseModeNeedsAdviceOnlyWhereHugepageWasAsked) {
  const proc::Vma neutral = vma(kBase, kBase + 4 * kPmd, {"rd", "wr"});
  const proc::Vma hg = vma(kBase, kBase + 4 * kPmd, {"rd", "wr", "hg"});
  EXPECT_FALSE(watch::ThpGuard::could_get_thp(neutral, kBase, kBase + 4096, "madvise", kPmd));
  EXPECT_TRUE(watch::ThpGuard::could_get_thp(hg, kBase, kBase + 4096, "madvise", kPmd));
}

TEST(ThpDecision, AlwaysModeNeedsAdviceUnlessNohugepageOrHugetlb) {
  const proc::Vma neutral = vma(kBase, kBase + 4 * kPmd, {"rd", "wr"});
  const proc::Vma nh = vma(kBase, kBase + 4 * kPmd, {"rd", "wr", "nh"});
  const proc::Vma ht = vma(kBase, kBase + 4 * kPmd, {"rd", "wr", "ht"});
  EXPECT_TRUE(watch::ThpGuard::could_get_thp(neutral, kBase, kBase + 4096, "always", kPmd));
  EXPECT_FALSE(watch::ThpGuard::could_get_thp(nh, kBase, kBase + 4096, "always", kPmd));
  EXPECT_FALSE(watch::ThpGuard::could_get_thp(ht, kBase, kBase + 4096, "always", kPmd));
}

// A THP sits at a PMD-aligned address wholly inside one VMA: the range must overlap such
// a block of the VMA.
TEST(ThpDecision, OnlyAWholePmdBlockOfTheVmaOverlappingTheRangeCounts) {
  const std::uint64_t page = 4096;
  // Smaller than a PMD, or straddling a boundary without a whole block: never a THP.
  const proc::Vma small = vma(kBase, kBase + 64 * page, {"hg"});
  EXPECT_FALSE(watch::ThpGuard::could_get_thp(small, kBase, kBase + 64 * page, "always", kPmd));
  const proc::Vma straddling = vma(kBase + kPmd - 32 * page, kBase + kPmd + 32 * page, {"hg"});
  EXPECT_FALSE(watch::ThpGuard::could_get_thp(straddling, straddling.start, straddling.end,
                                              "madvise", kPmd));
  // [base + page, base + 3 PMD): the block at base is cut by the VMA's start; the range
  // [base + page, base + 2 page) overlaps no whole block, [base + PMD - page, base + PMD +
  // page) overlaps the one at base + PMD.
  const proc::Vma late = vma(kBase + page, kBase + 3 * kPmd, {"hg"});
  EXPECT_FALSE(
      watch::ThpGuard::could_get_thp(late, kBase + page, kBase + 2 * page, "madvise", kPmd));
  EXPECT_FALSE(watch::ThpGuard::could_get_thp(late, kBase + page, kBase + kPmd, "madvise", kPmd));
  EXPECT_TRUE(watch::ThpGuard::could_get_thp(late, kBase + kPmd - page, kBase + kPmd + page,
                                             "madvise", kPmd));
  // The last block reaches the VMA's end exactly; past it nothing.
  EXPECT_TRUE(watch::ThpGuard::could_get_thp(late, kBase + 3 * kPmd - page, kBase + 3 * kPmd,
                                             "madvise", kPmd));
  const proc::Vma short_end = vma(kBase, kBase + 2 * kPmd - page, {"hg"});
  EXPECT_FALSE(watch::ThpGuard::could_get_thp(short_end, kBase + kPmd, kBase + kPmd + page,
                                              "madvise", kPmd));
  EXPECT_FALSE(watch::ThpGuard::could_get_thp(late, kBase + page, kBase + page, "madvise", kPmd));
}

// ---- on the real kernel, per engine ----

class WatchThp : public testing::TestWithParam<WatchEngine> {
 protected:
  WatchEngine engine() const { return GetParam(); }
};

// A watch over part of an MADV_HUGEPAGE mapping: that part is `nh` while watched (one
// write there is reported as one page), and afterwards the mapping is one `hg` VMA again
// with the process's VMA count back to what it was.
TEST_P(WatchThp, PartOfAHugepageMappingIsNohugepageOnlyWhileWatched) {
  PAGESCAN_SKIP_UNLESS_ENGINE(engine());
  SKIP_WITHOUT_THP();
  Mapping m = hugepage_mapping();
  const auto before = vmas_over(m.start(), m.end());
  ASSERT_EQ(before.size(), 1u) << text(before);
  ASSERT_TRUE(before[0].has_flag("hg"));
  const std::size_t count_before = vma_count();
  const std::size_t first = 16, pages = 32;  // inside the first PMD block
  {
    auto w = WriteWatch::create(m.page(first), pages * page_size(), WatchOptions{engine()});
    ASSERT_TRUE(w) << w.error().message();
    const auto watched = vma_containing(m.page_addr(first + 1));
    ASSERT_TRUE(watched);
    EXPECT_TRUE(watched->has_flag("nh")) << text({*watched});
    EXPECT_FALSE(watched->has_flag("hg")) << text({*watched});
    EXPECT_GE(watched->start, m.page_addr(first));
    EXPECT_LE(watched->end, m.page_addr(first + pages));
    for (std::uint64_t beside : {m.start(), m.page_addr(first + pages)}) {
      const auto other = vma_containing(beside);
      ASSERT_TRUE(other);
      EXPECT_TRUE(other->has_flag("hg")) << "outside the watch: " << text({*other});
      EXPECT_FALSE(other->has_flag("nh")) << "outside the watch: " << text({*other});
    }
    m.write_page(first + 3);
    auto h = w->collect(m.page(first), pages * page_size());
    ASSERT_TRUE(h) << h.error().message();
    EXPECT_EQ(harvest_pages(*h), std::vector<std::uint64_t>{m.page_addr(first + 3)});
  }
  EXPECT_TRUE(same_vmas(before, vmas_over(m.start(), m.end())));
  if (kCountIsStable) EXPECT_EQ(vma_count(), count_before);
}

// In madvise mode a plain mapping can get no THP: the watch gives it no advice at all.
TEST_P(WatchThp, PlainMappingInMadviseModeGetsNoAdvice) {
  PAGESCAN_SKIP_UNLESS_ENGINE(engine());
  if (kernel_thp_mode() != "madvise") {
    GTEST_SKIP() << "THP mode '" << kernel_thp_mode() << "', not madvise";
  }
  Mapping m = Mapping::aligned(2 * kThpSize, kThpSize);
  const auto before = vmas_over(m.start(), m.end());
  {
    auto w = WriteWatch::create(m.page(16), kThpSize, WatchOptions{engine()});
    ASSERT_TRUE(w) << w.error().message();
    for (const proc::Vma& v : vmas_over(m.start(), m.end())) {
      EXPECT_FALSE(v.has_flag("nh")) << text({v});
      EXPECT_FALSE(v.has_flag("hg")) << text({v});
    }
  }
  EXPECT_TRUE(same_vmas(before, vmas_over(m.start(), m.end())));
}

// An `hg` VMA holding no whole PMD-aligned block can get no PMD THP: no advice, no split.
TEST_P(WatchThp, HugepageVmaWithoutAWholePmdBlockGetsNoAdvice) {
  PAGESCAN_SKIP_UNLESS_ENGINE(engine());
  SKIP_WITHOUT_THP();
  Mapping m = Mapping::aligned(2 * kThpSize, kThpSize);
  const std::size_t per_pmd = kThpSize / page_size();
  ASSERT_EQ(::madvise(m.page(per_pmd - 32), 64 * page_size(), MADV_HUGEPAGE), 0);
  const auto before = vmas_over(m.start(), m.end());
  ASSERT_EQ(before.size(), 3u) << text(before);
  {
    auto w = WriteWatch::create(m.page(per_pmd - 16), 32 * page_size(), WatchOptions{engine()});
    ASSERT_TRUE(w) << w.error().message();
    const auto watched = vma_containing(m.page_addr(per_pmd));
    ASSERT_TRUE(watched);
    EXPECT_FALSE(watched->has_flag("nh")) << text({*watched});
    EXPECT_TRUE(watched->has_flag("hg")) << text({*watched});
  }
  EXPECT_TRUE(same_vmas(before, vmas_over(m.start(), m.end())));
}

// The part of the range unmapped and mapped afresh while watched: destroying the watch
// gives the fresh memory no advice (it never had any), the rest gets `hg` back.
TEST_P(WatchThp, ReplacedPartGetsNoAdviceWhenTheWatchEnds) {
  PAGESCAN_SKIP_UNLESS_ENGINE(engine());
  SKIP_WITHOUT_THP();
  Mapping m = hugepage_mapping();
  const std::size_t page = page_size();
  {
    auto w = WriteWatch::create(m.data(), 64 * page, WatchOptions{engine()});
    ASSERT_TRUE(w) << w.error().message();
    void* fresh = ::mmap(m.page(8), 8 * page, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    ASSERT_EQ(fresh, static_cast<void*>(m.page(8)));
  }
  const auto replaced = vma_containing(m.page_addr(8));
  ASSERT_TRUE(replaced);
  EXPECT_FALSE(replaced->has_flag("hg")) << "fresh memory got the old advice";
  EXPECT_FALSE(replaced->has_flag("nh")) << text({*replaced});
  for (std::size_t i : {0, 20}) {
    const auto kept = vma_containing(m.page_addr(i));
    ASSERT_TRUE(kept);
    EXPECT_TRUE(kept->has_flag("hg")) << "page " << i << ": " << text({*kept});
    EXPECT_FALSE(kept->has_flag("nh")) << "page " << i << ": " << text({*kept});
  }
}

INSTANTIATE_TEST_SUITE_P(Engines, WatchThp,
                         testing::Values(WatchEngine::uffd, WatchEngine::mprotect,
                                         WatchEngine::soft_dirty),
                         engine_test_name);

// ---- uffd only ----

WatchOptions uffd() {
  WatchOptions o;
  o.engine = WatchEngine::uffd;
  return o;
}

// UFFDIO_REGISTER refused (EBUSY: another uffd watch registered part of the range) after
// the advice was given: the VMAs are left exactly as they were.
TEST(UffdWatchThp, FailedRegistrationGivesTheAdviceBack) {
  PAGESCAN_SKIP_UNLESS_ENGINE(WatchEngine::uffd);
  SKIP_WITHOUT_THP();
  Mapping m = hugepage_mapping();
  auto first = WriteWatch::create(m.data(), page_size(), uffd());
  ASSERT_TRUE(first) << first.error().message();
  const auto before = vmas_over(m.start(), m.end());
  const std::size_t count_before = vma_count();
  auto second = WriteWatch::create(m.data(), m.length(), uffd());
  ASSERT_FALSE(second) << "a second uffd watch over registered memory";
  EXPECT_EQ(second.error().errno_value(), EBUSY) << second.error().message();
  EXPECT_EQ(second.error().kind(), ErrorKind::invalid_argument) << second.error().message();
  EXPECT_TRUE(same_vmas(before, vmas_over(m.start(), m.end())));
  if (kCountIsStable) EXPECT_EQ(vma_count(), count_before);
}

// A stale watch whose range was unmapped and is now watched by a newer one: destroying
// the stale watch leaves the newer watch's `nh` (and registration) alone.
TEST(UffdWatchThp, StaleWatchLeavesTheNewerWatchsAdviceAlone) {
  PAGESCAN_SKIP_UNLESS_ENGINE(WatchEngine::uffd);
  SKIP_WITHOUT_THP();
  Mapping m = hugepage_mapping();
  const std::uint64_t start = m.start(), len = m.length();
  std::optional<WriteWatch> stale;
  {
    auto w = WriteWatch::create(m.data(), kThpSize, uffd());
    ASSERT_TRUE(w) << w.error().message();
    stale.emplace(std::move(*w));
  }
  ASSERT_EQ(::munmap(m.data(), len), 0);
  m.release();
  void* again = ::mmap(reinterpret_cast<void*>(start), len, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  ASSERT_EQ(again, reinterpret_cast<void*>(start));
  Mapping n(again, len);
  ASSERT_EQ(::madvise(n.data(), len, MADV_HUGEPAGE), 0);
  {
    auto current = WriteWatch::create(n.data(), kThpSize, uffd());
    ASSERT_TRUE(current) << current.error().message();
    stale.reset();
    const auto watched = vma_containing(start);
    ASSERT_TRUE(watched);
    EXPECT_TRUE(watched->has_flag("nh")) << "the stale watch took the newer one's advice";
    EXPECT_TRUE(watched->uffd_wp()) << "the stale watch took the newer one's registration";
  }  // the newer watch ends
  const auto after = vmas_over(n.start(), n.end());
  ASSERT_EQ(after.size(), 1u) << text(after);
  EXPECT_TRUE(after[0].has_flag("hg"));
}

// UFFDIO_WRITEPROTECT over a part that is no longer registered (unmapped and mapped afresh)
// fails with ENOENT: the range is wrong, no process is missing.
TEST(UffdWatchErrors, ResetAndFoldBackOverAReplacedPartNameTheRange) {
  PAGESCAN_SKIP_UNLESS_ENGINE(WatchEngine::uffd);
  const std::size_t page = page_size();
  Mapping m = Mapping::anonymous(16);
  auto w = WriteWatch::create(m.data(), m.length(), uffd());
  ASSERT_TRUE(w) << w.error().message();
  void* fresh = ::mmap(m.page(4), 4 * page, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  ASSERT_EQ(fresh, static_cast<void*>(m.page(4)));
  const std::string watch = "watch of " + range_text(m.start(), m.end());
  const std::string not_registered = ": the range is not registered (unmapped or replaced since)";

  auto reset = w->reset(m.data(), m.length());
  ASSERT_FALSE(reset) << "reset over a replaced part succeeded";
  EXPECT_EQ(reset.error().kind(), ErrorKind::invalid_argument) << reset.error().message();
  EXPECT_EQ(reset.error().errno_value(), ENOENT);
  EXPECT_EQ(reset.error().message(), watch + ": reset: userfaultfd: write-protect " +
                                         range_text(m.start(), m.end()) + not_registered);

  Harvest h;
  h.ranges.push_back(PageRange{m.page_addr(2), m.page_addr(6)});
  h.pages = 4;
  auto back = w->fold_back(h);
  ASSERT_FALSE(back) << "fold_back over a replaced part succeeded";
  EXPECT_EQ(back.error().kind(), ErrorKind::invalid_argument) << back.error().message();
  EXPECT_EQ(back.error().errno_value(), ENOENT);
  EXPECT_EQ(back.error().message(), watch + ": fold back: userfaultfd: unprotect " +
                                        range_text(m.page_addr(2), m.page_addr(6)) +
                                        not_registered);
}

}  // namespace
