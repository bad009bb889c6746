// The mprotect write-tracking engine on the real kernel: protection states it leaves in
// /proc/self/maps, the kernel-write helper, SIGSEGV chaining to earlier handlers, several
// watches and threads, and no write lost to a racing collect.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <csetjmp>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "pagescan/watch.hpp"
#include "support/memory.hpp"
#include "support/watch_helpers.hpp"

using namespace pagescan;
using namespace pagescan::test;

namespace {

constexpr WatchOptions kMprotect{.engine = WatchEngine::mprotect};

// [first, first + count) pages of m.
PageRange pages(const Mapping& m, std::size_t first, std::size_t count) {
  return PageRange{m.page_addr(first), m.page_addr(first + count)};
}

// The permissions ("rw-p") of the VMA holding page i of m.
std::string perms(const Mapping& m, std::size_t i) {
  auto vma = vma_containing(m.page_addr(i));
  return vma ? vma->perms : "unmapped";
}

Result<WriteWatch> watch(const Mapping& m) {
  return WriteWatch::create(m.data(), m.length(), kMprotect);
}

// A SIGSEGV handler installed by "the application" before any watch: it records the
// fault and jumps back to the test.
sigjmp_buf g_jump;
std::atomic<std::uint64_t> g_fault_addr{0};
std::atomic<int> g_fault_code{0};
std::atomic<int> g_plain_faults{0};

void test_siginfo_handler(int, siginfo_t* info, void*) {
  g_fault_addr = reinterpret_cast<std::uint64_t>(info->si_addr);
  g_fault_code = info->si_code;
  siglongjmp(g_jump, 1);
}

void test_plain_handler(int) {
  ++g_plain_faults;
  siglongjmp(g_jump, 1);
}

// Installs a SIGSEGV handler for the scope and puts the old one back.
class ScopedSegvHandler {
 public:
  explicit ScopedSegvHandler(void (*siginfo)(int, siginfo_t*, void*)) {
    struct sigaction sa = {};
    sa.sa_sigaction = siginfo;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    EXPECT_EQ(::sigaction(SIGSEGV, &sa, &old_), 0);
  }
  explicit ScopedSegvHandler(void (*plain)(int)) {
    struct sigaction sa = {};
    sa.sa_handler = plain;
    sigemptyset(&sa.sa_mask);
    EXPECT_EQ(::sigaction(SIGSEGV, &sa, &old_), 0);
  }
  ~ScopedSegvHandler() { ::sigaction(SIGSEGV, &old_, nullptr); }
  ScopedSegvHandler(const ScopedSegvHandler&) = delete;

 private:
  struct sigaction old_ = {};
};

// The SIGSEGV handler in force now.
void* current_segv_handler() {
  struct sigaction sa = {};
  ::sigaction(SIGSEGV, nullptr, &sa);
  return (sa.sa_flags & SA_SIGINFO) ? reinterpret_cast<void*>(sa.sa_sigaction)
                                    : reinterpret_cast<void*>(sa.sa_handler);
}

// Writes one byte at `p`; true if it faulted into the test handler instead.
bool write_faults(volatile char* p) {
  g_fault_addr = 0;
  if (sigsetjmp(g_jump, 1) == 0) {
    *p = 1;
    return false;
  }
  return true;
}

bool read_faults(volatile char* p) {
  g_fault_addr = 0;
  if (sigsetjmp(g_jump, 1) == 0) {
    (void)*p;
    return false;
  }
  return true;
}

}  // namespace

TEST(MprotectWatch, CreateArmsTheRegionReadOnlyAndForgetsEarlierWrites) {
  Mapping m = Mapping::anonymous(4);
  m.write_pages(0, 4);
  auto w = watch(m);
  ASSERT_TRUE(w) << w.error().message();
  EXPECT_EQ(w->engine(), WatchEngine::mprotect);
  EXPECT_EQ(perms(m, 0), "r--p");
  EXPECT_EQ(perms(m, 3), "r--p");
  auto h = w->collect(m.data(), m.length());
  ASSERT_TRUE(h) << h.error().message();
  EXPECT_TRUE(h->ranges.empty());
  EXPECT_EQ(h->pages, 0u);
}

