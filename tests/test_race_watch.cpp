// Write watches and snapshots racing changes to their memory: a watched region that
// another thread unmaps, moves, shrinks or replaces while collects run; fork() from one
// thread while another collects; a snapshot restore racing an munmap or a replacement.
//
// What is asked of the library here (watch.hpp, snapshot.hpp): never crash,
// never report a page outside the region, either succeed or fail with an error that names
// the watch or snapshot, and come apart cleanly afterwards: no userfaultfd or other fd
// left open, the SIGSEGV disposition back to what it was, the part of the region still
// mapped writable and unregistered, and the range usable by a new mapping and a new watch.
//
// Engines: uffd and mprotect; soft-dirty skips with its self-test's reason when the
// kernel lacks it (this project's CI kernel does). The application never writes to memory
// while it is being unmapped (that would be its own crash), and never to a moved region
// under the mprotect engine (the pages keep their read-only protection at the new
// address, outside every watch: write-tracking.md, "Limits").
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "kernel/uapi.hpp"
#include "pagescan/scan.hpp"
#include "pagescan/snapshot.hpp"
#include "pagescan/watch.hpp"
#include "proc/maps.hpp"
#include "support/exit_events.hpp"
#include "support/memory.hpp"
#include "support/race_address_space.hpp"
#include "support/scan_helpers.hpp"
#include "support/watch_helpers.hpp"

using namespace pagescan;
using namespace pagescan::test;

namespace {

using Clock = std::chrono::steady_clock;

constexpr WatchEngine kRaceEngines[] = {WatchEngine::uffd, WatchEngine::mprotect,
                                        WatchEngine::soft_dirty};

// Rounds every race runs whatever its time budget. Fewer under a sanitizer: a round reads
// smaps (the engines do, on create), which takes 80 ms under TSan.
constexpr int kMinRounds = kUnderSanitizer ? 8 : 20;

std::string hex(std::uint64_t v) {
  char text[24];
  std::snprintf(text, sizeof text, "0x%" PRIx64, v);
  return text;
}

// The library's name for a watch or snapshot in messages: "watch of [0x...-0x...)".
std::string named(const char* what, std::uint64_t start, std::uint64_t end) {
  return std::string(what) + " of [" + hex(start) + "-" + hex(end) + ")";
}

struct SegvDisposition {
  void* handler = nullptr;
  int flags = 0;
  friend bool operator==(const SegvDisposition&, const SegvDisposition&) = default;
};

SegvDisposition segv_disposition() {
  struct sigaction sa = {};
  ::sigaction(SIGSEGV, nullptr, &sa);
  return SegvDisposition{(sa.sa_flags & SA_SIGINFO) ? reinterpret_cast<void*>(sa.sa_sigaction)
                                                    : reinterpret_cast<void*>(sa.sa_handler),
                         sa.sa_flags};
}

// Applies a change to memory from another thread, `delay` after go(). The thread is
// started and waiting before go(), and spins rather than sleeps, so that even delays of a
// few microseconds land where they are aimed (inside the call that follows go()). The
// delay is not a wait: on a loaded machine the change may land before, inside or after
// that call, and the tests accept each outcome each of those can give; what must follow
// the change waits for it with join().
class Racer {
 public:
  template <class Change>
  Racer(std::chrono::nanoseconds delay, Change change)
      : thread_([this, delay, change] {
          ready_ = true;
          while (!go_.load()) {
          }
          const auto deadline = start_ + delay;
          while (Clock::now() < deadline) {
          }
          if (!change()) errno_ = errno;
          done_ = true;
        }) {}
  Racer(const Racer&) = delete;
  Racer& operator=(const Racer&) = delete;
  ~Racer() { join(); }

  void go() {
    while (!ready_.load()) {
    }
    start_ = Clock::now();
    go_ = true;
  }
  bool done() const { return done_.load(); }
  // Waits for the change; returns the errno of a change that failed, or 0.
  int join() {
    if (thread_.joinable()) thread_.join();
    return errno_;
  }

