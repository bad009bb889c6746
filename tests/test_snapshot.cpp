// Region snapshots (pagescan/snapshot.hpp) on the real kernel: random write patterns from
// one page to 1 GiB, THP, swapped-out pages, kernel writes, 10 000 cycles, threads, the
// zeroing options, regions changed after capture, shared memfd, on every engine available.
// Every restore is checked twice: by first_difference() against the snapshot's image and
// against the test's own record of what the region held at capture. Seeds are fixed and
// printed on failure, so a failure replays.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "pagescan/snapshot.hpp"
#include "pagescan/watch.hpp"
#include "support/kernel_facts.hpp"
#include "support/memory.hpp"
#include "support/resources_census.hpp"
#include "support/snapshot_helpers.hpp"
#include "support/system_settings.hpp"
#include "support/watch_helpers.hpp"

using namespace pagescan;
using namespace pagescan::test;

namespace {

SnapshotOptions options_for(WatchEngine engine) {
  SnapshotOptions o;
  o.watch.engine = engine;
  return o;
}

// Engines that report exactly the pages written. soft-dirty may report more (a VMA that
// still has VM_SOFTDIRTY reads as dirty throughout), everything reports every page.
bool exact(WatchEngine e) {
  return e == WatchEngine::uffd || e == WatchEngine::mprotect;
}

// Restores and checks the statistics add up. Returns them (empty on failure).
RestoreStats restore_counted(RegionSnapshot& s) {
  auto stats = s.restore();
  if (!stats) {
    ADD_FAILURE() << "restore failed: " << stats.error().message();
    return {};
  }
  EXPECT_EQ(stats->pages_examined, stats->pages_copied + stats->pages_zeroed + stats->pages_dropped)
      << describe(*stats);
  EXPECT_GE(stats->scan_seconds, 0.0);
  EXPECT_GE(stats->copy_seconds, 0.0);
  return *stats;
}

// The region equals the image and the reference. Reads every page, so pagemap checks go
// before it.
void expect_restored(const RegionSnapshot& s, const RegionReference& reference) {
  EXPECT_EQ(s.first_difference(), std::nullopt);
  EXPECT_EQ(reference.first_mismatch(), std::nullopt);
}

RestoreStats restore_and_check(RegionSnapshot& s, const RegionReference& reference) {
  RestoreStats stats = restore_counted(s);
  SCOPED_TRACE(describe(stats));
  expect_restored(s, reference);
  return stats;
}

// What restore must examine after `written` distinct pages of a `pages`-page region were
// written.
void expect_examined(WatchEngine e, const RestoreStats& stats, std::size_t written,
                     std::size_t pages) {
  if (e == WatchEngine::everything) {
    EXPECT_EQ(stats.pages_examined, pages);
  } else if (exact(e)) {
    EXPECT_EQ(stats.pages_examined, written);
  } else {
    EXPECT_GE(stats.pages_examined, written);
  }
}

std::string engine_test_name(const testing::TestParamInfo<WatchEngine>& info) {
  std::string name(to_string(info.param));
  for (char& c : name) {
    if (c == '-') c = '_';
  }
  return name;
}

// Runs each test once per engine; an engine the kernel cannot support here is skipped
// with the tests' own finding (and one the library refuses regardless fails).
class SnapshotEngine : public testing::TestWithParam<WatchEngine> {
 protected:
  void SetUp() override { PAGESCAN_SKIP_UNLESS_ENGINE(GetParam()); }
  WatchEngine engine() const { return GetParam(); }
  SnapshotOptions options() const { return options_for(GetParam()); }
};

INSTANTIATE_TEST_SUITE_P(Engines, SnapshotEngine, testing::ValuesIn(kAllEngines), engine_test_name);

// The layout the zeroing tests use: data pages around zero runs of 3, 8 and 20 pages.
// Writing over every zero page leaves restore exactly those three runs to clear, whichever
// engine reports them (everything reports the data pages too, which are copied).
constexpr std::size_t kLayoutPages = 64;
const std::vector<std::pair<std::size_t, std::size_t>> kZeroRuns = {{1, 3}, {5, 8}, {14, 20}};

bool in_zero_run(std::size_t i) {
  for (auto [first, n] : kZeroRuns) {
    if (i >= first && i < first + n) return true;
  }
  return false;
}

// Fills the data pages, captures, writes over every zero page.
Result<RegionSnapshot> capture_zero_run_layout(char* base, RegionReference& reference,
                                               std::mt19937_64& rng,
                                               const SnapshotOptions& options) {
  for (std::size_t i = 0; i < kLayoutPages; ++i) {
    if (!in_zero_run(i)) reference.fill_page(i, rng);
  }
  auto s = RegionSnapshot::capture(base, kLayoutPages * page_size(), options);
  if (!s) return s;
  for (std::size_t i = 0; i < kLayoutPages; ++i) {
    if (in_zero_run(i)) std::memset(base + i * page_size(), 0x5a, page_size());
  }
  return s;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Round trips

TEST_P(SnapshotEngine, RandomWritesFromOnePageUpRestoreExactly) {
  for (std::size_t pages : {1u, 2u, 3u, 17u, 256u, 4099u}) {
    for (std::uint64_t seed : {1u, 2u, 3u}) {
      SCOPED_TRACE(testing::Message() << "seed " << seed << ", " << pages << " pages");
      std::mt19937_64 rng(seed * 1000 + pages);
      Mapping m = Mapping::anonymous(pages);
      RegionReference reference(m.data(), pages);
      reference.populate(rng, rng() % (pages + 1));
      auto s = RegionSnapshot::capture(m.data(), m.length(), options());
      ASSERT_TRUE(s) << s.error().message();
      EXPECT_EQ(s->engine(), engine());
      EXPECT_EQ(s->saved_pages(), reference.nonzero_pages());
      for (int round = 0; round < 4; ++round) {
        SCOPED_TRACE(testing::Message() << "round " << round);
        auto written = scribble(m.data(), pages, rng, 1 + rng() % pages);
        auto stats = restore_and_check(*s, reference);
        expect_examined(engine(), stats, written.size(), pages);
      }
      // Restore re-armed exactly what it put back: with no write since, nothing to do.
      auto again = restore_and_check(*s, reference);
      expect_examined(engine(), again, 0, pages);
    }
  }
}

TEST_P(SnapshotEngine, SparseWritesOverOneGibRestoreExactly) {
  const std::size_t pages = (1u << 30) / page_size();
  const std::uint64_t seed = 1u << 30;
  SCOPED_TRACE(testing::Message() << "seed " << seed);
  std::mt19937_64 rng(seed);
  Mapping m = Mapping::anonymous(pages, MAP_NORESERVE);
  ASSERT_NE(m.data(), nullptr);
  RegionReference reference(m.data(), pages);
  reference.populate(rng, 400);
  auto s = RegionSnapshot::capture(m.data(), m.length(), options());
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->saved_pages(), reference.nonzero_pages());
  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE(testing::Message() << "round " << round);
    auto written = scribble(m.data(), pages, rng, 300);
    auto stats = restore_and_check(*s, reference);
    expect_examined(engine(), stats, written.size(), pages);
  }
}