TEST(MprotectWatch, WrittenPagesAreReportedAscendingThenRearmed) {
  Mapping m = Mapping::anonymous(8);
  auto w = watch(m);
  ASSERT_TRUE(w) << w.error().message();
  m.write_page(5);
  m.write_page(2);
  m.write_page(1);
  EXPECT_EQ(perms(m, 5), "rw-p");  // the handler let the write through
  auto h = w->collect(m.data(), m.length());
  ASSERT_TRUE(h) << h.error().message();
  EXPECT_TRUE(well_formed(*h, m.start(), m.end()));
  EXPECT_EQ(h->ranges, (std::vector<PageRange>{pages(m, 1, 2), pages(m, 5, 1)}));
  EXPECT_EQ(h->pages, 3u);
  EXPECT_FALSE(h->more);
  EXPECT_EQ(perms(m, 5), "r--p");
  auto again = w->collect(m.data(), m.length());
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_TRUE(again->ranges.empty());
  m.write_page(5);
  auto third = w->collect(m.data(), m.length());
  ASSERT_TRUE(third) << third.error().message();
  EXPECT_EQ(third->ranges, std::vector<PageRange>{pages(m, 5, 1)});
}

TEST(MprotectWatch, CollectWithoutResetLeavesPagesWritten) {
  Mapping m = Mapping::anonymous(4);
  auto w = watch(m);
  ASSERT_TRUE(w) << w.error().message();
  m.write_page(2);
  for (int round = 0; round < 2; ++round) {
    auto h = w->collect(m.data(), m.length(), CollectOptions{.reset = false});
    ASSERT_TRUE(h) << h.error().message();
    EXPECT_EQ(h->ranges, std::vector<PageRange>{pages(m, 2, 1)}) << "round " << round;
  }
  EXPECT_EQ(perms(m, 2), "rw-p");
}

TEST(MprotectWatch, StraddlingWriteMarksBothPages) {
  Mapping m = Mapping::anonymous(4);
  auto w = watch(m);
  ASSERT_TRUE(w) << w.error().message();
  // One unaligned 8-byte store across the boundary of pages 1 and 2: it faults on one
  // page, is retried, faults on the other, and lands whole.
  const std::uint64_t value = 0x0123456789abcdefull;
  char* at = m.page(2) - 4;
  std::memcpy(at, &value, sizeof value);
  std::uint64_t back = 0;
  std::memcpy(&back, at, sizeof back);
  EXPECT_EQ(back, value);
  auto h = w->collect(m.data(), m.length());
  ASSERT_TRUE(h) << h.error().message();
  EXPECT_EQ(h->ranges, std::vector<PageRange>{pages(m, 1, 2)});
}

TEST(MprotectWatch, MaxPagesRearmsOnlyTheReturnedPages) {
  Mapping m = Mapping::anonymous(12);
  auto w = watch(m);
  ASSERT_TRUE(w) << w.error().message();
  m.write_pages(0, 10);
  auto first = w->collect(m.data(), m.length(), CollectOptions{.max_pages = 4});
  ASSERT_TRUE(first) << first.error().message();
  EXPECT_EQ(first->ranges, std::vector<PageRange>{pages(m, 0, 4)});
  EXPECT_EQ(first->pages, 4u);
  EXPECT_TRUE(first->more);
  EXPECT_EQ(perms(m, 3), "r--p");  // returned: re-armed
  EXPECT_EQ(perms(m, 4), "rw-p");  // not returned: still written
  EXPECT_EQ(perms(m, 9), "rw-p");
  auto rest = w->collect(m.data(), m.length());
  ASSERT_TRUE(rest) << rest.error().message();
  EXPECT_EQ(rest->ranges, std::vector<PageRange>{pages(m, 4, 6)});
  EXPECT_FALSE(rest->more);
}

