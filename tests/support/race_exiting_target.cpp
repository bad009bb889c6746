// A forked target that exits at a chosen moment (see race_exiting_target.hpp).
#include "support/race_exiting_target.hpp"

#include <fcntl.h>
#include <linux/futex.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <new>
#include <thread>

namespace pagescan::test {

struct ExitingTarget::Shared {
  std::atomic<std::uint64_t> base{0};
  std::atomic<std::uint32_t> go{0};       // futex word: the deadline is set
  std::atomic<std::int64_t> deadline{0};  // CLOCK_MONOTONIC nanoseconds
};

namespace {

std::int64_t monotonic_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// Shared (not private) futexes: the word is in a MAP_SHARED mapping seen by two processes.
// The child waits without a bound: it dies with its parent (PR_SET_PDEATHSIG).
void futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t value) {
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAIT, value, nullptr, nullptr,
            0);
}
void futex_wake(std::atomic<std::uint32_t>& word) {
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAKE, 1, nullptr, nullptr, 0);
}

std::uint64_t page() {
  return static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

// Builds the layout, says so with one byte on `ready`, and exits `deadline` after go.
[[noreturn]] void run_child(ExitingTarget::Exit how, std::size_t regions,
                            std::atomic<std::uint64_t>& base, int ready,
                            std::atomic<std::uint32_t>& go, std::atomic<std::int64_t>& deadline) {
  const std::size_t len = 2 * regions * page();
  void* p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) ::_exit(2);
  ::madvise(p, len, MADV_NOHUGEPAGE);  // one-page regions, never a THP
  auto* bytes = static_cast<volatile char*>(p);
  for (std::size_t i = 0; i < regions; ++i) bytes[2 * i * page()] = 1;
  base.store(reinterpret_cast<std::uint64_t>(p));
  if (::write(ready, "r", 1) != 1) ::_exit(2);
  while (go.load() == 0) futex_wait(go, 0);
  // Not a wait: the delay places the exit at a chosen point of the parent's scan, and the
  // test accepts every outcome an exit at any point can give.
  const std::int64_t when = deadline.load();
  while (monotonic_ns() < when) {
  }
  if (how == ExitingTarget::Exit::killed) ::kill(::getpid(), SIGKILL);
  ::_exit(0);
}

}  // namespace

ExitingTarget::ExitingTarget(std::size_t regions, Exit how) : regions_(regions) {
  void* mem =
      ::mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return;
  shared_ = new (mem) Shared;
  int ready[2];
  if (::pipe2(ready, O_CLOEXEC) != 0) return;
  const pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ < 0) {
    ::close(ready[0]);
    ::close(ready[1]);
    return;
  }
  if (pid_ == 0) {
    ::close(ready[0]);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(3);
    run_child(how, regions, shared_->base, ready[1], shared_->go, shared_->deadline);
  }
  ::close(ready[1]);
  // The byte, or end of file when the child died while building its layout.
  char byte = 0;
  ssize_t n;
  while ((n = ::read(ready[0], &byte, 1)) < 0 && errno == EINTR) {
  }
  ::close(ready[0]);
  if (n != 1) {
    reap();
    return;
  }
  base_ = shared_->base.load();
}

ExitingTarget::~ExitingTarget() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    reap();
  }
  if (shared_) ::munmap(shared_, sizeof(Shared));
}

std::uint64_t ExitingTarget::end() const {
  return base_ + 2 * regions_ * page();
}

std::vector<PageRegion> ExitingTarget::expected() const {
  std::vector<PageRegion> regions;
  for (std::size_t i = 0; i < regions_; ++i) {
    const std::uint64_t at = base_ + 2 * i * page();
    regions.push_back(PageRegion{at, at + page(), Category::present});
  }
  return regions;
}

void ExitingTarget::exit_after(std::chrono::nanoseconds delay) {
  shared_->deadline.store(monotonic_ns() + delay.count());
  shared_->go.store(1);
  futex_wake(shared_->go);
}

void ExitingTarget::wait_exited() {
  siginfo_t info{};
  while (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOWAIT) < 0 && errno == EINTR) {
  }
}

void ExitingTarget::reap() {
  if (pid_ <= 0) return;
  while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

}  // namespace pagescan::test