TEST_P(SnapshotEngine, ZerosOverDataAndDataOverZeroPagesRestore) {
  const std::size_t page = page_size();
  std::mt19937_64 rng(16);
  Mapping m = Mapping::anonymous(16);
  RegionReference reference(m.data(), 16);
  for (std::size_t i = 0; i < 8; ++i) reference.fill_page(i, rng);  // 8..15 untouched
  auto s = RegionSnapshot::capture(m.data(), m.length(), options());
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->saved_pages(), 8u);
  std::memset(m.page(0), 0, 4 * page);     // zeros over data
  std::memset(m.page(8), 0x77, 4 * page);  // data over never-touched pages
  auto stats = restore_and_check(*s, reference);
  // A run of 4 zero pages is below dontneed_min_pages (32): memset, not dropped.
  if (engine() == WatchEngine::everything) {
    EXPECT_EQ(stats.pages_copied, 8u) << describe(stats);
    EXPECT_EQ(stats.pages_zeroed, 8u) << describe(stats);
  } else if (exact(engine())) {
    EXPECT_EQ(stats.pages_copied, 4u) << describe(stats);
    EXPECT_EQ(stats.pages_zeroed, 4u) << describe(stats);
  }
  EXPECT_EQ(stats.pages_dropped, 0u) << describe(stats);
}

TEST_P(SnapshotEngine, TenThousandRestoreCyclesOnOneSnapshot) {
  const std::size_t pages = 64;
  const std::uint64_t seed = 10000;
  std::mt19937_64 rng(seed);
  Mapping m = Mapping::anonymous(pages);
  RegionReference reference(m.data(), pages);
  reference.populate(rng, 48);
  auto s = RegionSnapshot::capture(m.data(), m.length(), options());
  ASSERT_TRUE(s) << s.error().message();
  for (int cycle = 0; cycle < 10000; ++cycle) {
    auto written = scribble(m.data(), pages, rng, 1 + rng() % 8);
    auto stats = s->restore();
    ASSERT_TRUE(stats) << "seed " << seed << " cycle " << cycle << ": " << stats.error().message();
    ASSERT_EQ(s->first_difference(), std::nullopt) << "seed " << seed << " cycle " << cycle;
    ASSERT_EQ(reference.first_mismatch(), std::nullopt) << "seed " << seed << " cycle " << cycle;
    ASSERT_EQ(stats->pages_examined,
              stats->pages_copied + stats->pages_zeroed + stats->pages_dropped)
        << "seed " << seed << " cycle " << cycle << ": " << describe(*stats);
    if (exact(engine())) {
      ASSERT_EQ(stats->pages_examined, written.size()) << "seed " << seed << " cycle " << cycle;
    }
  }
}

