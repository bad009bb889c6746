// Write-tracking semantics (GetWriteWatch / ResetWriteWatch), on every engine
// that passes its self-test here: page-aligned ascending clipped results, atomic
// get-and-reset, capacity limits, sub-range resets, straddling writes, mprotect round
// trips, kernel writes, page precision and huge-page granularity, fold-back, several
// watches and threads, restoring the memory, errors that change nothing, a 10^6-write
// stress test that checks no write is lost, and fork.
//
// The everything engine reports every page of the queried range on every collect (its
// documented behaviour); where the others must report exactly the written pages, it is
// held to that instead.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "kernel/uapi.hpp"
#include "pagescan/features.hpp"
#include "pagescan/watch.hpp"
#include "support/kernel_facts.hpp"
#include "support/memory.hpp"
#include "support/watch_helpers.hpp"

using namespace pagescan;
using namespace pagescan::test;

namespace {

using Pages = std::vector<std::uint64_t>;

class WatchSemantics : public testing::TestWithParam<WatchEngine> {
 protected:
  void SetUp() override { PAGESCAN_SKIP_UNLESS_ENGINE(GetParam()); }

  WatchEngine engine() const { return GetParam(); }
  bool everything() const { return GetParam() == WatchEngine::everything; }

  // A watch forced to this test's engine over [m.page(first), m.page(first + count)).
  std::optional<WriteWatch> make(const Mapping& m, WatchOptions options = {}, std::size_t first = 0,
                                 std::size_t count = 0) const {
    options.engine = engine();
    if (count == 0) count = m.pages() - first;
    auto w = WriteWatch::create(m.page(first), count * page_size(), options);
    if (!w) {
      ADD_FAILURE() << "create: " << w.error().message();
      return std::nullopt;
    }
    EXPECT_EQ(w->engine(), engine());
    return std::move(*w);
  }

  // Collects pages [lo, hi) of m, checking success and the shape of the answer.
  static Harvest collect(WriteWatch& w, const Mapping& m, std::size_t lo, std::size_t hi,
                         std::uint64_t max_pages = 0, bool reset = true) {
    auto h = w.collect(m.page(lo), (hi - lo) * page_size(), CollectOptions{max_pages, reset});
    if (!h) {
      ADD_FAILURE() << "collect: " << h.error().message();
      return {};
    }
    EXPECT_TRUE(well_formed(*h, m.page_addr(lo), m.page_addr(hi)));
    return std::move(*h);
  }
  static Pages pages(WriteWatch& w, const Mapping& m, std::size_t lo, std::size_t hi,
                     std::uint64_t max_pages = 0, bool reset = true) {
    return harvest_pages(collect(w, m, lo, hi, max_pages, reset));
  }

