// Each write-tracking engine keeps the contract watch.hpp states for it, under a writer
// thread that writes continuously while the main thread collects and re-arms again and
// again.
//
// The writer takes a sequence number s from a shared counter before each write, records
// it as the page's `started` number, writes the page, then records it as the page's
// `done` number. Around each collect k the main thread reads the counter after the
// collect returned (C_k) and every page's `done` before it began (D_k). A write with
// number s > C_j began after collect j returned, so j cannot have seen it. Hence:
//
// - never lost (uffd, mprotect, everything; soft-dirty with the writer paused): after
//   collect k, every page whose last finished write before k began (D_k) is reported by
//   some collect j <= k with C_j >= D_k. A write lost by collect k-1 and k (soft-dirty's
//   race: clean when pagemap was read, written before clear_refs) fails this.
// - never reported without a write (uffd, mprotect): a page reported by collect k had a
//   write that had not finished when the previous collect reporting it began: its
//   `started` number read after k returned exceeds D_j of that previous collect j.
// - everything: each collect reports every page.
// A control drives a real engine the way soft-dirty works (read without re-arming, a
// write, then re-arm) and expects the check to call that write lost.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "pagescan/watch.hpp"
#include "support/sanitizers.hpp"
#include "support/watch_helpers.hpp"

namespace pagescan {
namespace {

constexpr std::size_t kPages = 64;
// Enough rounds that writes land inside collects many times; the counts, not the time
// taken, are what the test asserts.
// Scaled down under a sanitizer, as test_race_watch.cpp does.
constexpr int kRounds = test::kUnderSanitizer ? 100 : 400;
constexpr std::uint64_t kMinWrites = test::kUnderSanitizer ? 2000 : 20000;
constexpr int kRaced = test::kUnderSanitizer ? 50 : 200;
constexpr int kMaxRounds = 100000;

struct Shared {
  std::atomic<std::uint64_t> counter{0};
  std::atomic<std::uint64_t> started[kPages] = {};
  std::atomic<std::uint64_t> done[kPages] = {};
  std::atomic<bool> stop{false};
  // Soft-dirty's contract holds only while writers are stopped: the writer parks here
  // while `paused`, and says so through `parked`.
  std::mutex mutex;
  std::condition_variable cv;
  bool paused = false;
  bool parked = false;
};

// One write by the protocol above.
void write_page(Shared& s, char* base, std::size_t page, std::size_t i) {
  const std::uint64_t n = s.counter.fetch_add(1) + 1;
  s.started[i].store(n);
  *reinterpret_cast<volatile std::uint64_t*>(base + i * page + 8 * (n % 64)) = n;
  s.done[i].store(n);
}

// The writer leaves the last page alone: the control writes it.
constexpr std::size_t kControlPage = kPages - 1;

void writer(Shared& s, char* base, std::size_t page) {
  std::uint64_t x = 0x9e3779b97f4a7c15ull;  // fixed seed: the page order is replayable
  while (!s.stop.load()) {
    {
      std::unique_lock lock(s.mutex);
      if (s.paused) {
        s.parked = true;
        s.cv.notify_all();
        s.cv.wait(lock, [&] { return !s.paused || s.stop.load(); });
        s.parked = false;
      }
    }
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    write_page(s, base, page, static_cast<std::size_t>(x % kControlPage));
  }
}

struct Outcome {
  std::string failure;  // empty when the contract held
  std::uint64_t writes = 0;
  int rounds = 0;
  int raced = 0;  // collects during which the writer wrote
};

// A collect with reset, or the control's imitation of a non-atomic one.
using Collect = std::function<Result<Harvest>(Shared&)>;

Outcome run_stress(WriteWatch& w, char* base, std::size_t page, bool pause_writer,
                   bool expect_exact, bool expect_all, Collect collect = nullptr) {
  Shared s;
  std::thread t(writer, std::ref(s), base, page);
  Outcome out;
  std::uint64_t last_report_c[kPages] = {};  // C of the latest collect reporting the page
  std::uint64_t d_at_report[kPages] = {};    // D of that collect for the page
  // Runs at least kRounds collects and kMinWrites writes, and on until kRaced collects had
  // a write land during them (or kMaxRounds ran: a starved writer makes a weaker test, not
  // a failing one).
  for (int k = 0; out.failure.empty() && k < kMaxRounds &&
                  (k < kRounds || s.counter.load() < kMinWrites || out.raced < kRaced);
       ++k) {
    if (pause_writer) {
      std::unique_lock lock(s.mutex);
      s.paused = true;
      s.cv.wait(lock, [&] { return s.parked; });
    }
    std::uint64_t d[kPages];
    for (std::size_t i = 0; i < kPages; ++i) d[i] = s.done[i].load();
    const std::uint64_t b = s.counter.load();
    auto h = collect ? collect(s) : w.collect(base, kPages * page);
    const std::uint64_t c = s.counter.load();
    out.raced += c != b;
    std::uint64_t a[kPages];
    for (std::size_t i = 0; i < kPages; ++i) a[i] = s.started[i].load();
    if (pause_writer) {
      std::lock_guard lock(s.mutex);
      s.paused = false;
      s.cv.notify_all();
    }
    if (!h) {
      out.failure = "collect " + std::to_string(k) + " failed: " + h.error().message();
      break;
    }
    std::vector<bool> reported(kPages, false);
    for (const PageRange& r : h->ranges) {
      for (std::uint64_t p = r.start; p < r.end; p += page) {
        reported[(p - reinterpret_cast<std::uint64_t>(base)) / page] = true;
      }
    }
    for (std::size_t i = 0; i < kPages && out.failure.empty(); ++i) {
      if (reported[i]) {
        if (expect_exact && a[i] <= d_at_report[i]) {
          out.failure = "collect " + std::to_string(k) + " reported page " + std::to_string(i) +
                        " with no write since the collect that last reported it (last write " +
                        std::to_string(a[i]) + ")";
        }
        last_report_c[i] = c;
        d_at_report[i] = d[i];
      } else if (expect_all) {
        out.failure = "collect " + std::to_string(k) + " left out page " + std::to_string(i);
      }
      if (d[i] > last_report_c[i]) {
        out.failure = "write " + std::to_string(d[i]) + " to page " + std::to_string(i) +
                      " finished before collect " + std::to_string(k) +
                      " began and no collect since it began reported the page: lost";
      }
    }
    out.rounds = k + 1;
  }
  {
    std::lock_guard lock(s.mutex);
    s.stop = true;
    s.paused = false;
    s.cv.notify_all();
  }
  t.join();
  out.writes = s.counter.load();
  std::printf("%d collects, %d with writes landing during them, %llu writes\n", out.rounds,
              out.raced, static_cast<unsigned long long>(out.writes));
  return out;
}

struct Region {
  char* base = nullptr;
  std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  Region() {
    void* m =
        ::mmap(nullptr, kPages * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m != MAP_FAILED) base = static_cast<char*>(m);
  }
  ~Region() {
    if (base) ::munmap(base, kPages * page);
  }
};

Result<WriteWatch> watch_with(WatchEngine engine, Region& r) {
  WatchOptions options;
  options.engine = engine;
  return WriteWatch::create(r.base, kPages * r.page, options);
}

// Creates a watch with `engine` (skipping when this kernel lacks it) and checks that
// nothing is lost and nothing is reported without a write.
void expect_never_lost_and_exact(WatchEngine engine) {
  PAGESCAN_SKIP_UNLESS_ENGINE(engine);
  Region r;
  ASSERT_NE(r.base, nullptr);
  auto w = watch_with(engine, r);
  ASSERT_TRUE(w) << w.error().message();
  Outcome o = run_stress(*w, r.base, r.page, false, true, false);
  EXPECT_TRUE(o.failure.empty()) << o.failure << " (after " << o.writes << " writes)";
  EXPECT_GE(o.writes, kMinWrites);
}

// uffd: atomic get-and-reset per page: nothing lost, nothing reported without a write.
TEST(EngineContracts, UffdLosesNoWriteAndReportsNoneUnwritten) {
  expect_never_lost_and_exact(WatchEngine::uffd);
}

// mprotect: take the bits, then re-protect; the handler unprotects, then records:
// nothing lost, nothing reported without a write.
TEST(EngineContracts, MprotectLosesNoWriteAndReportsNoneUnwritten) {
  expect_never_lost_and_exact(WatchEngine::mprotect);
}

// everything: every page every time.
TEST(EngineContracts, EverythingReportsEveryPageEveryTime) {
  Region r;
  ASSERT_NE(r.base, nullptr);
  auto w = watch_with(WatchEngine::everything, r);
  ASSERT_TRUE(w) << w.error().message();
  Outcome o = run_stress(*w, r.base, r.page, false, false, true);
  EXPECT_TRUE(o.failure.empty()) << o.failure << " (after " << o.writes << " writes)";
}

// automatic: whichever engine it takes keeps the never-lost contract (watch.hpp).
TEST(EngineContracts, AutomaticLosesNoWrite) {
  Region r;
  ASSERT_NE(r.base, nullptr);
  auto w = watch_with(WatchEngine::automatic, r);
  ASSERT_TRUE(w) << w.error().message();
  Outcome o = run_stress(*w, r.base, r.page, false, false, false);
  EXPECT_TRUE(o.failure.empty()) << to_string(w->engine()) << ": " << o.failure;
}

// soft-dirty: not atomic, so its documented contract is the never-lost one only while
// the writer is stopped during each collect (it may over-report: no exactness check).
TEST(EngineContracts, SoftDirtyLosesNoWriteWhileWritersAreStopped) {
  PAGESCAN_SKIP_UNLESS_ENGINE(WatchEngine::soft_dirty);
  Region r;
  ASSERT_NE(r.base, nullptr);
  auto w = watch_with(WatchEngine::soft_dirty, r);
  ASSERT_TRUE(w) << w.error().message();
  Outcome o = run_stress(*w, r.base, r.page, true, false, false);
  EXPECT_TRUE(o.failure.empty()) << o.failure << " (after " << o.writes << " writes)";
}

// The control: a collect that reads, lets a write land, then re-arms (soft-dirty's two
// steps, imitated on the automatic engine) loses that write, and the check says so.
TEST(EngineContracts, TheCheckCatchesAWriteLostBetweenReadAndReArm) {
  Region r;
  ASSERT_NE(r.base, nullptr);
  auto w = watch_with(WatchEngine::automatic, r);
  ASSERT_TRUE(w) << w.error().message();
  if (w->engine() == WatchEngine::everything) {
    GTEST_SKIP() << "automatic took the everything engine: no write can be lost";
  }
  const std::size_t len = kPages * r.page;
  Outcome o = run_stress(*w, r.base, r.page, true, false, false, [&](Shared& s) {
    auto h = w->collect(r.base, len, CollectOptions{0, false});
    write_page(s, r.base, r.page, kControlPage);
    if (auto reset = w->reset(r.base, len); !reset) return Result<Harvest>(reset.error());
    return h;
  });
  EXPECT_NE(o.failure.find("lost"), std::string::npos)
      << "the check missed a write lost between read and re-arm: " << o.failure;
  EXPECT_NE(o.failure.find("page " + std::to_string(kControlPage)), std::string::npos) << o.failure;
}

}  // namespace
}  // namespace pagescan
