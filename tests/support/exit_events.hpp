// Events that say another thread or process has exited, for tests that must wait for
// one: never a sleep, a wall-clock window or a polling loop with a deadline (under load
// those pass alone and fail in a busy suite). Each wait takes a safety bound that only
// turns a hang into a failure; a correct run never comes near it.
#pragma once

#include <sys/types.h>
#include <time.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace pagescan::test {

// Far above any legitimate wait, even on a loaded machine: reaching it means a hang.
inline constexpr std::chrono::seconds kHangBound{120};

// A word the kernel clears, and wakes shared futex waiters on, when the thread that armed
// it exits (set_tid_address(2): glibc's pthread_join waits the same way). The kernel
// clears it in exit_mm(), after the thread has set PF_EXITING and while it lets go of the
// address space, and only while another thread still uses that address space: the last
// thread of a process clears nothing (wait for the process instead). One waiter per word
// (the kernel wakes one).
using ExitWord = std::atomic<std::uint32_t>;

// `count` exit words in MAP_SHARED memory, so that a forked child's threads can arm them
// and the parent wait on them. ok() is false when the memory could not be mapped.
class SharedExitWords {
 public:
  explicit SharedExitWords(std::size_t count);
  ~SharedExitWords();
  SharedExitWords(const SharedExitWords&) = delete;
  SharedExitWords& operator=(const SharedExitWords&) = delete;

  bool ok() const { return words_ != nullptr; }
  ExitWord& operator[](std::size_t i) const { return words_[i]; }

 private:
  ExitWord* words_ = nullptr;
  std::size_t bytes_ = 0;
};

// Run by the thread itself: stores its tid in `word` and has the kernel clear it when the
// thread exits.
void clear_at_exit(ExitWord& word);

// Waits until `word` is 0 (the thread that armed it is exiting); false after `bound`.
bool wait_cleared(const ExitWord& word, std::chrono::milliseconds bound = kHangBound);

// Run by a process's main thread just before it exits alone (syscall(SYS_exit), other
// threads running on): forks a witness that writes one byte to `fd` once that exit has
// made the leader a zombie ('Z' in /proc/PID/stat). Returns false when the witness could
// not be set up. Nothing else tells another thread or process that moment: the leader's
// parent hears of it only when the last thread exits, and a PIDFD_THREAD pidfd of a
// leader turns readable only then too.
bool witness_leader_exit(int fd);

// Waits for one byte on `fd` (a pipe an event is written to); false on end of file or
// error, or after `bound`.
bool wait_for_byte(int fd, std::chrono::milliseconds bound = kHangBound);

// CLOCK_MONOTONIC `bound` from now, and the milliseconds left until such a time (at least
// 0, for poll()): one bound for a wait that wakes many times.
timespec monotonic_after(std::chrono::milliseconds bound);
int millis_until(const timespec& at);

// Waits until process `pid` (a child or not) has exited, through a pidfd, without reaping
// it; false after `bound`, or when no pidfd could be opened (the pid names no process).
bool wait_process_exit(pid_t pid, std::chrono::milliseconds bound = kHangBound);

}  // namespace pagescan::test