  // What a collect of pages [lo, hi) must return after the pages `written` were written:
  // those in range, ascending, or every page of the range for the everything engine; at
  // most max_pages.
  Pages expected(const Mapping& m, std::vector<std::size_t> written, std::size_t lo, std::size_t hi,
                 std::uint64_t max_pages = 0) const {
    Pages out;
    if (everything()) {
      for (std::size_t i = lo; i < hi; ++i) out.push_back(m.page_addr(i));
    } else {
      std::sort(written.begin(), written.end());
      written.erase(std::unique(written.begin(), written.end()), written.end());
      for (std::size_t i : written) {
        if (i >= lo && i < hi) out.push_back(m.page_addr(i));
      }
    }
    if (max_pages && out.size() > max_pages) out.resize(max_pages);
    return out;
  }
};

// Page indexes of m for a list of addresses, for readable failure messages.
std::vector<std::size_t> indexes(const Mapping& m, const Pages& addrs) {
  std::vector<std::size_t> out;
  for (std::uint64_t a : addrs) out.push_back((a - m.start()) / page_size());
  return out;
}

#define EXPECT_PAGES(m, actual, wanted) \
  EXPECT_EQ(indexes(m, actual), indexes(m, wanted)) << "(page indexes of the mapping)"

TEST_P(WatchSemantics, FreshWatchReportsNothingAndReadsAreNotWrites) {
  Mapping m = Mapping::anonymous(16);
  m.write_pages(0, 16);  // populated before the watch: arming forgets these writes
  auto w = make(m);
  ASSERT_TRUE(w);
  EXPECT_PAGES(m, pages(*w, m, 0, 16), expected(m, {}, 0, 16));
  for (std::size_t i = 0; i < 16; i += 3) (void)m.read_page(i);
  EXPECT_PAGES(m, pages(*w, m, 0, 16), expected(m, {}, 0, 16));
}

TEST_P(WatchSemantics, ReportsWrittenPagesAscendingAndPageAligned) {
  Mapping m = Mapping::anonymous(32);
  auto w = make(m);
  ASSERT_TRUE(w);
  // Out of order and at unaligned offsets: the answer is still page addresses, ascending.
  const std::vector<std::size_t> written = {19, 7, 31, 2, 20, 8, 9};
  for (std::size_t i : written) m.data()[i * page_size() + 1234] = 5;
  Harvest h = collect(*w, m, 0, 32);
  EXPECT_PAGES(m, harvest_pages(h), expected(m, written, 0, 32));
  EXPECT_FALSE(h.more);
}

TEST_P(WatchSemantics, ResultsAreClippedToTheQueriedSubRange) {
  Mapping m = Mapping::anonymous(16);
  auto w = make(m);
  ASSERT_TRUE(w);
  m.write_pages(2, 9);  // 2..10
  // [page 4 + 100, page 7 - 100) rounds out to pages 4, 5, 6.
  auto h = w->collect(m.page(4) + 100, 3 * page_size() - 200, CollectOptions{0, false});
  ASSERT_TRUE(h) << h.error().message();
  EXPECT_TRUE(well_formed(*h, m.page_addr(4), m.page_addr(7)));
  EXPECT_PAGES(m, harvest_pages(*h), expected(m, {4, 5, 6}, 4, 7));
  // A one-byte query names one page.
  h = w->collect(m.page(10) + page_size() - 1, 1, CollectOptions{0, false});
  ASSERT_TRUE(h) << h.error().message();
  EXPECT_PAGES(m, harvest_pages(*h), expected(m, {10}, 10, 11));
}

TEST_P(WatchSemantics, CollectWithoutResetReportsTheSamePagesAgain) {
  Mapping m = Mapping::anonymous(8);
  auto w = make(m);
  ASSERT_TRUE(w);
  m.write_page(1);
  m.write_page(6);
  EXPECT_PAGES(m, pages(*w, m, 0, 8, 0, false), expected(m, {1, 6}, 0, 8));
  EXPECT_PAGES(m, pages(*w, m, 0, 8, 0, false), expected(m, {1, 6}, 0, 8));
  EXPECT_PAGES(m, pages(*w, m, 0, 8, 0, true), expected(m, {1, 6}, 0, 8));
  EXPECT_PAGES(m, pages(*w, m, 0, 8), expected(m, {}, 0, 8));
}

TEST_P(WatchSemantics, GetWithResetRearmsTheReportedPages) {
  Mapping m = Mapping::anonymous(8);
  auto w = make(m);
  ASSERT_TRUE(w);
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    m.write_page(3, static_cast<char>(round));
    m.write_page(4, static_cast<char>(round));
    EXPECT_PAGES(m, pages(*w, m, 0, 8), expected(m, {3, 4}, 0, 8));
    EXPECT_PAGES(m, pages(*w, m, 0, 8), expected(m, {}, 0, 8));
  }
}

// Wine's GetWriteWatch test: 5 written pages collected with room for 2 come back 2, 2, 1,
// 0; only the pages returned are re-armed.
TEST_P(WatchSemantics, CapacityBelowWrittenPagesRearmsOnlyThoseReturned) {
  Mapping m = Mapping::anonymous(16);
  auto w = make(m);
  ASSERT_TRUE(w);
  const std::vector<std::size_t> written = {1, 4, 5, 9, 14};
  for (std::size_t i : written) m.write_page(i);
  if (everything()) {
    for (int call = 0; call < 4; ++call) {
      Harvest h = collect(*w, m, 0, 16, 2);
      EXPECT_PAGES(m, harvest_pages(h), expected(m, {}, 0, 16, 2));
      EXPECT_TRUE(h.more);
    }
    return;
  }
  const std::vector<std::vector<std::size_t>> calls = {{1, 4}, {5, 9}, {14}, {}};
  for (std::size_t call = 0; call < calls.size(); ++call) {
    SCOPED_TRACE("call " + std::to_string(call));
    Harvest h = collect(*w, m, 0, 16, 2);
    EXPECT_PAGES(m, harvest_pages(h), expected(m, calls[call], 0, 16));
    EXPECT_EQ(h.more, call < 2) << "more: written pages remain after this call";
  }
}

TEST_P(WatchSemantics, ResetOfASubRangeRearmsOnlyThatSubRange) {
  Mapping m = Mapping::anonymous(16);
  auto w = make(m);
  ASSERT_TRUE(w);
  m.write_pages(0, 16);
  // [page 5 + 1, page 9 - 1) rounds out to pages 5..8.
  auto r = w->reset(m.page(5) + 1, 4 * page_size() - 2);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_PAGES(m, pages(*w, m, 0, 16),
               expected(m, {0, 1, 2, 3, 4, 9, 10, 11, 12, 13, 14, 15}, 0, 16));
}