TEST(MprotectWatch, BudgetEqualToWrittenPagesReportsNoMore) {
  Mapping m = Mapping::anonymous(130);  // three bitmap words
  auto w = watch(m);
  ASSERT_TRUE(w) << w.error().message();
  m.write_page(3);
  m.write_page(64);
  m.write_page(129);
  auto h = w->collect(m.data(), m.length(), CollectOptions{.max_pages = 3});
  ASSERT_TRUE(h) << h.error().message();
  EXPECT_EQ(h->pages, 3u);
  EXPECT_FALSE(h->more);
  m.write_page(3);
  m.write_page(129);
  auto cut = w->collect(m.data(), m.length(), CollectOptions{.max_pages = 1});
  ASSERT_TRUE(cut) << cut.error().message();
  EXPECT_EQ(cut->ranges, std::vector<PageRange>{pages(m, 3, 1)});
  EXPECT_TRUE(cut->more) << "page 129, two bitmap words later, is still written";
}

TEST(MprotectWatch, SubRangeCollectIsClippedAndRearmsOnlyItself) {
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

TEST(MprotectWatch, SubRangeResetRearmsOnlyThatRange) {
  Mapping m = Mapping::anonymous(8);
  auto w = watch(m);
  ASSERT_TRUE(w) << w.error().message();
  m.write_pages(0, 8);
  ASSERT_TRUE(w->reset(m.page(2), 3 * page_size()));
  EXPECT_EQ(perms(m, 2), "r--p");
  EXPECT_EQ(perms(m, 5), "rw-p");
  m.write_page(3);  // after the reset: reported
  auto h = w->collect(m.data(), m.length());
  ASSERT_TRUE(h) << h.error().message();
  EXPECT_EQ(h->ranges, (std::vector<PageRange>{pages(m, 0, 2), pages(m, 3, 1), pages(m, 5, 3)}));
}

TEST(MprotectWatch, FoldBackMakesTheHarvestWrittenAgain) {
  Mapping m = Mapping::anonymous(8);
  auto w = watch(m);
  ASSERT_TRUE(w) << w.error().message();
  m.write_page(1);
  m.write_pages(4, 2);
  auto h = w->collect(m.data(), m.length());
  ASSERT_TRUE(h) << h.error().message();
  ASSERT_EQ(h->pages, 3u);
  EXPECT_EQ(perms(m, 4), "r--p");
  ASSERT_TRUE(w->fold_back(*h));
  EXPECT_EQ(perms(m, 4), "rw-p");  // written pages need no fault
  EXPECT_EQ(perms(m, 2), "r--p");
  auto again = w->collect(m.data(), m.length());
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(again->ranges, h->ranges);
  auto empty = w->collect(m.data(), m.length());
  ASSERT_TRUE(empty) << empty.error().message();
  EXPECT_TRUE(empty->ranges.empty());
}

// The kernel does not fault on our behalf: read(2) into an armed page fails with EFAULT
// and writes nothing; after prepare_for_kernel_write() it succeeds and is reported.
TEST(MprotectWatch, KernelWriteNeedsThePrepareHelper) {
  Mapping m = Mapping::anonymous(4);
  auto w = watch(m);
  ASSERT_TRUE(w) << w.error().message();
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const char text[] = "kernel";
  ASSERT_EQ(::write(fds[1], text, sizeof text), static_cast<ssize_t>(sizeof text));
  errno = 0;
  EXPECT_EQ(::read(fds[0], m.page(2), sizeof text), -1);
  EXPECT_EQ(errno, EFAULT);
  auto none = w->collect(m.data(), m.length());
  ASSERT_TRUE(none) << none.error().message();
  EXPECT_TRUE(none->ranges.empty());

  auto ok = w->prepare_for_kernel_write(m.page(2), sizeof text);
  ASSERT_TRUE(ok) << ok.error().message();
  EXPECT_EQ(::read(fds[0], m.page(2), sizeof text), static_cast<ssize_t>(sizeof text));
  EXPECT_STREQ(m.page(2), text);
  ::close(fds[0]);
  ::close(fds[1]);
  auto h = w->collect(m.data(), m.length());
  ASSERT_TRUE(h) << h.error().message();
  EXPECT_EQ(h->ranges, std::vector<PageRange>{pages(m, 2, 1)});
  EXPECT_EQ(perms(m, 2), "r--p");
}

TEST(MprotectWatch, FaultsOutsideTheRegionReachThePreviousSiginfoHandler) {
  ScopedSegvHandler app(test_siginfo_handler);
  Mapping m = Mapping::anonymous(4);
  Mapping readonly = Mapping::anonymous(1, 0, PROT_READ);
  Mapping none = Mapping::anonymous(1, 0, PROT_NONE);
  auto w = watch(m);
  ASSERT_TRUE(w) << w.error().message();
  EXPECT_NE(current_segv_handler(), reinterpret_cast<void*>(test_siginfo_handler));

  EXPECT_TRUE(write_faults(readonly.data()));  // SEGV_ACCERR outside every region
  EXPECT_EQ(g_fault_addr.load(), readonly.start());
  EXPECT_EQ(g_fault_code.load(), SEGV_ACCERR);
  EXPECT_TRUE(read_faults(none.data()));  // a read fault is never ours
  EXPECT_EQ(g_fault_addr.load(), none.start());
  Mapping gone = Mapping::anonymous(1);
  const std::uint64_t unmapped = gone.start();
  gone = Mapping();
  EXPECT_TRUE(write_faults(reinterpret_cast<char*>(unmapped)));  // SEGV_MAPERR
  EXPECT_EQ(g_fault_code.load(), SEGV_MAPERR);
  g_fault_code = 0;
  if (sigsetjmp(g_jump, 1) == 0) ::raise(SIGSEGV);  // sent, not a fault
  EXPECT_EQ(g_fault_code.load(), SI_TKILL);

  // The watch still works after the handler jumped out of a chained fault.
  EXPECT_FALSE(write_faults(m.page(1)));
  auto h = w->collect(m.data(), m.length());
  ASSERT_TRUE(h) << h.error().message();
  EXPECT_EQ(h->ranges, std::vector<PageRange>{pages(m, 1, 1)});
}

TEST(MprotectWatch, FaultsOutsideTheRegionReachThePreviousPlainHandler) {
  ScopedSegvHandler app(test_plain_handler);
  Mapping m = Mapping::anonymous(2);
  Mapping readonly = Mapping::anonymous(1, 0, PROT_READ);
  auto w = watch(m);
  ASSERT_TRUE(w) << w.error().message();
  const int before = g_plain_faults.load();
  EXPECT_TRUE(write_faults(readonly.data()));
  EXPECT_EQ(g_plain_faults.load(), before + 1);
  EXPECT_FALSE(write_faults(m.data()));
  EXPECT_EQ(g_plain_faults.load(), before + 1);
}

// With no handler before ours (SIG_DFL, or SIG_IGN, which the kernel overrides for a
// real fault), a fault that is not ours kills the process with SIGSEGV, as without us.
// Runs in a death-test child: a watch lives, one of its pages is written (our fault),
// then an unwatched read-only page is written (not ours).
[[noreturn]] void write_outside_the_watch(void (*disposition)(int)) {
  rlimit no_core = {};
  ::setrlimit(RLIMIT_CORE, &no_core);
  ::signal(SIGSEGV, disposition);
  Mapping m = Mapping::anonymous(2);
  Mapping readonly = Mapping::anonymous(1, 0, PROT_READ);
  auto w = watch(m);
  if (!w) ::_exit(3);
  m.write_page(0);
  *static_cast<volatile char*>(readonly.data()) = 1;
  ::_exit(0);
}

// With no handler before ours (SIG_DFL, or SIG_IGN, which the kernel overrides for a
// real fault), a fault that is not ours kills the process with SIGSEGV, as without us.
TEST(MprotectWatchDeathTest, UnhandledFaultStillKillsWithSigsegv) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(write_outside_the_watch(SIG_DFL), testing::KilledBySignal(SIGSEGV), "");
  EXPECT_EXIT(write_outside_the_watch(SIG_IGN), testing::KilledBySignal(SIGSEGV), "");
}

