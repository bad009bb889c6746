// A churning address space for race tests (see race_churn.hpp).
//
// The churn loop allocates nothing and touches no arena memory itself: pages become
// present through MAP_POPULATE and MADV_POPULATE_WRITE, so the loop also runs unchanged
// in a forked child and under ThreadSanitizer (whose shadow knows nothing of the
// mappings' contents). Operations pick random page ranges, so many fail (an mremap of a
// range spanning two VMAs, an mprotect over a hole): failures are part of the churn.
#include "support/race_churn.hpp"

#include <linux/futex.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>
#include <new>
#include <string>

#include "support/exit_events.hpp"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23  // Linux 5.14
#endif

namespace pagescan::test {

namespace {

constexpr std::uint64_t kCapacity = 1u << 22;  // events: 32 MiB, touched as written
constexpr std::uint32_t kMaxRun = 16;          // pages per operation

}  // namespace

struct Churner::Shared {
  std::atomic<std::uint64_t> published{0};
  std::atomic<std::uint64_t> operations{0};
  std::atomic<std::uint32_t> stop{0};
  std::atomic<std::uint32_t> full{0};
  ChurnEvent events[kCapacity];  // left uninitialised: only written entries are read
};

namespace {

static_assert(std::atomic<std::uint64_t>::is_always_lock_free, "shared across processes");

struct Rng {
  std::uint64_t state;
  std::uint64_t next() {  // xorshift64*
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return state * 2685821657736338717ull;
  }
  std::uint32_t below(std::uint32_t n) { return static_cast<std::uint32_t>(next() % n); }
};

// Publishes one event; false when the log is full (the churn must then change nothing).
bool log_event(Churner::Shared& s, std::uint32_t first, std::uint32_t pages, bool mapped) {
  const std::uint64_t i = s.published.load(std::memory_order_relaxed);
  if (i == kCapacity) {
    s.full.store(1, std::memory_order_relaxed);
    return false;
  }
  s.events[i] = ChurnEvent{first, static_cast<std::uint16_t>(pages),
                           mapped ? std::uint16_t{1} : std::uint16_t{0}};
  s.published.store(i + 1, std::memory_order_release);
  return true;
}

int random_prot(Rng& rng) {
  static constexpr int kProts[] = {PROT_READ | PROT_WRITE, PROT_READ | PROT_WRITE, PROT_READ,
                                   PROT_NONE};
  return kProts[rng.below(4)];
}

void churn(Churner::Shared& s, std::uint64_t base, std::uint32_t pages, std::uint64_t seed) {
  const std::uint64_t page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  Rng rng{seed | 1};
  auto at = [&](std::uint32_t p) { return reinterpret_cast<char*>(base + p * page); };
  while (!s.stop.load(std::memory_order_acquire)) {
    if (s.full.load(std::memory_order_relaxed)) {
      // Nothing more may change: sleep on the stop word until stop() wakes it.
      ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&s.stop), FUTEX_WAIT, 0u, nullptr,
                nullptr, 0);
      continue;
    }
    const std::uint32_t p = rng.below(pages);
    const std::uint32_t n = 1 + rng.below(std::min(kMaxRun, pages - p));
    const std::uint64_t len = n * page;
    bool ok = false;
    switch (rng.below(20)) {
      case 0:
      case 1:
      case 2:
      case 3:
      case 4:
      case 5: {
        if (!log_event(s, p, n, true)) continue;
        int flags = MAP_FIXED | MAP_ANONYMOUS | (rng.below(5) == 0 ? MAP_SHARED : MAP_PRIVATE);
        if (rng.below(2)) flags |= MAP_POPULATE;
        ok = ::mmap(at(p), len, random_prot(rng), flags, -1, 0) != MAP_FAILED;
        break;
      }
      case 6:
      case 7:
      case 8:
      case 9:
        ok = ::munmap(at(p), len) == 0;
        if (ok) log_event(s, p, n, false);
        break;
      case 10:
      case 11:
      case 12:
        ok = ::mprotect(at(p), len, random_prot(rng)) == 0;
        break;
      case 13:
      case 14:
      case 15: {
        // Move to a disjoint range of the arena, sometimes resizing on the way.
        const std::uint32_t m = 1 + rng.below(kMaxRun);
        if (pages < m) break;
        const std::uint32_t q = rng.below(pages - m + 1);
        if (q < p + n && p < q + m) break;
        if (!log_event(s, q, m, true)) continue;
        ok = ::mremap(at(p), len, m * page, MREMAP_MAYMOVE | MREMAP_FIXED, at(q)) != MAP_FAILED;
        if (ok) log_event(s, p, n, false);
        break;
      }
      case 16:
      case 17: {
        // Grow or shrink in place.
        const std::uint32_t m = 1 + rng.below(std::min(kMaxRun, pages - p));
        if (m > n && !log_event(s, p + n, m - n, true)) continue;
        ok = ::mremap(at(p), len, m * page, 0) != MAP_FAILED;
        if (ok && m < n) log_event(s, p + m, n - m, false);
        break;
      }
      default:
        ok = ::madvise(at(p), len, rng.below(2) ? MADV_DONTNEED : MADV_POPULATE_WRITE) == 0;
        break;
    }
    if (ok) s.operations.fetch_add(1, std::memory_order_relaxed);
  }
}

}  // namespace