TEST_P(SnapshotEngine, KernelWritesThroughReadAreRestored) {
  const std::size_t page = page_size();
  std::mt19937_64 rng(2);
  Mapping m = Mapping::anonymous(8);
  RegionReference reference(m.data(), 8);
  reference.fill_page(0, rng);
  reference.fill_page(1, rng);  // pages 2..7 untouched: saved as zero
  auto s = RegionSnapshot::capture(m.data(), m.length(), options());
  ASSERT_TRUE(s) << s.error().message();

  // read(2) from a pipe into [page / 2, 3 pages): pages 0, 1 and 2, written by the kernel.
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0) << std::strerror(errno);
  const std::size_t len = 5 * page / 2;
  std::string bytes(len, 'k');
  for (int cycle = 0; cycle < 3; ++cycle) {
    SCOPED_TRACE(testing::Message() << "cycle " << cycle);
    ASSERT_EQ(::write(fds[1], bytes.data(), len), static_cast<ssize_t>(len));
    char* target = m.data() + page / 2;
    if (engine() == WatchEngine::mprotect) {
      auto ready = prepare_for_kernel_write(*s, target, len);
      if (!ready) {
        ::close(fds[0]);
        ::close(fds[1]);
        GTEST_SKIP() << ready.error().message();
      }
    }
    ASSERT_EQ(::read(fds[0], target, len), static_cast<ssize_t>(len)) << std::strerror(errno);
    auto stats = restore_and_check(*s, reference);
    expect_examined(engine(), stats, 3, 8);
  }
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST_P(SnapshotEngine, PagedOutWrittenPagesAreRestored) {
  const std::size_t page = page_size();
  PAGESCAN_REQUIRE_FACT(Fact::swap);
  SwapSpace swap(64u << 20);
  ASSERT_TRUE(swap.ok()) << swap.why_not();
  std::mt19937_64 rng(21);
  Mapping m = Mapping::anonymous(32);
  RegionReference reference(m.data(), 32);
  for (std::size_t i = 0; i < 16; ++i) reference.fill_page(i, rng);  // 16..31 untouched
  auto s = RegionSnapshot::capture(m.data(), m.length(), options());
  ASSERT_TRUE(s) << s.error().message();

  // Written: 0..3 (data over data) and 16..19 (data over zero). Paged out: those and the
  // unwritten data pages 4..7.
  std::memset(m.page(0), 0x33, 4 * page);
  std::memset(m.page(16), 0x44, 4 * page);
  const std::vector<std::pair<std::size_t, std::size_t>> out = {{0, 8}, {16, 4}};
  for (auto [first, n] : out) {
    // MADV_PAGEOUT may give up on a page it finds busy: retry a few times.
    for (int attempt = 0; attempt < 5; ++attempt) {
      if (::madvise(m.page(first), n * page, MADV_PAGEOUT) != 0) {
        GTEST_SKIP() << "MADV_PAGEOUT: " << std::strerror(errno);
      }
    }
  }
  for (auto [first, n] : out) {
    for (std::size_t i = first; i < first + n; ++i) {
      if (!page_swapped(m.page(i))) {
        GTEST_SKIP() << "MADV_PAGEOUT left page " << i << " in memory (pagemap bit 62 clear)";
      }
    }
  }
  auto stats = restore_and_check(*s, reference);
  expect_examined(engine(), stats, 8, 32);
  if (exact(engine())) {
    EXPECT_EQ(stats.pages_copied, 4u) << describe(stats);
    EXPECT_EQ(stats.pages_zeroed + stats.pages_dropped, 4u) << describe(stats);
  }
}

TEST_P(SnapshotEngine, PagedOutUnwrittenPagesStayOut) {
  if (engine() == WatchEngine::everything) {
    GTEST_SKIP() << "the everything engine reports every page written, so restore copies all";
  }
  const std::size_t page = page_size();
  PAGESCAN_REQUIRE_FACT(Fact::swap);
  SwapSpace swap(64u << 20);
  ASSERT_TRUE(swap.ok()) << swap.why_not();
  std::mt19937_64 rng(22);
  Mapping m = Mapping::anonymous(16);
  RegionReference reference(m.data(), 16);
  for (std::size_t i = 0; i < 16; ++i) reference.fill_page(i, rng);
  auto s = RegionSnapshot::capture(m.data(), m.length(), options());
  ASSERT_TRUE(s) << s.error().message();
  for (int attempt = 0; attempt < 5; ++attempt) {
    if (::madvise(m.page(8), 8 * page, MADV_PAGEOUT) != 0) {
      GTEST_SKIP() << "MADV_PAGEOUT: " << std::strerror(errno);
    }
  }
  for (std::size_t i = 8; i < 16; ++i) {
    if (!page_swapped(m.page(i))) {
      GTEST_SKIP() << "MADV_PAGEOUT left page " << i << " in memory (pagemap bit 62 clear)";
    }
  }
  std::memset(m.page(0), 0x55, page);
  auto stats = s->restore();
  ASSERT_TRUE(stats) << stats.error().message();
  expect_examined(engine(), *stats, 1, 16);
  for (std::size_t i = 8; i < 16; ++i) {
    EXPECT_TRUE(page_swapped(m.page(i))) << "restore swapped in unwritten page " << i;
  }
  EXPECT_EQ(s->first_difference(), std::nullopt);
  EXPECT_EQ(reference.first_mismatch(), std::nullopt);
}