 private:
  std::atomic<bool> ready_{false}, go_{false}, done_{false};
  Clock::time_point start_;
  int errno_ = 0;
  std::thread thread_;  // last: started once the members above exist
};

// The memory of one round, in a quiet range (nobody else maps into it):
//   [guard][region: kPages][guard][move target: kPages][guard]
// reset() puts back the PROT_NONE reservation and a fresh read-write region.
class RaceSpace {
 public:
  static constexpr std::size_t kPages = 32;

  RaceSpace() : range_((2 * kPages + 3) * page_size()) {}
  bool ready() const { return range_.start() != 0; }
  const std::string& why_not() const { return range_.why_not(); }

  char* region() const { return range_.data() + page_size(); }
  std::uint64_t region_start() const { return reinterpret_cast<std::uint64_t>(region()); }
  std::uint64_t region_end() const { return region_start() + length(); }
  std::size_t length() const { return kPages * page_size(); }
  char* target() const { return region() + length() + page_size(); }
  char* page(std::size_t i) const { return region() + i * page_size(); }

  bool reset() {
    if (::mmap(range_.data(), range_.length(), PROT_NONE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0) == MAP_FAILED) {
      return false;
    }
    return map_region(MAP_FIXED);
  }
  // Maps a fresh read-write region (MAP_FIXED over the reservation, or MAP_FIXED_NOREPLACE
  // where the region's range was unmapped).
  bool map_region(int fixed_flag) const {
    void* p = ::mmap(region(), length(), PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | fixed_flag, -1, 0);
    return p == region();
  }