TEST_P(WatchSemantics, WriteStraddlingTwoPagesMarksBoth) {
  Mapping m = Mapping::anonymous(8);
  auto w = make(m);
  ASSERT_TRUE(w);
  // One unaligned 8-byte store: 4 bytes at the end of page 3, 4 at the start of page 4.
  const std::uint64_t value = 0x1122334455667788;
  std::memcpy(m.page(4) - 4, &value, sizeof value);
  EXPECT_PAGES(m, pages(*w, m, 0, 8), expected(m, {3, 4}, 0, 8));
  std::uint64_t back = 0;
  std::memcpy(&back, m.page(4) - 4, sizeof back);
  EXPECT_EQ(back, value);
}

TEST_P(WatchSemantics, ApplicationMprotectRoundTripKeepsWatchState) {
  if (engine() == WatchEngine::mprotect) {
    GTEST_SKIP() << "the mprotect engine owns the region's protection: an application "
                    "mprotect() replaces it (docs/write-tracking.md)";
  }
  Mapping m = Mapping::anonymous(16);
  auto w = make(m);
  ASSERT_TRUE(w);
  m.write_page(2);
  (void)m.read_page(7);
  // The whole region, then a sub-range (splitting the VMA and merging it back).
  ASSERT_EQ(::mprotect(m.data(), m.length(), PROT_READ), 0) << std::strerror(errno);
  ASSERT_EQ(::mprotect(m.data(), m.length(), PROT_READ | PROT_WRITE), 0) << std::strerror(errno);
  ASSERT_EQ(::mprotect(m.page(4), 3 * page_size(), PROT_READ), 0) << std::strerror(errno);
  ASSERT_EQ(::mprotect(m.page(4), 3 * page_size(), PROT_READ | PROT_WRITE), 0)
      << std::strerror(errno);
  m.write_page(5);  // a write after the round trips is tracked
  Pages got = pages(*w, m, 0, 16);
  if (engine() == WatchEngine::soft_dirty) {
    // mprotect can set VM_SOFTDIRTY on the VMAs it touches (false positives, never a
    // lost write): the written pages must be among those reported.
    for (std::uint64_t p : expected(m, {2, 5}, 0, 16)) {
      EXPECT_NE(std::find(got.begin(), got.end(), p), got.end()) << "page " << p;
    }
    return;
  }
  // uffd: the uffd-wp bits survive change_protection(), so unwritten pages stay armed.
  EXPECT_PAGES(m, got, expected(m, {2, 5}, 0, 16));
  EXPECT_PAGES(m, pages(*w, m, 0, 16), expected(m, {}, 0, 16));
}

TEST_P(WatchSemantics, KernelWriteThroughReadIsReported) {
  Mapping m = Mapping::anonymous(8);
  auto w = make(m);
  ASSERT_TRUE(w);
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  ASSERT_EQ(::write(fds[1], "kernel", 6), 6);
  char* target = m.page(5) + 100;
  if (engine() == WatchEngine::mprotect) {
    // The kernel cannot take the write fault for us: read(2) into an armed page fails
    // with EFAULT (users-and-anchors.md, Wine) and consumes nothing. Hence the helper.
    errno = 0;
    EXPECT_EQ(::read(fds[0], target, 6), -1);
    EXPECT_EQ(errno, EFAULT);
    auto ok = w->prepare_for_kernel_write(target, 6);
    ASSERT_TRUE(ok) << ok.error().message();
  }
  EXPECT_EQ(::read(fds[0], target, 6), 6) << std::strerror(errno);
  ::close(fds[0]);
  ::close(fds[1]);
  EXPECT_EQ(std::string(target, 6), "kernel");
  EXPECT_PAGES(m, pages(*w, m, 0, 8), expected(m, {5}, 0, 8));
}

TEST_P(WatchSemantics, DefaultGranularityIsOnePageEvenOnAHugePageRegion) {
  Mapping m = Mapping::aligned(2 * kThpSize, kThpSize);
  PAGESCAN_REQUIRE_FACT(Fact::thp);
  ASSERT_TRUE(make_thp(m)) << "no THP although " << kernel_fact(Fact::thp).finding;
  auto w = make(m);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->granularity(), page_size());
  if (engine() == WatchEngine::uffd) {
    auto vma = vma_containing(m.start());
    ASSERT_TRUE(vma);
    EXPECT_TRUE(vma->has_flag("nh")) << "the uffd engine sets MADV_NOHUGEPAGE on the watch";
  }
  const std::size_t per_thp = kThpSize / page_size();
  m.data()[5 * page_size() + 17] = 1;  // one byte in the first huge page
  m.write_page(per_thp + 300);
  EXPECT_PAGES(m, pages(*w, m, 0, m.pages()), expected(m, {5, per_thp + 300}, 0, m.pages()));
  EXPECT_PAGES(m, pages(*w, m, 0, m.pages()), expected(m, {}, 0, m.pages()));
  w.reset();
  // Destroying the watch gives the region its huge-page advice back.
  auto vma = vma_containing(m.start());
  ASSERT_TRUE(vma);
  EXPECT_TRUE(vma->has_flag("hg"));
  EXPECT_FALSE(vma->has_flag("nh"));
}