namespace {

// A THP-backed region: 4 PMD-mapped huge pages with data in some 4 KiB pages, captured
// with `keep_huge`, then 20 random pages written and restored twice over.
void thp_round_trip(WatchEngine engine, bool keep_huge) {
  const std::size_t page = page_size(), per_huge = kThpSize / page, pages = 4 * per_huge;
  const std::uint64_t seed = keep_huge ? 2 : 1;
  SCOPED_TRACE(testing::Message() << "seed " << seed);
  std::mt19937_64 rng(seed);
  Mapping m = Mapping::aligned(4 * kThpSize, kThpSize);
  ASSERT_NE(m.data(), nullptr);
  PAGESCAN_REQUIRE_FACT(Fact::thp);
  ASSERT_TRUE(make_thp(m)) << "no THP although " << kernel_fact(Fact::thp).finding;
  RegionReference reference(m.data(), pages);
  // make_thp wrote a byte at the start of each huge page: back to zero, as recorded.
  for (std::size_t off = 0; off < pages; off += per_huge) std::memset(m.page(off), 0, page);
  reference.populate(rng, 200);
  ASSERT_TRUE(is_thp_mapped(m.data())) << "writing into the huge pages split them";
  SnapshotOptions options = options_for(engine);
  options.watch.keep_huge_pages = keep_huge;
  auto s = RegionSnapshot::capture(m.data(), m.length(), options);
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->saved_pages(), reference.nonzero_pages());
  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE(testing::Message() << "round " << round);
    auto written = scribble(m.data(), pages, rng, 20);
    auto stats = restore_and_check(*s, reference);
    std::set<std::size_t> huge_written;
    for (std::size_t i : written) huge_written.insert(i / per_huge);
    if (engine == WatchEngine::everything) {
      EXPECT_EQ(stats.pages_examined, pages);
    } else if (keep_huge && exact(engine)) {
      // keep_huge_pages: a written huge page is reported, and restored, whole.
      EXPECT_EQ(stats.pages_examined, huge_written.size() * per_huge) << describe(stats);
    } else {
      expect_examined(engine, stats, written.size(), pages);
    }
  }
}

}  // namespace

TEST_P(SnapshotEngine, ThpBackedRegionRestoresPerPage) {
  thp_round_trip(engine(), false);
}

TEST_P(SnapshotEngine, ThpBackedRegionWithKeepHugePagesRestores) {
  thp_round_trip(engine(), true);
}

TEST_P(SnapshotEngine, SharedMemfdRegionRoundTrips) {
  const std::size_t page = page_size(), pages = 64;
  int fd = ::memfd_create("pagescan-snapshot-test", MFD_CLOEXEC);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(pages * page)), 0) << std::strerror(errno);
  void* p = ::mmap(nullptr, pages * page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  ASSERT_NE(p, MAP_FAILED) << std::strerror(errno);
  Mapping m(p, pages * page);
  const std::uint64_t seed = 64;
  SCOPED_TRACE(testing::Message() << "seed " << seed);
  std::mt19937_64 rng(seed);
  RegionReference reference(m.data(), pages);
  reference.populate(rng, 40);
  auto s = RegionSnapshot::capture(m.data(), m.length(), options());
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->saved_pages(), reference.nonzero_pages());
  for (int round = 0; round < 5; ++round) {
    SCOPED_TRACE(testing::Message() << "round " << round);
    auto written = scribble(m.data(), pages, rng, 1 + rng() % pages);
    auto stats = restore_and_check(*s, reference);
    expect_examined(engine(), stats, written.size(), pages);
    // MADV_DONTNEED would only unmap shared pages, leaving the file's data: never dropped.
    EXPECT_EQ(stats.pages_dropped, 0u) << describe(stats);
  }
}

TEST_P(SnapshotEngine, SharedMemfdZeroRunsAreZeroedNotDropped) {
  const std::size_t page = page_size();
  int fd = ::memfd_create("pagescan-snapshot-test", MFD_CLOEXEC);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(kLayoutPages * page)), 0);
  void* p = ::mmap(nullptr, kLayoutPages * page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ASSERT_NE(p, MAP_FAILED) << std::strerror(errno);
  Mapping m(p, kLayoutPages * page);
  std::mt19937_64 rng(3);
  RegionReference reference(m.data(), kLayoutPages);
  SnapshotOptions options = this->options();
  options.dontneed_min_pages = 8;
  auto s = capture_zero_run_layout(m.data(), reference, rng, options);
  ASSERT_TRUE(s) << s.error().message();
  auto stats = restore_and_check(*s, reference);
  EXPECT_EQ(stats.pages_zeroed, 31u) << describe(stats);
  EXPECT_EQ(stats.pages_dropped, 0u) << describe(stats);
  // The file itself holds the captured contents again, not only this mapping.
  std::vector<char> file(kLayoutPages * page);
  ASSERT_EQ(::pread(fd, file.data(), file.size(), 0), static_cast<ssize_t>(file.size()));
  ::close(fd);
  EXPECT_EQ(std::memcmp(file.data(), m.data(), file.size()), 0);
}

