// Ports of test_simple(), mprotect_tests() and transact_test() from the kernel selftest
// pagemap_ioctl.c (kernel-pagemap-scan.md §7), run against pagescan: the written state of one
// page over 100 write/reset rounds, written state across a MAP_FIXED remap and mprotect round
// trips, and no write lost while threads write during a reset.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "pagescan/scan.hpp"
#include "support/conformance.hpp"
#include "support/conformance_wp.hpp"
#include "support/memory.hpp"

using namespace pagescan;
using namespace pagescan::test;

namespace {

constexpr Categories kW = Category::written;

std::vector<PageRegion> written(const Mapping& m) {
  return scan_or_fail(written_in(m.start(), m.end())).regions;
}

}  // namespace

// --- test_simple(): one page, 100 rounds of scan, reset, write, scan, reset. ---

class TestSimple : public PagemapIoctlTest {};

TEST_F(TestSimple, WrittenStateFollowsWriteAndResetFor100Iterations) {
  Mapping page = Mapping::anonymous(1);
  ASSERT_NO_FATAL_FAILURE(track(page));
  const std::vector<PageRegion> the_page = {region_of(page, 0, 1, kW)};
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(written(page), std::vector<PageRegion>{})
        << "iteration " << i << ": written, but should not be";
    ASSERT_TRUE(wp_addr_range(page.start(), page.length()));
    page.write_page(0, static_cast<char>(i));
    ASSERT_EQ(written(page), the_page) << "iteration " << i << ": not written, but should be";
    ASSERT_TRUE(wp_addr_range(page.start(), page.length()));
  }
}

// --- mprotect_tests(): two pages through a MAP_FIXED remap and mprotect round trips. ---

class MprotectTests : public PagemapIoctlTest {
 protected:
  void SetUp() override {
    PagemapIoctlTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    mem_ = Mapping::anonymous(2);
    ASSERT_NO_FATAL_FAILURE(track(mem_));
  }

  // The selftest's scan of both pages with vec 1, through scan_raw() and the bare ioctl,
  // and the complete answer.
  void expect_written(const std::vector<PageRegion>& expected) {
    RawAnswer got;
    ASSERT_TRUE(accepted_like_kernel(written_args(mem_.start(), mem_.end(), 1), &got));
    EXPECT_EQ(got.regions, expected);
    EXPECT_EQ(got.walk_end, mem_.end());
    EXPECT_EQ(written(mem_), expected);
  }
  std::vector<PageRegion> both() const { return {region_of(mem_, 0, 2, kW)}; }

  void mprotect_ok(std::size_t pages, int prot) {
    ASSERT_EQ(::mprotect(mem_.data(), pages * page_size(), prot), 0) << std::strerror(errno);
  }

  // Check 3's steps: replace the second page by a new mapping (registered and protected
  // again), write both pages between mprotect round trips that split and re-merge the VMA.
  void remap_and_write() {
    void* second = ::mmap(mem_.page(1), page_size(), PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    ASSERT_EQ(second, static_cast<void*>(mem_.page(1))) << std::strerror(errno);
    ASSERT_NO_FATAL_FAILURE(wp().init(second, page_size()));
    ASSERT_TRUE(wp_addr_range(mem_.page_addr(1), page_size()));

    ASSERT_NO_FATAL_FAILURE(mprotect_ok(1, PROT_NONE));
    ASSERT_NO_FATAL_FAILURE(mprotect_ok(2, PROT_READ));
    ASSERT_NO_FATAL_FAILURE(mprotect_ok(2, PROT_READ | PROT_WRITE));
    mem_.write_pages(0, 2, 2);
    ASSERT_NO_FATAL_FAILURE(mprotect_ok(1, PROT_NONE));
    ASSERT_NO_FATAL_FAILURE(mprotect_ok(1, PROT_READ));
    ASSERT_NO_FATAL_FAILURE(mprotect_ok(1, PROT_READ | PROT_WRITE));
  }

  Mapping mem_;
};

// 1. Writing both pages makes them one written region of two pages.
TEST_F(MprotectTests, BothPagesWritten) {
  mem_.write_pages(0, 2);
  expect_written(both());
}

// 2. A reset (wp_addr_range) leaves neither written.
TEST_F(MprotectTests, BothPagesAreNotWritten) {
  mem_.write_pages(0, 2);
  ASSERT_TRUE(wp_addr_range(mem_.start(), mem_.length()));
  expect_written({});
}

// 3. After the second page is replaced and both are written around mprotect round trips,
// both are written, and report as one region across the two VMAs (§3.3: merging crosses VMA
// boundaries).
TEST_F(MprotectTests, BothPagesWrittenAfterRemapAndMprotect) {
  mem_.write_pages(0, 2);
  ASSERT_TRUE(wp_addr_range(mem_.start(), mem_.length()));
  ASSERT_NO_FATAL_FAILURE(remap_and_write());
  expect_written(both());
}

// 4. A reset and another write of both pages makes them written again.
TEST_F(MprotectTests, ClearAndMakeThePagesWritten) {
  mem_.write_pages(0, 2);
  ASSERT_TRUE(wp_addr_range(mem_.start(), mem_.length()));
  ASSERT_NO_FATAL_FAILURE(remap_and_write());
  ASSERT_TRUE(wp_addr_range(mem_.start(), mem_.length()));
  expect_written({});
  mem_.write_pages(0, 2, 'A');
  expect_written(both());
}

// --- transact_test(): resets racing with writers must never lose a write. ---

class TransactTest : public PagemapIoctlTest {
 protected:
  static constexpr std::size_t kThreads = 6;
  static constexpr std::size_t kPagesPerThread = 32;
  static constexpr std::size_t kAccessPerThread = 8;
  static constexpr std::size_t kWritesPerIteration = kThreads * kAccessPerThread;
  static constexpr int kIterations = 1000;
  // 1000 iterations take well under a second alone, many seconds on a loaded machine
  // (each one waits for 7 threads at two barriers); this only turns a hang into a
  // failure, below ctest's TIMEOUT.
  static constexpr std::chrono::seconds kHangBound{600};