TEST_P(WatchSemantics, KeepHugePagesReportsTheWholeHugePage) {
  Mapping m = Mapping::aligned(2 * kThpSize, kThpSize);
  PAGESCAN_REQUIRE_FACT(Fact::thp);
  ASSERT_TRUE(make_thp(m)) << "no THP although " << kernel_fact(Fact::thp).finding;
  WatchOptions options;
  options.keep_huge_pages = true;
  auto w = make(m, options);
  ASSERT_TRUE(w);
  const std::size_t per_thp = kThpSize / page_size();
  m.write_page(per_thp + 5);
  if (everything()) {
    EXPECT_PAGES(m, pages(*w, m, 0, m.pages()), expected(m, {}, 0, m.pages()));
    return;
  }
  ASSERT_EQ(w->granularity(), kThpSize);
  Harvest h = collect(*w, m, 0, m.pages());
  EXPECT_EQ(h.ranges, (std::vector<PageRange>{{m.page_addr(per_thp), m.end()}}));
  EXPECT_EQ(h.pages, per_thp);
  EXPECT_PAGES(m, pages(*w, m, 0, m.pages()), expected(m, {}, 0, m.pages()));
  // A query inside a huge page is clipped to the query.
  m.write_page(3);
  EXPECT_EQ(collect(*w, m, 2, 10).ranges,
            (std::vector<PageRange>{{m.page_addr(2), m.page_addr(10)}}));
}

// A consumer that failed to use its harvest (a failed checkpoint) hands it back.
TEST_P(WatchSemantics, FoldBackMakesAHarvestReportedAgain) {
  Mapping m = Mapping::anonymous(16);
  auto w = make(m);
  ASSERT_TRUE(w);
  m.write_page(1);
  m.write_pages(7, 2);
  Harvest h = collect(*w, m, 0, 16);
  EXPECT_PAGES(m, harvest_pages(h), expected(m, {1, 7, 8}, 0, 16));
  EXPECT_PAGES(m, pages(*w, m, 0, 16), expected(m, {}, 0, 16));
  auto ok = w->fold_back(h);
  ASSERT_TRUE(ok) << ok.error().message();
  m.write_page(12);  // a write after the failed harvest joins it
  EXPECT_PAGES(m, pages(*w, m, 0, 16), expected(m, {1, 7, 8, 12}, 0, 16));
  EXPECT_PAGES(m, pages(*w, m, 0, 16), expected(m, {}, 0, 16));
}

TEST_P(WatchSemantics, MovedWatchKeepsTracking) {
  Mapping m = Mapping::anonymous(8);
  auto w = make(m);
  ASSERT_TRUE(w);
  m.write_page(2);
  WriteWatch moved = std::move(*w);
  w.reset();  // destroying the moved-from shell must not disarm anything
  m.write_page(6);
  EXPECT_EQ(moved.base(), m.data());
  EXPECT_EQ(moved.length(), m.length());
  EXPECT_PAGES(m, pages(moved, m, 0, 8), expected(m, {2, 6}, 0, 8));
}

TEST_P(WatchSemantics, WatchesOnAdjacentRegionsAreIndependent) {
  Mapping m = Mapping::anonymous(64);  // one VMA, two watches on its halves
  auto a = make(m, {}, 0, 32);
  auto b = make(m, {}, 32, 32);
  ASSERT_TRUE(a && b);
  m.write_page(10);
  m.write_page(40);
  EXPECT_FALSE(a->collect(m.page(30), 4 * page_size())) << "a range reaching into b";
  EXPECT_PAGES(m, pages(*a, m, 0, 32), expected(m, {10}, 0, 32));
  EXPECT_PAGES(m, pages(*b, m, 32, 64), expected(m, {40}, 32, 64));
  a.reset();  // b must survive a's teardown (for uffd: unregistering half the VMA)
  m.write_page(11);
  m.write_page(41);
  EXPECT_PAGES(m, pages(*b, m, 32, 64), expected(m, {41}, 32, 64));
  if (engine() == WatchEngine::uffd) {
    auto va = vma_containing(m.page_addr(11));
    auto vb = vma_containing(m.page_addr(41));
    ASSERT_TRUE(va && vb);
    EXPECT_FALSE(va->uffd_wp());
    EXPECT_TRUE(vb->uffd_wp());
  }
}