// A SIGSEGV sent with kill() while the previous disposition was SIG_IGN stays ignored.
[[noreturn]] void raise_with_segv_ignored() {
  ::signal(SIGSEGV, SIG_IGN);
  Mapping m = Mapping::anonymous(2);
  auto w = watch(m);
  if (!w) ::_exit(3);
  ::raise(SIGSEGV);
  m.write_page(1);
  ::_exit(0);
}

TEST(MprotectWatchDeathTest, SentSigsegvStaysIgnoredWhenPreviousWasIgnore) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(raise_with_segv_ignored(), testing::ExitedWithCode(0), "");
}

TEST(MprotectWatch, DestroyRestoresProtectionAndThePreviousHandler) {
  ScopedSegvHandler app(test_siginfo_handler);
  Mapping m = Mapping::anonymous(6);
  {
    auto w = watch(m);
    ASSERT_TRUE(w) << w.error().message();
    m.write_page(3);
    EXPECT_EQ(perms(m, 0), "r--p");
    EXPECT_NE(current_segv_handler(), reinterpret_cast<void*>(test_siginfo_handler));
  }
  auto vma = vma_containing(m.start());
  ASSERT_TRUE(vma);
  EXPECT_EQ(vma->perms, "rw-p");
  EXPECT_LE(vma->start, m.start());
  EXPECT_GE(vma->end, m.end()) << "the region is one read-write VMA again";
  EXPECT_EQ(current_segv_handler(), reinterpret_cast<void*>(test_siginfo_handler));
  EXPECT_FALSE(write_faults(m.page(0)));
}