TEST_P(SnapshotEngine, ConcurrentRestoresOfIndependentSnapshots) {
  constexpr int kThreads = 4, kCycles = 300;
  const std::size_t pages = 128;
  std::mutex mutex;
  std::vector<std::string> failures;
  auto fail = [&](std::string what) {
    std::lock_guard lock(mutex);
    failures.push_back(std::move(what));
  };
  const WatchEngine e = engine();
  auto worker = [&](int t) {
    const std::uint64_t seed = 500 + static_cast<std::uint64_t>(t);
    const std::string who = "thread " + std::to_string(t) + " seed " + std::to_string(seed);
    std::mt19937_64 rng(seed);
    void* p = ::mmap(nullptr, pages * page_size(), PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return fail(who + ": mmap failed");
    Mapping m(p, pages * page_size());
    RegionReference reference(m.data(), pages);
    reference.populate(rng, 100);
    auto s = RegionSnapshot::capture(m.data(), m.length(), options_for(e));
    if (!s) return fail(who + ": capture: " + s.error().message());
    for (int cycle = 0; cycle < kCycles; ++cycle) {
      const std::string at = who + " cycle " + std::to_string(cycle);
      auto written = scribble(m.data(), pages, rng, 1 + rng() % 16);
      auto stats = s->restore();
      if (!stats) return fail(at + ": restore: " + stats.error().message());
      if (s->first_difference() || reference.first_mismatch()) return fail(at + ": differs");
      if (exact(e) && stats->pages_examined != written.size()) {
        return fail(at + ": examined " + std::to_string(stats->pages_examined) + ", wrote " +
                    std::to_string(written.size()));
      }
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(worker, t);
  for (auto& t : threads) t.join();
  for (const auto& f : failures) ADD_FAILURE() << f;
}

// ---------------------------------------------------------------------------------------
// What restore touches, and how it clears zero pages

TEST_P(SnapshotEngine, UnwrittenPagesAreNotTouchedByRestore) {
  if (engine() == WatchEngine::everything) {
    GTEST_SKIP() << "the everything engine reports every page written, so restore copies all";
  }
  std::mt19937_64 rng(32);
  Mapping m = Mapping::anonymous(32);
  RegionReference reference(m.data(), 32);
  for (std::size_t i = 0; i < 8; ++i) reference.fill_page(i, rng);
  for (std::size_t i = 8; i < 16; ++i) (void)m.read_page(i);  // the zero page; 16..31 untouched
  auto s = RegionSnapshot::capture(m.data(), m.length(), options());
  ASSERT_TRUE(s) << s.error().message();
  const std::set<std::size_t> written = {0, 9, 17};
  for (std::size_t i : written) m.write_page(i, 9);
  std::vector<std::uint64_t> before(32);
  for (std::size_t i = 0; i < 32; ++i) before[i] = pagemap_entry(m.page(i));
  auto stats = s->restore();
  ASSERT_TRUE(stats) << stats.error().message();
  EXPECT_EQ(stats->pages_examined, written.size()) << describe(*stats);
  for (std::size_t i = 0; i < 32; ++i) {
    // The whole pagemap entry (present, swapped, PFN, uffd-wp, exclusive) is unchanged.
    if (!written.count(i)) {
      EXPECT_EQ(pagemap_entry(m.page(i)), before[i]) << "page " << i;
    }
  }
  expect_restored(*s, reference);
}

TEST_P(SnapshotEngine, CaptureLeavesUntouchedPagesUnpopulated) {
  Mapping m = Mapping::anonymous(64);
  m.write_page(3);
  auto s = RegionSnapshot::capture(m.data(), m.length(), options());
  ASSERT_TRUE(s) << s.error().message();
  std::size_t faulted_in = 0;
  for (std::size_t i = 0; i < 64; ++i) {
    if (i != 3 && page_present(m.page(i))) ++faulted_in;
  }
  EXPECT_EQ(faulted_in, 0u) << "capture read (and so mapped the zero page into) " << faulted_in
                            << " of 63 never-touched pages";
  EXPECT_EQ(s->saved_pages(), 1u);
}

TEST_P(SnapshotEngine, DontneedMinPagesDropsLongZeroRunsAndZeroesShortOnes) {
  std::mt19937_64 rng(8);
  Mapping m = Mapping::anonymous(kLayoutPages);
  RegionReference reference(m.data(), kLayoutPages);
  SnapshotOptions options = this->options();
  options.dontneed_min_pages = 8;
  auto s = capture_zero_run_layout(m.data(), reference, rng, options);
  ASSERT_TRUE(s) << s.error().message();
  auto stats = restore_counted(*s);
  // Runs of 3 (< 8): memset; 8 and 20: MADV_DONTNEED.
  EXPECT_EQ(stats.pages_zeroed, 3u) << describe(stats);
  EXPECT_EQ(stats.pages_dropped, 28u) << describe(stats);
  EXPECT_EQ(stats.pages_copied, engine() == WatchEngine::everything ? 33u : 0u);
  for (std::size_t i = 1; i < 4; ++i) {
    EXPECT_TRUE(page_present(m.page(i))) << "page " << i;
  }
  for (std::size_t i = 5; i < 34; ++i) {
    if (in_zero_run(i)) {
      EXPECT_FALSE(page_present(m.page(i))) << "page " << i;
    }
  }
  expect_restored(*s, reference);
}

TEST_P(SnapshotEngine, KeepResidentBytesZeroesThePrefixAndDropsTheRest) {
  std::mt19937_64 rng(9);
  Mapping m = Mapping::anonymous(kLayoutPages);
  RegionReference reference(m.data(), kLayoutPages);
  SnapshotOptions options = this->options();
  options.keep_resident_bytes = 10 * page_size();
  auto s = capture_zero_run_layout(m.data(), reference, rng, options);
  ASSERT_TRUE(s) << s.error().message();
  // Pages 1..3 and 5..9 lie in the first 10 pages: zeroed whatever the run length; 10..12
  // and 14..33 lie beyond: dropped whatever the run length (dontneed_min_pages is moot).
  auto stats = restore_counted(*s);
  EXPECT_EQ(stats.pages_zeroed, 8u) << describe(stats);
  EXPECT_EQ(stats.pages_dropped, 23u) << describe(stats);
  for (std::size_t i = 0; i < kLayoutPages; ++i) {
    if (!in_zero_run(i)) continue;
    EXPECT_EQ(page_present(m.page(i)), i < 10) << "page " << i;
  }
  expect_restored(*s, reference);
}

TEST_P(SnapshotEngine, KeepResidentBytesZeroDropsEveryZeroRun) {
  std::mt19937_64 rng(10);
  Mapping m = Mapping::anonymous(kLayoutPages);
  RegionReference reference(m.data(), kLayoutPages);
  SnapshotOptions options = this->options();
  options.keep_resident_bytes = 0;
  auto s = capture_zero_run_layout(m.data(), reference, rng, options);
  ASSERT_TRUE(s) << s.error().message();
  auto stats = restore_counted(*s);
  EXPECT_EQ(stats.pages_zeroed, 0u) << describe(stats);
  EXPECT_EQ(stats.pages_dropped, 31u) << describe(stats);
  for (std::size_t i = 0; i < kLayoutPages; ++i) {
    if (in_zero_run(i)) {
      EXPECT_FALSE(page_present(m.page(i))) << "page " << i;
    }
  }
  expect_restored(*s, reference);
}

// ---------------------------------------------------------------------------------------
// Regions changed after capture: a clear error, nothing restored

namespace {

// Writes 0x66 over pages 0 and 2 of the snapshot, applies `change`, then expects restore
// to fail with invalid_argument and the written bytes to be still there (looked up at
// `now`, the region's address after the change).
template <class Change>
void expect_restore_refused(RegionSnapshot& s, char* base, Change change) {
  const std::size_t page = page_size();
  base[0] = 0x66;
  base[2 * page] = 0x66;
  char* now = change();
  if (now == nullptr) return;  // the change skipped the test
  auto stats = s.restore();
  ASSERT_FALSE(stats) << "restore of a changed region succeeded: " << describe(*stats);
  EXPECT_EQ(stats.error().kind(), ErrorKind::invalid_argument);
  EXPECT_EQ(stats.error().errno_value(), ENOENT) << stats.error().message();
  EXPECT_NE(stats.error().message().find("nothing was restored"), std::string::npos)
      << stats.error().message();
  EXPECT_EQ(now[0], 0x66);
  EXPECT_EQ(now[2 * page], 0x66);
}

// A region of `pages` data pages.
Mapping data_region(std::size_t pages) {
  Mapping m = Mapping::anonymous(pages);
  std::memset(m.data(), 0x11, m.length());
  return m;
}

}  // namespace

TEST_P(SnapshotEngine, GrowingTheRegionRefusesRestore) {
  // Capture holds the free page above the region with a placeholder, so mremap cannot
  // grow it in place; growing it anyway (MREMAP_MAYMOVE) moves it, and restore refuses.
  const std::size_t page = page_size(), pages = 8;
  Mapping room = Mapping::anonymous(2 * pages);
  char* p = room.data();
  ASSERT_EQ(room.unmap_pages(pages, pages), 0);
  std::memset(p, 0x11, pages * page);
  auto s = RegionSnapshot::capture(p, pages * page, options());
  ASSERT_TRUE(s) << s.error().message();
  char* last = p + (pages - 1) * page;
  EXPECT_EQ(::mremap(last, page, (pages + 1) * page, 0), MAP_FAILED)
      << "growing in place over the placeholder must fail";
  EXPECT_EQ(errno, ENOMEM);
  // Grow the VMA holding the last page (an engine may have split the region's VMA): it
  // moves, leaving a hole where the region's last page was.
  void* moved = MAP_FAILED;
  expect_restore_refused(*s, p, [&]() -> char* {
    moved = ::mremap(last, page, 4 * page, MREMAP_MAYMOVE);
    if (moved == MAP_FAILED) {
      ADD_FAILURE() << "mremap could not grow the region: " << std::strerror(errno);
      return nullptr;
    }
    room.disown_pages(pages - 1, 1);
    return p;
  });
  if (moved != MAP_FAILED) ::munmap(moved, 4 * page);
}

TEST_P(SnapshotEngine, UnmappingPartOfTheRegionRefusesRestore) {
  Mapping m = data_region(8);
  auto s = RegionSnapshot::capture(m.data(), m.length(), options());
  ASSERT_TRUE(s) << s.error().message();
  expect_restore_refused(*s, m.data(), [&] {
    m.unmap_pages(5, 1);
    return m.data();
  });
}

TEST_P(SnapshotEngine, FirstDifferenceCountsAPageUnmappedSinceCaptureAsDiffering) {
  // Reading an unmapped page would fault: first_difference() reports the first page no
  // longer mapped as differing, unless an earlier mapped page differs.
  const std::size_t page = page_size();
  Mapping m = data_region(8);
  {
    auto s = RegionSnapshot::capture(m.data(), m.length(), options());
    ASSERT_TRUE(s) << s.error().message();
    EXPECT_EQ(s->first_difference(), std::nullopt);
    ASSERT_EQ(m.unmap_pages(5, 1), 0);
    EXPECT_EQ(s->first_difference(), 5u);
    m.page(2)[7] = 0x66;  // an earlier difference wins
    EXPECT_EQ(s->first_difference(), 2u);
    EXPECT_EQ(m.unmap_pages(0, 1), 0);  // now the very first page is gone
    EXPECT_EQ(s->first_difference(), 0u);
  }
}

TEST_P(SnapshotEngine, ShrinkingTheRegionRefusesRestore) {
  Mapping m = data_region(8);
  auto s = RegionSnapshot::capture(m.data(), m.length(), options());
  ASSERT_TRUE(s) << s.error().message();
  expect_restore_refused(*s, m.data(), [&]() -> char* {
    if (::mremap(m.data(), m.length(), m.length() - 2 * page_size(), 0) == MAP_FAILED) {
      ADD_FAILURE() << "mremap could not shrink the region: " << std::strerror(errno);
      return nullptr;
    }
    m.disown_pages(m.pages() - 2, 2);
    return m.data();
  });
}

TEST_P(SnapshotEngine, MovingTheRegionRefusesRestore) {
  Mapping m = data_region(8);
  Mapping elsewhere = Mapping::anonymous(8);
  auto s = RegionSnapshot::capture(m.data(), m.length(), options());
  ASSERT_TRUE(s) << s.error().message();
  expect_restore_refused(*s, m.data(), [&]() -> char* {
    void* q =
        ::mremap(m.data(), m.length(), m.length(), MREMAP_MAYMOVE | MREMAP_FIXED, elsewhere.data());
    if (q == MAP_FAILED) {
      ADD_FAILURE() << "mremap could not move the region: " << std::strerror(errno);
      return nullptr;
    }
    m.release();  // the old range is gone; `elsewhere` now owns the moved pages
    return static_cast<char*>(q);
  });
}

namespace {

void neighbours_come_and_go(WatchEngine engine, bool keep_huge) {
  // The region is the middle third of one mapping (a slice of a heap, say); then the outer
  // thirds go away, then come back. Adjacent anonymous VMAs with the same flags merge and
  // split as that happens: none of it is the region growing, shrinking or moving.
  const std::size_t page = page_size(), pages = 8;
  Mapping whole = Mapping::anonymous(3 * pages);
  char* p = whole.data() + pages * page;
  std::mt19937_64 rng(7);
  RegionReference reference(p, pages);
  for (std::size_t i = 0; i < pages; ++i) reference.fill_page(i, rng);
  SnapshotOptions options = options_for(engine);
  options.watch.keep_huge_pages = keep_huge;
  auto s = RegionSnapshot::capture(p, pages * page, options);
  ASSERT_TRUE(s) << s.error().message();
  char* const sides[] = {p - pages * page, p + pages * page};
  std::memset(sides[0], 0x22, pages * page);
  std::memset(sides[1], 0x22, pages * page);
  // Writes at both edges of the region (an engine that unprotects a written page may
  // merge it with the neighbour).
  auto write_edges = [&] {
    p[0] = 1;
    p[pages * page - 1] = 1;
  };
  write_edges();
  {
    SCOPED_TRACE("neighbours mapped since before capture");
    restore_and_check(*s, reference);
  }
  for (char* side : sides) ASSERT_EQ(::munmap(side, pages * page), 0);
  write_edges();
  {
    SCOPED_TRACE("neighbours unmapped");
    restore_and_check(*s, reference);
  }
  for (char* side : sides) {
    void* n = ::mmap(side, pages * page, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    ASSERT_EQ(n, side) << std::strerror(errno);
    std::memset(side, 0x22, pages * page);
  }
  write_edges();
  {
    SCOPED_TRACE("neighbours mapped again");
    restore_and_check(*s, reference);
  }
}

}  // namespace

TEST_P(SnapshotEngine, NeighbouringMappingsDoNotRefuseRestore) {
  neighbours_come_and_go(engine(), false);
}

// keep_huge_pages leaves the region's THP flags alone, so no madvise sets its VMA apart.
TEST_P(SnapshotEngine, NeighbouringMappingsDoNotRefuseRestoreWithKeepHugePages) {
  neighbours_come_and_go(engine(), true);
}

// ---------------------------------------------------------------------------------------
// Capture: arguments, kinds of memory, accessors

TEST(SnapshotCapture, ZeroLengthIsInvalid) {
  Mapping m = Mapping::anonymous(1);
  auto s = RegionSnapshot::capture(m.data(), 0);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().kind(), ErrorKind::invalid_argument);
}

TEST(SnapshotCapture, RangeWithAHoleIsInvalid) {
  Mapping m = Mapping::anonymous(4);
  ASSERT_EQ(m.unmap_pages(2, 1), 0);  // the destructor unmaps only pages 0, 1 and 3
  auto s = RegionSnapshot::capture(m.data(), m.length());
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().kind(), ErrorKind::invalid_argument);
}

TEST(SnapshotCapture, FileMappingsAreInvalid) {
  for (bool shared : {false, true}) {
    SCOPED_TRACE(shared ? "MAP_SHARED file" : "MAP_PRIVATE file");
    Mapping m = Mapping::file(4, shared);
    auto s = RegionSnapshot::capture(m.data(), m.length());
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().kind(), ErrorKind::invalid_argument);
    EXPECT_NE(s.error().message().find("neither private anonymous"), std::string::npos)
        << s.error().message();
  }
}

TEST(SnapshotCapture, MixingMemfdAndAnonymousMemoryIsInvalid) {
  const std::size_t page = page_size();
  Mapping m = Mapping::anonymous(4);
  int fd = ::memfd_create("pagescan-snapshot-test", MFD_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(2 * page)), 0);
  void* p = ::mmap(m.page(2), 2 * page, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
  ::close(fd);
  ASSERT_EQ(p, m.page(2)) << std::strerror(errno);
  auto s = RegionSnapshot::capture(m.data(), m.length());
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().kind(), ErrorKind::invalid_argument);
  EXPECT_NE(s.error().message().find("mixes"), std::string::npos) << s.error().message();
}