 private:
  QuietRange range_;
};

// What the racing thread does to the watched (or snapshotted) region.
enum class Change { unmap_all, unmap_part, move, shrink, replace, kCount };

const char* name(Change c) {
  switch (c) {
    case Change::unmap_all:
      return "munmap of the whole region";
    case Change::unmap_part:
      return "munmap of a part";
    case Change::move:
      return "mremap to another address";
    case Change::shrink:
      return "mremap shrinking in place";
    case Change::replace:
      return "munmap and a new mapping in its place";
    case Change::kCount:
      break;
  }
  return "?";
}

// "UnmapAll", ... for test names.
const char* test_name(Change c) {
  switch (c) {
    case Change::unmap_all:
      return "UnmapAll";
    case Change::unmap_part:
      return "UnmapPart";
    case Change::move:
      return "Move";
    case Change::shrink:
      return "Shrink";
    case Change::replace:
      return "Replace";
    case Change::kCount:
      break;
  }
  return "?";
}

struct Race {
  WatchEngine engine;
  Change change;
};

std::string race_name(const testing::TestParamInfo<Race>& info) {
  std::string engine(to_string(info.param.engine));
  std::replace(engine.begin(), engine.end(), '-', '_');
  return engine + "_" + test_name(info.param.change);
}

std::vector<Race> races(std::initializer_list<Change> changes) {
  std::vector<Race> out;
  for (WatchEngine e : kRaceEngines) {
    for (Change c : changes) out.push_back(Race{e, c});
  }
  return out;
}

// Library bugs these tests found. Each skip goes when its bug is fixed.

// "munmap of a part (pages [3, 9))" for messages.
std::string describe(Change c, std::size_t first, std::size_t count) {
  if (c != Change::unmap_part && c != Change::replace) return name(c);
  return std::string(name(c)) + " (pages [" + std::to_string(first) + ", " +
         std::to_string(first + count) + "))";
}

// Applies `c` to pages [first, first + count) of the region (the whole region for move
// and shrink). Returns false with errno when the system call failed.
bool apply(Change c, const RaceSpace& s, std::size_t first, std::size_t count) {
  const std::size_t page = page_size();
  char* at = s.page(first);
  switch (c) {
    case Change::unmap_all:
      return ::munmap(s.region(), s.length()) == 0;
    case Change::unmap_part:
      return ::munmap(at, count * page) == 0;
    case Change::move:
      return ::mremap(s.region(), s.length(), s.length(), MREMAP_MAYMOVE | MREMAP_FIXED,
                      s.target()) != MAP_FAILED;
    case Change::shrink:
      return ::mremap(s.region(), s.length(), s.length() / 2, 0) != MAP_FAILED;
    case Change::replace:
      if (::munmap(at, count * page) != 0) return false;
      return ::mmap(at, count * page, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) == at;
    case Change::kCount:
      break;
  }
  return false;
}

// A collect that failed: the error must name the watch, and say what the kernel refused
// when the region went away under it: mprotect(2) of unmapped pages (ENOMEM, the mprotect
// engine re-arming), UFFDIO_WRITEPROTECT of a range no longer registered (ENOENT), or a
// range the kernel no longer accepts (EINVAL); and not blame a missing process.
testing::AssertionResult clear_collect_error(const Error& e, std::uint64_t start,
                                             std::uint64_t end) {
  const std::string watch = named("watch", start, end);
  if (e.message().find(watch) == std::string::npos) {
    return testing::AssertionFailure()
           << "the error does not name the " << watch << ": " << e.message();
  }
  if (e.kind() == ErrorKind::no_such_process) {
    return testing::AssertionFailure()
           << "the error blames a missing process (this one): " << e.message();
  }
  const int err = e.errno_value();
  if (err != ENOMEM && err != ENOENT && err != EINVAL) {
    return testing::AssertionFailure()
           << "unexpected errno " << err << " (" << to_string(e.kind()) << "): " << e.message();
  }
  return testing::AssertionSuccess();
}

// The parts of [start, end) still mapped are writable and not registered with
// userfaultfd: nothing of a destroyed watch is left on them. (maps, not smaps, and
// PAGEMAP_SCAN's WPALLOWED for the registration: smaps walks every page table of the
// process, 80 ms a read under TSan.)
testing::AssertionResult nothing_left_on(std::uint64_t start, std::uint64_t end) {
  auto vmas = proc::read_vmas(0, false);
  if (!vmas) return testing::AssertionFailure() << vmas.error().message();
  for (const proc::Vma& v : *vmas) {
    if (v.end <= start || v.start >= end) continue;
    if (v.perms.size() < 2 || v.perms[1] != 'w') {
      return testing::AssertionFailure() << "[" << hex(v.start) << "-" << hex(v.end) << ") is "
                                         << v.perms << " after the watch was destroyed";
    }
  }
  auto registered = scan(
      self_process(),
      ScanRequest::over(start, end).all_of(Category::wpallowed).returning(Category::wpallowed));
  if (!registered) return testing::AssertionFailure() << registered.error().message();
  if (!registered->regions.empty()) {
    return testing::AssertionFailure()
           << "[" << hex(registered->regions[0].start) << "-" << hex(registered->regions[0].end)
           << ") is still registered for uffd write-protect";
  }
  return testing::AssertionSuccess();
}

// The region's range, unmapped and mapped afresh, works like any memory: writes land and
// leave no uffd-wp bit, and a new watch of `engine` on it reports exactly one write.
testing::AssertionResult range_reusable(const RaceSpace& s, WatchEngine engine) {
  ::munmap(s.region(), s.length());
  if (!s.map_region(MAP_FIXED_NOREPLACE)) {
    return testing::AssertionFailure()
           << "cannot map the region's range again: " << std::strerror(errno);
  }
  for (std::size_t i = 0; i < RaceSpace::kPages; ++i) {
    s.page(i)[0] = 1;
    if (pagemap_entry(s.page(i)) & uapi::PM_UFFD_WP) {
      return testing::AssertionFailure() << "page " << i << " of the new mapping is uffd-wp";
    }
  }
  auto w = WriteWatch::create(s.region(), s.length(), WatchOptions{engine});
  if (!w) return testing::AssertionFailure() << "a new watch fails: " << w.error().message();
  s.page(5)[0] = 2;
  auto h = w->collect(s.region(), s.length());
  if (!h) return testing::AssertionFailure() << "its collect fails: " << h.error().message();
  const std::uint64_t p5 = reinterpret_cast<std::uint64_t>(s.page(5));
  if (h->ranges != std::vector<PageRange>{{p5, p5 + page_size()}}) {
    return testing::AssertionFailure()
           << "the new watch reports " << h->pages << " pages instead of the one written";
  }
  return testing::AssertionSuccess();
}

// What the process holds that a watch could leak.
struct Holdings {
  std::size_t fds = open_fd_count();
  std::size_t uffds = userfaultfd_count();
  SegvDisposition segv = segv_disposition();
};

testing::AssertionResult same_holdings(const Holdings& before) {
  Holdings now;
  if (now.fds != before.fds) {
    return testing::AssertionFailure() << now.fds << " open fds, " << before.fds << " before";
  }
  if (now.uffds != before.uffds) {
    return testing::AssertionFailure()
           << now.uffds << " userfaultfds, " << before.uffds << " before";
  }
  if (!(now.segv == before.segv)) {
    return testing::AssertionFailure() << "the SIGSEGV disposition was not restored";
  }
  return testing::AssertionSuccess();
}

// ---- 3. a watched region unmapped, moved, shrunk or replaced during collects ----

class WatchRacingUnmap : public testing::TestWithParam<Race> {
 protected:
  void SetUp() override { PAGESCAN_SKIP_UNLESS_ENGINE(GetParam().engine); }
};

// Each round arms a watch on a fresh region, writes some pages, and collects in a loop
// (with and without reset, with and without a page budget) while another thread applies
// the change after a random delay of up to 300 us; then one more collect, and the watch
// is destroyed.
TEST_P(WatchRacingUnmap, CollectsSucceedOrFailClearlyAndTheWatchComesApartCleanly) {
  const WatchEngine engine = GetParam().engine;
  const Change change = GetParam().change;
  RaceSpace s;
  ASSERT_TRUE(s.ready()) << "no quiet address space: " << s.why_not();
  const std::uint64_t seed =
      0xfee1 + static_cast<std::uint64_t>(engine) * 8 + static_cast<std::uint64_t>(change);
  std::mt19937_64 rng(seed);
  {
    // What the library opens once per process (the self pagemap handle of the uffd
    // engine) is opened here, before the fd counts are compared.
    ASSERT_TRUE(s.reset());
    auto warm = WriteWatch::create(s.region(), s.length(), WatchOptions{engine});
    ASSERT_TRUE(warm) << warm.error().message();
    ASSERT_TRUE(warm->collect(s.region(), s.length()));
  }
  const auto budget = race_budget(std::chrono::milliseconds(500));
  const auto t0 = Clock::now();
  int rounds = 0, collects = 0, failed = 0;
  std::set<std::string> error_texts;
  while (Clock::now() - t0 < budget || rounds < kMinRounds) {
    ASSERT_TRUE(s.reset()) << std::strerror(errno);
    for (std::size_t i = 0; i < RaceSpace::kPages; i += 2) s.page(i)[0] = 1;
    const Holdings before;
    const std::size_t first = rng() % RaceSpace::kPages;
    const std::size_t count = 1 + rng() % (RaceSpace::kPages - first);
    const auto delay = std::chrono::microseconds(rng() % 300);
    const std::string what = "seed " + std::to_string(seed) + " round " + std::to_string(rounds) +
                             ": " + describe(change, first, count) + " after " +
                             std::to_string(delay.count()) + " us";
    {
      auto w = WriteWatch::create(s.region(), s.length(), WatchOptions{engine});
      ASSERT_TRUE(w) << what << ": " << w.error().message();
      for (std::size_t i = 0; i < RaceSpace::kPages; ++i) {
        if (rng() % 3 == 0) s.page(i)[1] = 2;  // written before the race
      }
      Racer racer(delay, [&] { return apply(change, s, first, count); });
      racer.go();
      // Collect until the change is done, then once more.
      for (bool last = false; !last;) {
        last = racer.done();
        const CollectOptions options{rng() % 4 == 0 ? 1 + rng() % 4 : 0, rng() % 4 != 0};
        auto h = w->collect(s.region(), s.length(), options);
        ++collects;
        if (h) {
          EXPECT_TRUE(well_formed(*h, s.region_start(), s.region_end())) << what;
          if (options.max_pages) {
            EXPECT_LE(h->pages, options.max_pages) << what;
          }
        } else {
          ++failed;
          EXPECT_TRUE(clear_collect_error(h.error(), s.region_start(), s.region_end())) << what;
          error_texts.insert(h.error().message().substr(h.error().message().find(')') +
                                                        1));  // without the addresses
        }
      }
      const int change_errno = racer.join();
      ASSERT_EQ(change_errno, 0) << what
                                 << ": the change itself failed: " << std::strerror(change_errno);
    }  // the watch is destroyed here
    EXPECT_TRUE(same_holdings(before)) << what;
    EXPECT_TRUE(nothing_left_on(s.region_start(), s.region_end())) << what;
    ASSERT_TRUE(range_reusable(s, engine)) << what;
    ++rounds;
    if (HasFailure()) break;
  }
  std::printf("    %s, %s: %d rounds, %d collects, %d failed\n",
              std::string(to_string(engine)).c_str(), name(change), rounds, collects, failed);
  for (const std::string& text : error_texts) std::printf("      error: ...%s\n", text.c_str());
}

INSTANTIATE_TEST_SUITE_P(Changes, WatchRacingUnmap,
                         testing::ValuesIn(races({Change::unmap_all, Change::unmap_part,
                                                  Change::move, Change::shrink, Change::replace})),
                         race_name);

// ---- 4. fork() in one thread while another collects ----

class WatchRacingFork : public testing::TestWithParam<WatchEngine> {
 protected:
  void SetUp() override { PAGESCAN_SKIP_UNLESS_ENGINE(GetParam()); }
};

// The collecting thread writes a random set of pages, then collects with reset; another
// thread forks as fast as it can, and each child writes every page of the region, reads
// its writes back and exits 0. A fork only waits for the parent's writes (a mutex, so that
// the child's copy is well defined), never for a collect, so forks land inside collects.
// The parent's collects report exactly the pages it wrote since the previous collect: no
// write lost to a fork, none of a child's writes reported in the parent.
TEST_P(WatchRacingFork, ChildrenWriteAndExitAndTheParentLosesNoWrite) {
  const WatchEngine engine = GetParam();
  constexpr std::size_t kPages = 64;
  Mapping m = Mapping::anonymous(kPages);
  for (std::size_t i = 0; i < kPages; i += 2) m.write_page(i);
  const std::size_t uffds_before = userfaultfd_count();
  std::optional<WriteWatch> w;
  {
    auto made = WriteWatch::create(m.data(), m.length(), WatchOptions{engine});
    ASSERT_TRUE(made) << made.error().message();
    w.emplace(std::move(*made));
  }
  std::mutex writes;
  std::atomic<bool> done{false}, in_collect{false};
  std::atomic<int> forks{0}, forks_in_collect{0};
  std::vector<std::string> child_failures;
  std::thread forker([&] {
    while (!done.load()) {
      pid_t pid;
      bool during;
      {
        std::lock_guard lock(writes);
        during = in_collect.load();
        pid = ::fork();
      }
      if (pid == 0) {
        for (std::size_t i = 0; i < kPages; ++i) m.page(i)[7] = 'c';
        for (std::size_t i = 0; i < kPages; ++i) {
          if (m.page(i)[7] != 'c') ::_exit(1);
        }
        ::_exit(0);
      }
      if (pid < 0) {
        child_failures.push_back(std::string("fork: ") + std::strerror(errno));
        return;
      }
      ++forks;
      if (during || in_collect.load()) ++forks_in_collect;
      bool timed_out = false;
      const int status = wait_with_timeout(pid, kHangBound, timed_out);
      if (timed_out) {
        child_failures.push_back("a child hung (killed after " +
                                 std::to_string(kHangBound.count()) + " s)");
      } else if (!WIFEXITED(status)) {
        child_failures.push_back("a child died by signal " + std::to_string(WTERMSIG(status)));
      } else if (WEXITSTATUS(status) != 0) {
        child_failures.push_back("a child did not read its writes back");
      }
    }
  });

  const std::uint64_t seed = 0xf0f0 + static_cast<std::uint64_t>(engine);
  std::mt19937_64 rng(seed);
  const auto budget = race_budget(std::chrono::milliseconds(2000));
  const auto t0 = Clock::now();
  int rounds = 0;
  // At least the budget, 50 collects, 10 forks and 3 forks inside a collect (a fork costs
  // 80 ms under ASan), however long a loaded machine takes; the hard limit only turns a
  // hang into a failure.
  auto more = [&] {
    const auto spent = Clock::now() - t0;
    if (spent > budget + kHangBound) return false;
    return spent < budget || rounds < 50 || forks.load() < 10 || forks_in_collect.load() < 3;
  };
  while (more()) {
    std::set<std::uint64_t> wrote;
    {
      std::lock_guard lock(writes);
      const std::size_t n = 1 + rng() % 8;
      for (std::size_t k = 0; k < n; ++k) {
        const std::size_t i = rng() % kPages;
        m.page(i)[3] = static_cast<char>(rounds);
        wrote.insert(m.page_addr(i));
      }
    }
    in_collect = true;
    auto h = w->collect(m.data(), m.length());
    in_collect = false;
    ASSERT_TRUE(h) << "round " << rounds << ": " << h.error().message();
    ASSERT_TRUE(well_formed(*h, m.start(), m.end()));
    const std::vector<std::uint64_t> got = harvest_pages(*h);
    ASSERT_EQ(got, std::vector<std::uint64_t>(wrote.begin(), wrote.end()))
        << "seed " << seed << " round " << rounds << " after " << forks.load() << " forks";
    ++rounds;
  }
  done = true;
  forker.join();
  std::printf("    %s: %d collects, %d forks (%d during a collect)\n",
              std::string(to_string(engine)).c_str(), rounds, forks.load(),
              forks_in_collect.load());
  EXPECT_TRUE(child_failures.empty())
      << child_failures.size() << " children failed, first: " << child_failures.front();
  EXPECT_GE(forks.load(), 10);
  EXPECT_GE(forks_in_collect.load(), 3) << "too few forks landed during a collect";
  w.reset();
  EXPECT_EQ(userfaultfd_count(), uffds_before);
}

INSTANTIATE_TEST_SUITE_P(Engines, WatchRacingFork, testing::ValuesIn(kRaceEngines),
                         engine_test_name);

// ---- 5. snapshot restore racing an munmap or a replacement ----

class SnapshotRacingUnmap : public testing::TestWithParam<Race> {
 protected:
  void SetUp() override { PAGESCAN_SKIP_UNLESS_ENGINE(GetParam().engine); }
};

class SnapshotAfterReplace : public testing::TestWithParam<WatchEngine> {
 protected:
  void SetUp() override { PAGESCAN_SKIP_UNLESS_ENGINE(GetParam()); }
};

char pattern(std::size_t page) {
  return static_cast<char>(page + 1);
}

// Page i of the region holds pattern(i) everywhere.
void fill(const RaceSpace& s) {
  for (std::size_t i = 0; i < RaceSpace::kPages; ++i)
    std::memset(s.page(i), pattern(i), page_size());
}

bool page_is(const RaceSpace& s, std::size_t i, char byte) {
  const char* p = s.page(i);
  return std::all_of(p, p + page_size(), [byte](char c) { return c == byte; });
}

// The application writes to the first half of the region, then restores while another
// thread unmaps (or replaces with fresh memory) part of the second half, which nobody
// wrote since capture, so restore never has a reason to touch it. The contract forbids
// writes during restore; an munmap of untouched pages is not a write. Restore either
// succeeds (the written pages are back) or refuses with invalid_argument having restored
// nothing (the written pages still hold the application's bytes); new pages appearing
// during the restore may also make it fail late, re-arming them. Then the snapshot
// comes apart cleanly and the range takes a new snapshot. (A part replaced before the
// restore is SnapshotAfterReplace's case.)
TEST_P(SnapshotRacingUnmap, RestoreSucceedsOrRefusesAndNeverTouchesWhatIsGone) {
  const WatchEngine engine = GetParam().engine;
  const Change change = GetParam().change;
  if (kUnderTsan && change == Change::replace) {
    // TSan takes an mmap for a write of the whole range, so the test's own racer mapping
    // afresh over pages restore is copying into is reported as a data race: it is one,
    // made on purpose by the application side of this test.
    GTEST_SKIP() << "TSan reports the test's deliberate mmap-over-restore race as a data race";
  }
  RaceSpace s;
  ASSERT_TRUE(s.ready()) << "no quiet address space: " << s.why_not();
  constexpr std::size_t kHalf = RaceSpace::kPages / 2;
  const std::uint64_t seed =
      0x5a5a + static_cast<std::uint64_t>(engine) * 8 + static_cast<std::uint64_t>(change);
  std::mt19937_64 rng(seed);
  {
    // What the library opens once per process (the /proc/self/maps fd restore queries, the
    // self pagemap handle) is opened here, before the fd counts are compared.
    ASSERT_TRUE(s.reset());
    auto warm = RegionSnapshot::capture(s.region(), s.length(), SnapshotOptions{{engine}});
    ASSERT_TRUE(warm) << warm.error().message();
    s.page(0)[0] = 9;
    auto r = warm->restore();
    ASSERT_TRUE(r) << r.error().message();
  }
  const auto budget = race_budget(std::chrono::milliseconds(750));
  const auto t0 = Clock::now();
  int rounds = 0, restored = 0, refused = 0, failed_late = 0;
  while (Clock::now() - t0 < budget || rounds < kMinRounds) {
    ASSERT_TRUE(s.reset()) << std::strerror(errno);
    fill(s);
    const Holdings before;
    const std::size_t first = kHalf + rng() % kHalf;
    const std::size_t count = 1 + rng() % (RaceSpace::kPages - first);
    const auto delay = std::chrono::microseconds(rng() % 100);
    const bool ahead = rng() % 4 == 0;  // the change completes before restore starts
    const std::string what = "seed " + std::to_string(seed) + " round " + std::to_string(rounds) +
                             ": " + describe(change, first, count) + " after " +
                             std::to_string(delay.count()) + " us" +
                             (ahead ? " (before the restore)" : "");
    std::vector<std::size_t> written;
    {
      auto snap = RegionSnapshot::capture(s.region(), s.length(), SnapshotOptions{{engine}});
      ASSERT_TRUE(snap) << what << ": " << snap.error().message();
      for (std::size_t i = 0; i < kHalf; ++i) {
        if (rng() % 2) {
          std::memset(s.page(i), 'w', page_size());
          written.push_back(i);
        }
      }
      Racer racer(delay, [&] { return apply(change, s, first, count); });
      racer.go();
      if (ahead) racer.join();
      auto r = snap->restore();
      const int change_errno = racer.join();
      ASSERT_EQ(change_errno, 0) << what << ": " << std::strerror(change_errno);
      if (ahead && change == Change::unmap_part) {
        ASSERT_FALSE(r) << what << ": restore of a region unmapped in part succeeded";
      }
      if (r) {
        ++restored;
        for (std::size_t i = 0; i < kHalf; ++i) {
          ASSERT_TRUE(page_is(s, i, pattern(i))) << what << ": page " << i << " not restored";
        }
      } else {
        const std::string& message = r.error().message();
        EXPECT_NE(message.find(named("snapshot", s.region_start(), s.region_end())),
                  std::string::npos)
            << what << ": " << message;
        if (change == Change::replace &&
            message.find("nothing was restored") == std::string::npos) {
          // New pages that appear in the middle of a restore are the application changing
          // the region during restore, as a write would: a late failure to re-arm them
          // (uffd: not registered, ENOENT) is a clear answer, whatever was copied before,
          // if it says so (and does not blame a missing process: the process is us).
          ++failed_late;
          EXPECT_NE(message.find("re-arming"), std::string::npos) << what << ": " << message;
          EXPECT_NE(r.error().kind(), ErrorKind::no_such_process) << what << ": " << message;
        } else {
          ++refused;
          EXPECT_EQ(r.error().kind(), ErrorKind::invalid_argument) << what << ": " << message;
          EXPECT_EQ(r.error().errno_value(), ENOENT) << what << ": " << message;
          EXPECT_NE(message.find("nothing was restored"), std::string::npos)
              << what << ": " << message;
          for (std::size_t i : written) {
            ASSERT_TRUE(page_is(s, i, 'w'))
                << what << ": page " << i << " was restored by a restore that refused";
          }
        }
      }
    }  // the snapshot is destroyed here
    EXPECT_TRUE(same_holdings(before)) << what;
    EXPECT_TRUE(nothing_left_on(s.region_start(), s.region_end())) << what;
    ASSERT_TRUE(range_reusable(s, engine)) << what;
    ++rounds;
    if (HasFailure()) break;
  }
  std::printf("    %s, %s: %d rounds, %d restored, %d refused, %d failed re-arming\n",
              std::string(to_string(engine)).c_str(), name(change), rounds, restored, refused,
              failed_late);
}

// A region part of which was unmapped and mapped afresh since capture: restore refuses,
// or puts back every page (the new pages included). A success that leaves the new pages
// differing from the image would be a wrong answer presented as right.
TEST_P(SnapshotAfterReplace, RestoreRefusesOrRestoresEverything) {
  const WatchEngine engine = GetParam();
  RaceSpace s;
  ASSERT_TRUE(s.ready()) << "no quiet address space: " << s.why_not();
  ASSERT_TRUE(s.reset());
  fill(s);
  auto snap = RegionSnapshot::capture(s.region(), s.length(), SnapshotOptions{{engine}});
  ASSERT_TRUE(snap) << snap.error().message();
  std::memset(s.page(1), 'w', page_size());
  ASSERT_TRUE(apply(Change::replace, s, 20, 4)) << std::strerror(errno);
  auto r = snap->restore();
  if (!r) {
    EXPECT_EQ(r.error().kind(), ErrorKind::invalid_argument) << r.error().message();
    EXPECT_EQ(r.error().errno_value(), ENOENT) << r.error().message();
    EXPECT_TRUE(page_is(s, 1, 'w')) << "a refused restore restored a page";
    return;
  }
  EXPECT_EQ(snap->first_difference(), std::nullopt)
      << "restore succeeded but the region differs from the capture";
}

INSTANTIATE_TEST_SUITE_P(Changes, SnapshotRacingUnmap,
                         testing::ValuesIn(races({Change::unmap_part, Change::replace})),
                         race_name);

INSTANTIATE_TEST_SUITE_P(Engines, SnapshotAfterReplace, testing::ValuesIn(kRaceEngines),
                         engine_test_name);

}  // namespace