TEST(MprotectWatch, OriginalProtectionIsKeptAndRestored) {
  Mapping m = Mapping::anonymous(4, 0, PROT_READ | PROT_WRITE | PROT_EXEC);
  ASSERT_EQ(perms(m, 0), "rwxp");
  {
    auto w = watch(m);
    ASSERT_TRUE(w) << w.error().message();
    EXPECT_EQ(perms(m, 0), "r-xp");
    m.write_page(1);
    EXPECT_EQ(perms(m, 1), "rwxp");
  }
  EXPECT_EQ(perms(m, 0), "rwxp");
  EXPECT_EQ(perms(m, 3), "rwxp");
}

TEST(MprotectWatch, ReadOnlyMemoryIsRefusedWithTheReason) {
  Mapping m = Mapping::anonymous(2, 0, PROT_READ);
  auto w = watch(m);
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().kind(), ErrorKind::invalid_argument);
  EXPECT_NE(w.error().message().find("not writable"), std::string::npos) << w.error().message();
  EXPECT_EQ(perms(m, 0), "r--p");
}

TEST(MprotectWatch, OverlappingWatchIsRefusedAndTheFirstKeepsWorking) {
  Mapping m = Mapping::anonymous(8);
  auto first = watch(m);
  ASSERT_TRUE(first) << first.error().message();
  auto second = WriteWatch::create(m.page(4), 4 * page_size(), kMprotect);
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().message().find("overlaps"), std::string::npos)
      << second.error().message();
  m.write_page(6);
  auto h = first->collect(m.data(), m.length());
  ASSERT_TRUE(h) << h.error().message();
  EXPECT_EQ(h->ranges, std::vector<PageRange>{pages(m, 6, 1)});
}

// Two threads, each with its own watch, writing and collecting at the same time: every
// round reports exactly that thread's writes.
TEST(MprotectWatch, TwoWatchesInTwoThreadsTrackIndependently) {
  constexpr std::size_t kPages = 64;
  constexpr int kRounds = 150;
  auto run = [](std::size_t phase, std::string* failure) {
    Mapping m = Mapping::anonymous(kPages);
    auto w = watch(m);
    if (!w) {
      *failure = w.error().message();
      return;
    }
    for (int round = 0; round < kRounds && failure->empty(); ++round) {
      std::vector<PageRange> expected;
      for (std::size_t p = 0; p < kPages; ++p) {
        if ((p + phase + static_cast<std::size_t>(round)) % 3 != 0) continue;
        m.write_page(p);
        expected.push_back(pages(m, p, 1));
      }
      auto h = w->collect(m.data(), m.length());
      if (!h) {
        *failure = h.error().message();
      } else if (h->ranges != expected) {
        *failure = "round " + std::to_string(round) + ": " + std::to_string(h->pages) +
                   " pages reported, expected " + std::to_string(expected.size());
      }
    }
  };
  std::string failure_a, failure_b;
  std::thread a(run, 0, &failure_a), b(run, 1, &failure_b);
  a.join();
  b.join();
  EXPECT_EQ(failure_a, "");
  EXPECT_EQ(failure_b, "");
}