TEST(SnapshotCapture, UnavailableEngineIsUnsupported) {
  for (WatchEngine e : kAllEngines) {
    auto ok = watch_engine_available(e);
    if (ok) continue;
    SCOPED_TRACE(std::string(to_string(e)));
    Mapping m = Mapping::anonymous(2);
    auto s = RegionSnapshot::capture(m.data(), m.length(), options_for(e));
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().kind(), ErrorKind::unsupported) << s.error().message();
    return;
  }
  GTEST_SKIP() << "every engine is available here";
}

TEST(SnapshotCapture, RegionIsRoundedOutToPages) {
  const std::size_t page = page_size();
  Mapping m = Mapping::anonymous(4);
  auto s = RegionSnapshot::capture(m.data() + 100, 2 * page);  // touches pages 0..2
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->base(), m.data());
  EXPECT_EQ(s->length(), 3 * page);
  EXPECT_EQ(s->saved_pages(), 0u);
}

TEST(SnapshotCapture, MovedSnapshotStillRestores) {
  std::mt19937_64 rng(5);
  Mapping m = Mapping::anonymous(8);
  RegionReference reference(m.data(), 8);
  for (std::size_t i = 0; i < 8; i += 2) reference.fill_page(i, rng);
  auto captured = RegionSnapshot::capture(m.data(), m.length());
  ASSERT_TRUE(captured) << captured.error().message();
  RegionSnapshot s = std::move(*captured);
  m.write_page(0, 0);
  m.write_page(1, 1);
  restore_and_check(s, reference);
}