Churner::Churner(std::size_t pages, std::uint64_t seed)
    : arena_(pages * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE))),
      pages_(std::min<std::size_t>(pages, 65535)),
      seed_(seed) {
  void* mem = ::mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mem == MAP_FAILED) return;
  shared_ = new (mem) Shared;
  live_.assign(pages_, 0);
  // The reservation itself is the first mapping.
  if (ready()) log_event(*shared_, 0, static_cast<std::uint32_t>(pages_), true);
}

Churner::~Churner() {
  (void)stop();
  if (shared_) ::munmap(shared_, sizeof(Shared));
}

void Churner::start_thread() {
  thread_ =
      std::thread([this] { churn(*shared_, start(), static_cast<std::uint32_t>(pages_), seed_); });
}

void Churner::start_child() {
  const pid_t parent = ::getpid();
  child_ = ::fork();
  if (child_ == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(3);
    churn(*shared_, start(), static_cast<std::uint32_t>(pages_), seed_);
    ::_exit(0);
  }
}

std::string Churner::stop() {
  if (!shared_) return "";
  shared_->stop.store(1, std::memory_order_release);
  // A shared futex wake (the word may be in a child's view of the mapping).
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&shared_->stop), FUTEX_WAKE, INT_MAX,
            nullptr, nullptr, 0);
  if (thread_.joinable()) thread_.join();
  if (child_ <= 0) return "";
  bool timed_out = false;
  const int status = wait_with_timeout(child_, kHangBound, timed_out);
  child_ = -1;
  if (timed_out) {
    return "the churning child did not stop within " + std::to_string(kHangBound.count()) + " s";
  }
  if (!WIFEXITED(status)) {
    return "the churning child died by signal " + std::to_string(WTERMSIG(status));
  }
  if (WEXITSTATUS(status) != 0) {
    return "the churning child exited with " + std::to_string(WEXITSTATUS(status));
  }
  return "";
}

std::uint64_t Churner::published() const {
  return shared_->published.load(std::memory_order_acquire);
}

std::uint64_t Churner::operations() const {
  return shared_->operations.load(std::memory_order_relaxed);
}

bool Churner::log_full() const {
  return shared_->full.load(std::memory_order_relaxed) != 0;
}

std::vector<char> Churner::mapped_between(std::uint64_t from, std::uint64_t to) {
  auto apply = [&](std::vector<char>& pages, const ChurnEvent& e, bool unmaps) {
    if (!e.mapped && !unmaps) return;
    const std::size_t last = std::min<std::size_t>(pages.size(), e.first + std::size_t{e.pages});
    for (std::size_t i = e.first; i < last; ++i) pages[i] = e.mapped ? 1 : 0;
  };
  for (; applied_ < from; ++applied_) apply(live_, shared_->events[applied_], true);
  std::vector<char> result = live_;
  for (std::uint64_t i = from; i < to; ++i) apply(result, shared_->events[i], false);
  return result;
}

}  // namespace pagescan::test