// A checkpointer's view of the race contract: a writer thread stores sequence numbers
// into random pages while the main thread collects with reset and copies each reported
// page. Once the writer stops, one last collect must leave every copy equal to memory;
// a write lost by a racing collect would leave a stale copy.
TEST(MprotectWatch, WritesRacingCollectsAreNeverLost) {
  constexpr std::size_t kPages = 32;
  Mapping m = Mapping::anonymous(kPages);
  auto w = watch(m);
  ASSERT_TRUE(w) << w.error().message();
  auto word = [&](std::size_t p) {
    return std::atomic_ref<std::uint64_t>(*reinterpret_cast<std::uint64_t*>(m.page(p)));
  };
  std::vector<std::uint64_t> copy(kPages, 0);
  auto harvest = [&]() -> bool {
    auto h = w->collect(m.data(), m.length());
    EXPECT_TRUE(h) << h.error().message();
    if (!h) return false;
    for (std::uint64_t a : harvest_pages(*h)) {
      const std::size_t p = (a - m.start()) / page_size();
      copy[p] = word(p).load();
    }
    return true;
  };
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> writes{0};  // the writer's count: each write stores it
  std::thread writer([&] {
    std::mt19937_64 rng(20240611);  // fixed seed: replayable
    while (!stop.load(std::memory_order_relaxed)) {
      const std::uint64_t n = writes.load(std::memory_order_relaxed) + 1;
      word(rng() % kPages).store(n);
      writes.store(n, std::memory_order_relaxed);
    }
  });
  // A fixed number of collects, each after the writer has written since the last one (an
  // event, not a time window): every collect races with writes however the threads are
  // scheduled.
  constexpr int kCollects = 200;
  int collects = 0;
  for (std::uint64_t seen = 0; collects < kCollects; ++collects) {
    while (writes.load(std::memory_order_relaxed) == seen) std::this_thread::yield();
    seen = writes.load(std::memory_order_relaxed);
    if (!harvest()) break;
  }
  stop = true;
  writer.join();
  ASSERT_TRUE(harvest());
  std::size_t stale = 0;
  for (std::size_t p = 0; p < kPages; ++p) {
    if (copy[p] != word(p).load()) ++stale;
  }
  EXPECT_EQ(stale, 0u) << "pages whose last write was never reported, after " << writes.load()
                       << " writes and " << collects << " collects (seed 20240611)";
  EXPECT_EQ(collects, kCollects) << "a collect failed";
}

// The child of fork() inherits the bitmap and the protections: it sees what was written
// before the fork and then tracks its own writes; the parent does not see the child's.
TEST(MprotectWatch, ForkedChildTracksItsOwnWrites) {
  Mapping m = Mapping::anonymous(4);
  auto w = watch(m);
  ASSERT_TRUE(w) << w.error().message();
  m.write_page(1);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto inherited = w->collect(m.data(), m.length());
    if (!inherited || inherited->ranges != std::vector<PageRange>{pages(m, 1, 1)}) ::_exit(2);
    m.write_page(3);
    auto own = w->collect(m.data(), m.length());
    if (!own || own->ranges != std::vector<PageRange>{pages(m, 3, 1)}) ::_exit(3);
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status)) << "child status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 0) << "2: inherited state wrong, 3: child's write not tracked";
  auto h = w->collect(m.data(), m.length());
  ASSERT_TRUE(h) << h.error().message();
  EXPECT_EQ(h->ranges, std::vector<PageRange>{pages(m, 1, 1)});
}

// "watch of [0x...-0x...)" over m, for messages.
std::string watch_text(const Mapping& m) {
  char text[80];
  std::snprintf(text, sizeof text, "watch of [0x%" PRIx64 "-0x%" PRIx64 ")", m.start(), m.end());
  return text;
}

std::string engine_text(const Mapping& m) {
  return "mprotect engine: " + watch_text(m);
}