// ---------------------------------------------------------------------------------------
// A part of the region replaced since capture, and fork()

namespace {

std::string snapshot_text(const Mapping& m) {
  char text[80];
  std::snprintf(text, sizeof text, "snapshot of [0x%" PRIx64 "-0x%" PRIx64 ")", m.start(), m.end());
  return text;
}

}  // namespace

// Pages unmapped and mapped afresh since capture are wholly mapped but no longer armed:
// uffd would report them written and then fail to re-arm them, having copied into them;
// mprotect would never see them written and leave them differing. Both engines refuse
// before writing anything. soft-dirty (a new VMA reads dirty throughout) and everything
// restore the new pages with the rest.
TEST_P(SnapshotEngine, PartOfTheRegionMappedAfreshRefusesRestoreOrIsRestored) {
  const std::size_t page = page_size();
  Mapping m = data_region(8);
  auto s = RegionSnapshot::capture(m.data(), m.length(), options());
  ASSERT_TRUE(s) << s.error().message();
  std::memset(m.page(1), 'w', page);
  void* fresh = ::mmap(m.page(4), 3 * page, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  ASSERT_EQ(fresh, m.page(4)) << std::strerror(errno);
  auto r = s->restore();
  if (exact(engine())) {
    ASSERT_FALSE(r) << "restore over a replaced part succeeded: " << describe(*r);
    EXPECT_EQ(r.error().kind(), ErrorKind::invalid_argument);
    EXPECT_EQ(r.error().errno_value(), ENOENT);
    EXPECT_EQ(
        r.error().message(),
        snapshot_text(m) + ": part of the region was replaced since capture; nothing was restored");
    EXPECT_EQ(m.page(1)[0], 'w') << "a refused restore restored a page";
    EXPECT_EQ(m.page(4)[0], 0) << "a refused restore wrote into the new pages";
  } else {
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(s->first_difference(), std::nullopt);
  }
}

// fork() after the library has answered questions about the parent: a child capturing
// and restoring a snapshot sees its own mappings (PROCMAP_QUERY on a /proc/self/maps fd
// opened in the child) and its own pages (a pagemap fd opened in the child). The child
// unmaps the upper half of a mapping the parent still holds whole, so a restore asking
// the parent sees the region "grown"; and it writes a page the parent never touched, so
// a capture scanning the parent would not save it.
TEST_P(SnapshotEngine, AForkedChildCapturesAndRestoresItsOwnMemory) {
  const std::size_t page = page_size();
  {
    // Free space above the region: restore asks PROCMAP_QUERY whether it grew.
    Mapping warm = data_region(4);
    ASSERT_EQ(warm.unmap_pages(2, 2), 0);
    auto s = RegionSnapshot::capture(warm.data(), 2 * page, options());
    ASSERT_TRUE(s) << s.error().message();
    warm.write_page(0, 3);
    auto r = s->restore();
    ASSERT_TRUE(r) << r.error().message();
  }
  Mapping m = Mapping::anonymous(16);
  m.write_pages(0, 4, 0x22);  // the parent's pages 4-7 stay untouched
  const WatchEngine e = engine();
  const std::string verdict = leaks::run_as_child([&]() -> std::string {
    if (m.unmap_pages(8, 8) != 0) return "munmap failed";
    m.write_page(5, 0x33);  // populated in the child only
    auto s = RegionSnapshot::capture(m.data(), 8 * page, options_for(e));
    if (!s) return "capture in the child: " + s.error().message();
    if (s->saved_pages() != 5) {
      return "the child's capture saved " + std::to_string(s->saved_pages()) +
             " pages instead of 5 (its own page 5 missed?)";
    }
    m.write_page(2, 0x44);
    m.write_page(5, 0x44);
    auto r = s->restore();
    if (!r) return "restore in the child: " + r.error().message();
    if (s->first_difference()) return "restore in the child left a difference";
    if (m.page(5)[0] != 0x33 || m.page(2)[0] != 0x22) return "restore put back wrong bytes";
    return "";
  });
  EXPECT_EQ(verdict, "");
}
