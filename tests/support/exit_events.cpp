// Events that say another thread or process has exited (see exit_events.hpp).
//
// The leader's zombie has no event of its own, so witness_leader_exit() borrows one: the
// parent-death signal. A child's parent is the thread that forked it, and in exit_notify()
// (kernel/exit.c) that thread's exit sends its children their PR_SET_PDEATHSIG signal
// (forget_original_parent()) and sets its exit_state to EXIT_ZOMBIE inside one
// write_lock_irq(&tasklist_lock) section. The witness, woken by the signal, calls
// waitid(P_ALL), which takes read_lock(&tasklist_lock): it gets the lock only after that
// section, so what it reports next (and whoever reads /proc after it) sees the zombie.
#include "support/exit_events.hpp"

#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <new>

namespace pagescan::test {

timespec monotonic_after(std::chrono::milliseconds bound) {
  timespec at{};
  ::clock_gettime(CLOCK_MONOTONIC, &at);
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(bound).count();
  at.tv_sec += static_cast<time_t>(ns / 1'000'000'000);
  at.tv_nsec += static_cast<long>(ns % 1'000'000'000);
  if (at.tv_nsec >= 1'000'000'000) {
    at.tv_nsec -= 1'000'000'000;
    ++at.tv_sec;
  }
  return at;
}

int millis_until(const timespec& at) {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  const long long ms = (static_cast<long long>(at.tv_sec) - now.tv_sec) * 1000 +
                       (at.tv_nsec - now.tv_nsec) / 1'000'000;
  return ms <= 0 ? 0 : static_cast<int>(ms);
}

namespace {

// poll() for `events` on one fd, restarted after signals with the time left; the revents,
// or 0 once `at` has passed.
short poll_until(int fd, short events, const timespec& at) {
  for (;;) {
    pollfd p{fd, events, 0};
    const int ready = ::poll(&p, 1, millis_until(at));
    if (ready > 0) return p.revents;
    if (ready == 0 || errno != EINTR) return 0;
  }
}

}  // namespace

SharedExitWords::SharedExitWords(std::size_t count) : bytes_(count * sizeof(ExitWord)) {
  if (count == 0) return;
  void* mem = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return;
  words_ = static_cast<ExitWord*>(mem);
  for (std::size_t i = 0; i < count; ++i) new (&words_[i]) ExitWord(0);
}

SharedExitWords::~SharedExitWords() {
  if (words_) ::munmap(words_, bytes_);
}

void clear_at_exit(ExitWord& word) {
  static_assert(sizeof(ExitWord) == sizeof(int) && ExitWord::is_always_lock_free,
                "the kernel writes an int");
  word.store(static_cast<std::uint32_t>(::gettid()));
  ::syscall(SYS_set_tid_address, reinterpret_cast<int*>(&word));
}

bool wait_cleared(const ExitWord& word, std::chrono::milliseconds bound) {
  // FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time: one bound for all wakeups.
  // Not FUTEX_PRIVATE_FLAG: the kernel's wake at exit is a shared one.
  const timespec at = monotonic_after(bound);
  for (;;) {
    const std::uint32_t tid = word.load();
    if (tid == 0) return true;
    const long r = ::syscall(SYS_futex, const_cast<ExitWord*>(&word), FUTEX_WAIT_BITSET, tid, &at,
                             nullptr, FUTEX_BITSET_MATCH_ANY);
    if (r != 0 && errno == ETIMEDOUT) return word.load() == 0;
  }
}

bool witness_leader_exit(int fd) {
  int ready[2];
  if (::pipe2(ready, O_CLOEXEC) != 0) return false;
  sigset_t usr1, old;
  ::sigemptyset(&usr1);
  ::sigaddset(&usr1, SIGUSR1);
  ::pthread_sigmask(SIG_BLOCK, &usr1, &old);  // blocked in the witness from its start
  const pid_t witness = ::fork();
  if (witness == 0) {
    ::close(ready[0]);
    if (::prctl(PR_SET_PDEATHSIG, SIGUSR1) != 0) ::_exit(1);
    if (::write(ready[1], "r", 1) != 1) ::_exit(1);
    siginfo_t got{};
    while (::sigwaitinfo(&usr1, &got) < 0) {
    }
    siginfo_t none{};  // no children: only the lock is wanted (see the top of the file)
    ::waitid(P_ALL, 0, &none, WEXITED | WNOHANG);
    ::_exit(::write(fd, "z", 1) == 1 ? 0 : 1);
  }
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  ::close(ready[1]);
  // The leader must not exit before the witness has asked for the signal.
  char byte = 0;
  ssize_t n;
  while ((n = ::read(ready[0], &byte, 1)) < 0 && errno == EINTR) {
  }
  ::close(ready[0]);
  return witness > 0 && n == 1;
}

bool wait_for_byte(int fd, std::chrono::milliseconds bound) {
  if (!(poll_until(fd, POLLIN, monotonic_after(bound)) & (POLLIN | POLLHUP))) return false;
  char byte = 0;
  ssize_t n;
  while ((n = ::read(fd, &byte, 1)) < 0 && errno == EINTR) {
  }
  return n == 1;
}

bool wait_process_exit(pid_t pid, std::chrono::milliseconds bound) {
  const long pidfd = ::syscall(SYS_pidfd_open, pid, 0);
  if (pidfd < 0) return false;
  const bool exited = poll_until(static_cast<int>(pidfd), POLLIN, monotonic_after(bound)) != 0;
  ::close(static_cast<int>(pidfd));
  return exited;
}

}  // namespace pagescan::test