// After a partial munmap, re-arming would fail at the hole: collect and reset say the
// region is no longer wholly mapped, and change nothing (the written pages stay writable
// and written, so a later collect still reports them).
TEST(MprotectWatch, CollectAndResetOfARegionUnmappedInPartSaySoAndChangeNothing) {
  Mapping m = Mapping::anonymous(8);
  auto w = watch(m);
  ASSERT_TRUE(w) << w.error().message();
  m.write_page(1);
  m.write_page(6);
  ASSERT_EQ(m.unmap_pages(4, 1), 0);
  for (const char* call : {"collect", "reset"}) {
    SCOPED_TRACE(call);
    Result<void> failed = rearm(*w, call, m.data(), m.length());
    ASSERT_FALSE(failed);
    EXPECT_EQ(
        failed.error().message(),
        watch_text(m) + ": " + call + ": the region is no longer wholly mapped (unmapped since)");
    EXPECT_EQ(failed.error().errno_value(), ENOENT);
    EXPECT_EQ(failed.error().kind(), ErrorKind::invalid_argument);
    EXPECT_EQ(perms(m, 1), "rw-p");
    EXPECT_EQ(perms(m, 6), "rw-p");
    EXPECT_EQ(perms(m, 0), "r--p");
  }
  auto h = w->collect(m.data(), m.length(), CollectOptions{0, false});
  ASSERT_TRUE(h) << h.error().message();
  EXPECT_EQ(h->ranges, (std::vector<PageRange>{pages(m, 1, 1), pages(m, 6, 1)}))
      << "the failed calls took the written bits";
  // The part still mapped can be collected and re-armed.
  auto lower = w->collect(m.data(), 4 * page_size());
  ASSERT_TRUE(lower) << lower.error().message();
  EXPECT_EQ(lower->ranges, std::vector<PageRange>{pages(m, 1, 1)});
  EXPECT_EQ(perms(m, 1), "r--p");
}

// Destroying a watch over a region with a hole gives every page still mapped its
// protection back, beyond the hole too: one mprotect(2) over the region stops at the hole.
TEST(MprotectWatch, DestroyAfterAPartialUnmapUnprotectsEveryPieceStillMapped) {
  ScopedSegvHandler app(test_siginfo_handler);
  Mapping m = Mapping::anonymous(8);
  {
    auto w = watch(m);
    ASSERT_TRUE(w) << w.error().message();
    m.write_page(6);
    ASSERT_EQ(m.unmap_pages(2, 1), 0);
    EXPECT_EQ(perms(m, 3), "r--p");
  }
  for (std::size_t i : {0, 1, 3, 4, 5, 6, 7}) {
    EXPECT_EQ(perms(m, i), "rw-p") << "page " << i;
    EXPECT_FALSE(write_faults(m.page(i))) << "page " << i;
  }
}

// A part unmapped and mapped afresh comes back writable and unarmed, its writes unseen:
// check_intact() says so; the untouched watch and one whose replaced pages were all
// written (and so writable anyway) pass.
TEST(MprotectWatch, CheckIntactNoticesAPartMappedAfresh) {
  const std::size_t page = page_size();
  Mapping m = Mapping::anonymous(8);
  auto w = watch(m);
  ASSERT_TRUE(w) << w.error().message();
  EXPECT_TRUE(w->check_intact());
  m.write_page(5);
  EXPECT_TRUE(w->check_intact()) << "a written page is writable and counted";
  void* fresh = ::mmap(m.page(2), 2 * page, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  ASSERT_EQ(fresh, m.page(2)) << std::strerror(errno);
  auto intact = w->check_intact();
  ASSERT_FALSE(intact);
  EXPECT_EQ(intact.error().kind(), ErrorKind::invalid_argument);
  char range[64];
  std::snprintf(range, sizeof range, "[0x%" PRIx64 "-0x%" PRIx64 ")", m.page_addr(2),
                m.page_addr(4));
  EXPECT_EQ(intact.error().message(), engine_text(m) + ": part of the region " + range +
                                          " was unmapped and mapped afresh since it was armed");
  ASSERT_EQ(m.unmap_pages(3, 1), 0);
  intact = w->check_intact();
  ASSERT_FALSE(intact);
  EXPECT_EQ(intact.error().kind(), ErrorKind::invalid_argument);
  EXPECT_EQ(intact.error().message(),
            watch_text(m) + ": the region is no longer wholly mapped (unmapped since)");
}