TEST_P(WatchSemantics, WatchesInSeveralThreadsAtOnce) {
  constexpr int kThreads = 4;
  constexpr int kRounds = 150;
  constexpr std::size_t kPages = 64;
  std::vector<std::string> failures(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Mapping m = Mapping::anonymous(kPages);
      WatchOptions options;
      options.engine = engine();
      auto w = WriteWatch::create(m.data(), m.length(), options);
      if (!w) {
        failures[t] = "create: " + w.error().message();
        return;
      }
      std::mt19937 rng(static_cast<unsigned>(1000 + t));  // seed printed on failure
      for (int round = 0; round < kRounds; ++round) {
        std::set<std::size_t> written;
        const std::size_t n = rng() % 12;
        for (std::size_t k = 0; k < n; ++k) written.insert(rng() % kPages);
        for (std::size_t i : written) m.write_page(i, static_cast<char>(round));
        auto h = w->collect(m.data(), m.length());
        if (!h) {
          failures[t] = "collect: " + h.error().message();
          return;
        }
        Pages want = expected(m, {written.begin(), written.end()}, 0, kPages);
        if (harvest_pages(*h) != want) {
          failures[t] = "seed " + std::to_string(1000 + t) + " round " + std::to_string(round) +
                        ": got " + std::to_string(h->pages) + " pages, expected " +
                        std::to_string(want.size());
          return;
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(failures[t], "") << "thread " << t;
}

TEST_P(WatchSemantics, DestroyRestoresTheMemory) {
  Mapping m = Mapping::anonymous(16);
  {
    auto w = make(m);
    ASSERT_TRUE(w);
    m.write_pages(0, 4);         // some pages written
    (void)m.read_page(8);        // some read (zero page, still armed)
    (void)collect(*w, m, 0, 2);  // some re-armed
  }
  auto vma = vma_containing(m.start());
  ASSERT_TRUE(vma);
  EXPECT_EQ(vma->perms.substr(0, 2), "rw") << "no protection left behind";
  if (engine() == WatchEngine::uffd) {
    EXPECT_FALSE(vma->uffd_wp()) << "VmFlags still has uw: the region is still registered";
    for (std::size_t i = 0; i < m.pages(); ++i) {
      EXPECT_EQ(pagemap_entry(m.page(i)) & uapi::PM_UFFD_WP, 0u) << "page " << i << " still armed";
    }
  }
  // Every page takes a write without a fault the process cannot handle.
  EXPECT_EXIT(
      {
        m.write_pages(0, m.pages(), 9);
        ::_exit(0);
      },
      testing::ExitedWithCode(0), "");
  // A new watch starts armed and tracks exactly.
  auto again = make(m);
  ASSERT_TRUE(again);
  m.write_page(9);
  EXPECT_PAGES(m, pages(*again, m, 0, 16), expected(m, {9}, 0, 16));
}

// Every failing call reports invalid_argument and leaves the watch as it was.
TEST_P(WatchSemantics, FailingCallsChangeNothing) {
  Mapping m = Mapping::anonymous(16);
  auto w = make(m);
  ASSERT_TRUE(w);
  m.write_page(3);
  m.write_page(4);
  const std::size_t page = page_size();
  auto invalid = [](const auto& result, const char* what) {
    ASSERT_FALSE(result) << what;
    EXPECT_EQ(result.error().kind(), ErrorKind::invalid_argument) << what;
    EXPECT_EQ(result.error().errno_value(), EINVAL) << what;
  };
  const CollectOptions reset{0, true};
  invalid(w->collect(m.data(), 0, reset), "collect of length 0");
  invalid(w->collect(m.data() - page, 2 * page, reset), "collect starting before the watch");
  invalid(w->collect(m.data(), m.length() + 1, reset), "collect past the end");
  invalid(w->collect(m.page(15) + 1, page, reset), "collect past the end after rounding");
  invalid(w->reset(m.data(), 0), "reset of length 0");
  invalid(w->reset(m.page(15), 2 * page), "reset past the end");
  invalid(w->prepare_for_kernel_write(m.data() - 1, 2), "prepare before the watch");
  Harvest bad;
  bad.ranges = {{m.page_addr(1), m.page_addr(2)}, {m.end(), m.end() + page}};
  bad.pages = 2;
  invalid(w->fold_back(bad), "fold_back of a range outside the watch");
  // Page 1 was not folded back, pages 3 and 4 were not re-armed.
  EXPECT_PAGES(m, pages(*w, m, 0, 16), expected(m, {3, 4}, 0, 16));
}

TEST_P(WatchSemantics, EnvironmentForcesThisEngine) {
  Mapping m = Mapping::anonymous(4);
  {
    ScopedEnv env("PAGESCAN_WATCH_ENGINE", std::string(to_string(engine())));
    auto w = WriteWatch::create(m.data(), m.length());
    ASSERT_TRUE(w) << w.error().message();
    EXPECT_EQ(w->engine(), engine());
  }
  {
    // An explicit engine wins: the environment is not even parsed.
    ScopedEnv env("PAGESCAN_WATCH_ENGINE", "no-such-engine");
    WatchOptions options;
    options.engine = engine();
    auto w = WriteWatch::create(m.data(), m.length(), options);
    ASSERT_TRUE(w) << w.error().message();
    EXPECT_EQ(w->engine(), engine());
  }
}

// 4 writers and a collector; no write may be lost.
//
// Each writer owns every 4th page and keeps at most one unconfirmed write per page: it
// writes page p again only after a collect reported p. The collector numbers its passes
// (epochs); a pass is one uncapped collect, or (odd epochs) capped collects until none
// says `more`, as GetWriteWatch with a small buffer loops. For each reported page it
// records the first epoch that reported it since the owner last cleared the record.
//
// A writer does: D = epochs finished; clear first_report[p]; write p; E = epochs started.
// Passes <= D finished before the write began and recorded before the clear, so any record
// is from a later pass; the page was re-armed when its previous write was confirmed and
// nobody else writes it, so a tracking engine reports p only because of this write. The
// guarantee is that the first pass started after the write completed (E + 1) reports it
// if no earlier one did: so first_report[p] must be set, and be <= E + 1, once pass E + 1
// has finished. Missing is a lost write; later is a late one. Both fail.
TEST_P(WatchSemantics, StressFourWritersOneCollectorLoseNoWrite) {
  constexpr std::size_t kWriters = 4;
  constexpr std::size_t kPagesPerWriter = 512;
  constexpr std::uint64_t kTargetWrites = 1'000'000;
  // Not a time limit on the work: a bound that turns a livelock (a writer stuck in a
  // fault the engine never resolves) into a failure with a message, below ctest's
  // TIMEOUT. A run takes up to 20 s alone (the mprotect engine: a fault a write), a few
  // times that on a loaded machine.
  constexpr auto kHangBound = std::chrono::seconds(600);
  Mapping m = Mapping::anonymous(kWriters * kPagesPerWriter);
  auto w = make(m);
  ASSERT_TRUE(w);

  std::vector<std::atomic<std::uint64_t>> first_report(m.pages());
  std::atomic<std::uint64_t> epochs_started{0};
  std::atomic<std::uint64_t> epochs_done{0};
  std::atomic<std::uint64_t> writes{0};
  std::atomic<bool> stop{false};
  std::mutex failures_mutex;
  std::vector<std::string> failures;
  auto fail = [&](std::string what) {
    std::lock_guard lock(failures_mutex);
    if (failures.size() < 10) failures.push_back(std::move(what));
    stop = true;
  };

  auto record = [&](const Harvest& h, std::uint64_t epoch) {
    for (std::uint64_t page_addr : harvest_pages(h)) {
      std::uint64_t none = 0;
      first_report[(page_addr - m.start()) / page_size()].compare_exchange_strong(none, epoch);
    }
  };
  // One pass; false on a collect error.
  auto pass = [&](std::uint64_t epoch, std::uint64_t cap) {
    for (bool more = true; more;) {
      auto h = w->collect(m.data(), m.length(), CollectOptions{cap, true});
      if (!h) {
        fail("collect: " + h.error().message());
        return false;
      }
      record(*h, epoch);
      more = h->more;
    }
    return true;
  };

  struct Pending {
    bool active = false;
    std::uint64_t done_before = 0;    // D
    std::uint64_t started_after = 0;  // E
  };
  std::vector<std::vector<Pending>> pending(kWriters, std::vector<Pending>(kPagesPerWriter));
  // Checks a pending write of page `index`; true when it is settled (reported in time).
  auto settled = [&](Pending& p, std::size_t index, bool final_check) {
    const std::uint64_t done = epochs_done.load();
    const std::uint64_t first = first_report[index].load();
    if (first == 0) {
      if (done >= p.started_after + 1 || final_check) {
        fail("page " + std::to_string(index) + " written after pass " +
             std::to_string(p.done_before) + " finished and before pass " +
             std::to_string(p.started_after + 1) +
             " started was never reported (passes done: " + std::to_string(done) + ")");
      }
      return false;
    }
    if (first <= p.done_before || first > p.started_after + 1) {
      fail("page " + std::to_string(index) + " written between passes " +
           std::to_string(p.done_before) + " and " + std::to_string(p.started_after + 1) +
           " was first reported by pass " + std::to_string(first));
    }
    p.active = false;
    return true;
  };

  const auto started = std::chrono::steady_clock::now();
  std::thread collector([&] {
    while (!stop.load()) {
      const std::uint64_t epoch = epochs_started.fetch_add(1) + 1;
      // The everything engine always has `more` pages than a cap: it gets uncapped passes.
      const std::uint64_t cap = everything() || epoch % 2 == 0 ? 0 : 509;
      if (!pass(epoch, cap)) return;
      epochs_done.store(epoch);
      // Let writes accumulate: a collector spinning on near-empty passes starves the
      // writers of the 2 cores and makes no harder case. Not a wait: the checks hold
      // whatever the writers did meanwhile, however long the pause really lasts.
      std::this_thread::sleep_for(std::chrono::microseconds(200));
      if (std::chrono::steady_clock::now() - started > kHangBound) {
        fail("hang: only " + std::to_string(writes.load()) + " writes in " +
             std::to_string(kHangBound.count()) + " s");
      }
    }
  });
  std::vector<std::thread> writers;
  for (std::size_t t = 0; t < kWriters; ++t) {
    writers.emplace_back([&, t] {
      std::uint64_t sequence = 0;
      while (!stop.load()) {
        bool wrote = false;
        for (std::size_t i = 0; i < kPagesPerWriter && !stop.load(); ++i) {
          const std::size_t index = i * kWriters + t;  // writers' pages interleave
          Pending& p = pending[t][i];
          if (p.active && !settled(p, index, false)) continue;
          p.done_before = epochs_done.load();
          first_report[index].store(0);
          // The value records (writer, sequence); its offset moves around the page.
          auto* slot = reinterpret_cast<volatile std::uint64_t*>(m.page(index)) + sequence % 512;
          *slot = (std::uint64_t{t} << 56) | ++sequence;
          p.started_after = epochs_started.load();
          p.active = true;
          wrote = true;
          if (writes.fetch_add(1) + 1 >= kTargetWrites) stop = true;
        }
        if (!wrote) std::this_thread::yield();
      }
    });
  }
  for (std::thread& th : writers) th.join();
  collector.join();
  // A last pass after everything: every write still pending must be in it or earlier.
  if (failures.empty()) {
    const std::uint64_t epoch = epochs_started.fetch_add(1) + 1;
    if (pass(epoch, 0)) epochs_done.store(epoch);
    for (std::size_t t = 0; t < kWriters; ++t) {
      for (std::size_t i = 0; i < kPagesPerWriter; ++i) {
        if (pending[t][i].active) (void)settled(pending[t][i], i * kWriters + t, true);
      }
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  for (const std::string& f : failures) ADD_FAILURE() << f;
  EXPECT_GE(writes.load(), kTargetWrites);
  std::printf("    %s: %llu tracked writes, %llu collector passes, %.1f s\n",
              std::string(to_string(engine())).c_str(),
              static_cast<unsigned long long>(writes.load()),
              static_cast<unsigned long long>(epochs_done.load()), seconds);
}

// After fork() the child has a copy of the watch object but not the tracking: for uffd
// the registration is not inherited (no UFFD_FEATURE_EVENT_FORK), so the child's watch
// reports the whole range, the only honest answer. Whatever the engine, the child loses
// no write, its teardown leaves the parent's watch alone, and the parent keeps tracking
// exactly (the child's writes are to its own copies of the pages).
TEST_P(WatchSemantics, ForkedChildIsConservativeAndParentKeepsTracking) {
  Mapping m = Mapping::anonymous(16);
  auto w = make(m);
  ASSERT_TRUE(w);
  m.write_page(1);
  (void)collect(*w, m, 0, 16);
  m.write_page(2);  // written before the fork, not yet collected
  Pages whole;
  for (std::size_t i = 0; i < 16; ++i) whole.push_back(m.page_addr(i));
  const bool whole_range = engine() == WatchEngine::uffd || everything();
  std::fflush(nullptr);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0) << std::strerror(errno);
  if (pid == 0) {
    ::alarm(120);     // a hang (a write fault nobody resolves) ends as a signal
    m.write_page(3);  // the child's write must just work
    auto h = w->collect(m.data(), m.length());
    if (!h) ::_exit(10);
    Pages got = harvest_pages(*h);
    for (std::size_t i : {2, 3}) {
      if (std::find(got.begin(), got.end(), m.page_addr(i)) == got.end()) ::_exit(11);
    }
    if (whole_range && got != whole) ::_exit(12);
    w.reset();  // the child's teardown must not touch the parent's tracking
    m.write_page(4);
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "child died by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0)
      << "10: the child's collect failed; 11: it missed a written page; 12: uffd child "
         "did not report the whole range";
  m.write_page(5);
  EXPECT_PAGES(m, pages(*w, m, 0, 16), expected(m, {2, 5}, 0, 16));
  if (engine() == WatchEngine::uffd) {
    auto vma = vma_containing(m.start());
    ASSERT_TRUE(vma);
    EXPECT_TRUE(vma->uffd_wp()) << "the child's teardown unregistered the parent's region";
  }
}

INSTANTIATE_TEST_SUITE_P(Engines, WatchSemantics, testing::ValuesIn(kForcibleEngines),
                         engine_test_name);

TEST(WatchErrors, CreateRejectsZeroLength) {
  Mapping m = Mapping::anonymous(1);
  auto w = WriteWatch::create(m.data(), 0);
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().kind(), ErrorKind::invalid_argument);
  EXPECT_EQ(w.error().errno_value(), EINVAL);
}

TEST(WatchErrors, CreateRejectsARangeNotWhollyMapped) {
  Mapping m = Mapping::anonymous(4);
  ASSERT_EQ(m.unmap_pages(2, 1), 0);
  for (WatchEngine e : {WatchEngine::automatic, WatchEngine::everything}) {
    WatchOptions options;
    options.engine = e;
    auto w = WriteWatch::create(m.data(), m.length(), options);
    ASSERT_FALSE(w) << to_string(e);
    EXPECT_EQ(w.error().kind(), ErrorKind::invalid_argument) << w.error().message();
  }
}

TEST(WatchErrors, UnknownEngineInEnvironmentIsInvalid) {
  Mapping m = Mapping::anonymous(1);
  ScopedEnv env("PAGESCAN_WATCH_ENGINE", "fastest");
  auto w = WriteWatch::create(m.data(), m.length());
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().kind(), ErrorKind::invalid_argument);
  EXPECT_NE(w.error().message().find("fastest"), std::string::npos) << w.error().message();
}

TEST(WatchErrors, ForcedUnavailableEngineIsUnsupported) {
  Mapping m = Mapping::anonymous(2);
  int checked = 0;
  for (WatchEngine e : kForcibleEngines) {
    auto available = watch_engine_available(e);
    if (available) continue;
    ++checked;
    WatchOptions options;
    options.engine = e;
    auto w = WriteWatch::create(m.data(), m.length(), options);
    ASSERT_FALSE(w) << to_string(e);
    EXPECT_EQ(w.error().kind(), ErrorKind::unsupported) << w.error().message();
    EXPECT_NE(w.error().message().find(available.error().message()), std::string::npos)
        << "the error should give the self-test's reason: " << w.error().message();
    ScopedEnv env("PAGESCAN_WATCH_ENGINE", std::string(to_string(e)));
    auto by_env = WriteWatch::create(m.data(), m.length());
    ASSERT_FALSE(by_env) << to_string(e);
    EXPECT_EQ(by_env.error().kind(), ErrorKind::unsupported) << by_env.error().message();
  }
  if (checked == 0) GTEST_SKIP() << "every engine is available here: none to force";
}

TEST(WatchErrors, AutomaticPicksAnAvailableEngine) {
  Mapping m = Mapping::anonymous(2);
  ScopedEnv env("PAGESCAN_WATCH_ENGINE", std::nullopt);
  auto w = WriteWatch::create(m.data(), m.length());
  ASSERT_TRUE(w) << w.error().message();
  EXPECT_NE(w->engine(), WatchEngine::automatic);
  EXPECT_TRUE(watch_engine_available(w->engine()));
  // The first available in the documented order.
  for (WatchEngine e : kForcibleEngines) {
    if (watch_engine_available(e)) {
      EXPECT_EQ(w->engine(), e);
      break;
    }
  }
}

TEST(WatchEngineNames, RoundTripThroughText) {
  for (WatchEngine e : {WatchEngine::automatic, WatchEngine::uffd, WatchEngine::soft_dirty,
                        WatchEngine::mprotect, WatchEngine::everything}) {
    auto parsed = parse_watch_engine(to_string(e));
    ASSERT_TRUE(parsed) << to_string(e);
    EXPECT_EQ(*parsed, e);
  }
  EXPECT_EQ(to_string(WatchEngine::soft_dirty), "soft-dirty");
  EXPECT_FALSE(parse_watch_engine("UFFD"));
}

}  // namespace