  void SetUp() override {
    PagemapIoctlTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    mem_ = Mapping::anonymous(kThreads * kPagesPerThread);
    ASSERT_NO_FATAL_FAILURE(track(mem_));
    mem_.write_pages(0, mem_.pages(), 0);
  }

  // The selftest's get_dirty_pages_reset(): a WPC over all pages with max_pages = all, as
  // a complete scan; every region must be exactly WRITTEN. Returns the pages reported.
  std::uint64_t reset_count() {
    auto r = scan_or_fail(reset_written_in(mem_.start(), mem_.end(), mem_.pages()));
    for (const PageRegion& region : r.regions) {
      if (region.categories != kW)
        ADD_FAILURE() << "wrong categories in " << ::testing::PrintToString(region);
    }
    return r.pages;
  }

  Mapping mem_;
};

// The first reset after writing every page reports them all (the selftest: more than 0).
TEST_F(TransactTest, FirstResetReportsWrittenPages) {
  auto r = scan_or_fail(reset_written_in(mem_.start(), mem_.end(), mem_.pages()));
  EXPECT_GT(r.pages, 0u);
  EXPECT_EQ(r.regions, std::vector<PageRegion>{region_of(mem_, 0, mem_.pages(), kW)});
}

// A second reset right after reports nothing.
TEST_F(TransactTest, SecondResetReportsNothing) {
  ASSERT_EQ(reset_count(), mem_.pages());
  EXPECT_EQ(reset_count(), 0u);
}

// 1000 rounds: six threads each write 8 of their 32 pages while the main thread resets,
// then a second reset follows. Each reset reports at most the 48 pages written, and the two
// together at least 48: fewer is a lost update. More is allowed (a write can fault again
// after a reset that raced with it) and is only reported, as the selftest does.
TEST_F(TransactTest, NoWriteIsLostWhenResetRacesWithWriters) {
  ASSERT_EQ(reset_count(), mem_.pages());
  ASSERT_EQ(reset_count(), 0u);

  std::barrier start(static_cast<std::ptrdiff_t>(kThreads + 1));
  std::barrier end(static_cast<std::ptrdiff_t>(kThreads + 1));
  std::atomic<bool> finish{false};
  std::atomic<std::uint64_t> extra_faults{0};
  std::atomic<std::uint64_t> short_fault_rounds{0};

  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < kThreads; ++t) {
    char* base = mem_.page(t * kPagesPerThread);
    threads.emplace_back([&, base] {
      rusage usage{};
      ::getrusage(RUSAGE_THREAD, &usage);
      long faults_before = usage.ru_minflt;
      for (;;) {
        start.arrive_and_wait();
        if (finish.load()) return;
        for (std::size_t i = 0; i < kAccessPerThread; ++i) {
          __atomic_add_fetch(reinterpret_cast<int*>(base + i * page_size()), 1, __ATOMIC_SEQ_CST);
        }
        end.arrive_and_wait();
        ::getrusage(RUSAGE_THREAD, &usage);
        // Every page was protected when the round began, so each write faults at least once.
        auto faults = static_cast<std::uint64_t>(usage.ru_minflt - faults_before);
        faults_before = usage.ru_minflt;
        if (faults < kAccessPerThread) {
          ++short_fault_rounds;
        } else {
          extra_faults += faults - kAccessPerThread;
        }
      }
    });
  }

  std::uint64_t extra_pages = 0;
  int iterations = 0;
  std::string failure;
  const auto hang = std::chrono::steady_clock::now() + kHangBound;
  for (; iterations < kIterations && failure.empty(); ++iterations) {
    if (std::chrono::steady_clock::now() > hang) {
      failure = "hang: only " + std::to_string(iterations) + " iterations ran in " +
                std::to_string(kHangBound.count()) + " s";
      break;
    }
    start.arrive_and_wait();
    std::uint64_t during = reset_count();
    end.arrive_and_wait();
    std::uint64_t after = reset_count();
    std::uint64_t total = during + after;
    if (during > kWritesPerIteration || after > kWritesPerIteration) {
      failure = "iteration " + std::to_string(iterations) + ": a reset reported " +
                std::to_string(std::max(during, after)) + " pages, but only " +
                std::to_string(kWritesPerIteration) + " were written";
    } else if (total < kWritesPerIteration) {
      failure = "lost update in iteration " + std::to_string(iterations) + ": " +
                std::to_string(total) + " pages reported, " + std::to_string(kWritesPerIteration) +
                " written";
    } else {
      extra_pages += total - kWritesPerIteration;
    }
  }
  finish = true;
  start.arrive_and_wait();
  for (std::thread& t : threads) t.join();

  EXPECT_EQ(failure, "");
  EXPECT_EQ(short_fault_rounds.load(), 0u) << "a thread's 8 writes to protected pages took "
                                              "fewer than 8 faults";
  RecordProperty("iterations", iterations);
  RecordProperty("extra_pages", std::to_string(extra_pages));
  RecordProperty("extra_thread_faults", std::to_string(extra_faults.load()));
  std::printf("transact_test: %d iterations, extra pages %llu (%.1f%%), extra thread faults %llu\n",
              iterations, static_cast<unsigned long long>(extra_pages),
              100.0 * static_cast<double>(extra_pages) /
                  static_cast<double>(std::max(iterations, 1) * kWritesPerIteration),
              static_cast<unsigned long long>(extra_faults.load()));
}
