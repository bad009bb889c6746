// The bad-input matrix's checks (docs/errors.md): what a failed call returned, and that it
// changed nothing in the process: open fds, SIGSEGV/SIGBUS handlers, userfaultfd
// registrations, the VMAs of the range it was given, uffd-wp bits of tracked pages.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "pagescan/result.hpp"
#include "support/memory.hpp"

namespace pagescan::test {

// A library call's result reduced to what docs/errors.md lists: errno, kind, message.
struct Outcome {
  bool ok = false;
  int errno_value = 0;
  std::string kind;  // to_string(ErrorKind), empty when ok
  std::string message;
};

template <class T>
Outcome outcome_of(const Result<T>& result) {
  if (result) return Outcome{true, 0, "", ""};
  const Error& e = result.error();
  return Outcome{false, e.errno_value(), std::string(to_string(e.kind())), e.message()};
}

std::ostream& operator<<(std::ostream& out, const Outcome& outcome);

// What follows "open /proc/{pid}/pagemap" when this caller is refused (docs/errors.md 2.5,
// 2.7), judged from /proc/self/status and /proc/self/ns/user: without CAP_SYS_PTRACE the
// ptrace-access reason; with it, a security module or the user namespace, since
// CAP_SYS_PTRACE in the target's namespace passes the kernel's capability rules.
std::string expected_permission_reason(pid_t pid);

// The call failed with exactly this errno, kind and message.
testing::AssertionResult failed_with(const Outcome& outcome, int errno_value, ErrorKind kind,
                                     const std::string& message);

// What a failing call must leave as it was.
struct ProcessState {
  std::vector<int> fds;                 // open file descriptors
  std::string segv, bus;                // SIGSEGV / SIGBUS disposition (handler, flags, mask)
  std::vector<std::string> uffd_vmas;   // every VMA registered with userfaultfd WP ("uw")
  std::vector<std::string> range_vmas;  // "start-end perms VmFlags" of VMAs in [lo, hi), clipped
  bool vmas_read = false;               // false when smaps is unreadable (a non-dumpable child)
};

// The state now. `lo`/`hi` select the VMAs recorded in full (none when lo == hi).
ProcessState capture_state(std::uint64_t lo = 0, std::uint64_t hi = 0);
// Names every difference.
testing::AssertionResult same_state(const ProcessState& before, const ProcessState& after);

// Runs `call` between two captures of the state (VMAs of [lo, hi) in full); returns its
// outcome and records in `changes` what it changed (empty when nothing).
Outcome run_checked(const std::function<Outcome()>& call, std::uint64_t lo, std::uint64_t hi,
                    std::string& changes);

// Fills the library's one-time caches (feature probes, the self handles scans and
// snapshots keep, each watch engine's self-test, the mprotect engine's handler) with
// successful calls, so that what a failing call changes afterwards is its own doing.
void warm_up_library();

// The pages of `m` (by index) whose pagemap entry has the uffd-wp bit (57): armed pages.
std::vector<std::size_t> armed_pages(const Mapping& m);

// What a fork()ed child reported: the outcome of its call and whether its state was kept.
struct ChildReport {
  bool ran = false;  // false: the child could not be set up (see `why`)
  std::string why;   // set-up failure, or the state the call changed
  bool unchanged = false;
  Outcome outcome;
};

// Runs `call` in a fork()ed child, as uid/gid `as_user` when given (root only), with its
// fds and signal handlers checked around it; the child never returns into the test.
ChildReport run_in_child(const std::function<Outcome()>& call,
                         std::optional<uid_t> as_user = std::nullopt);

// A pid that names a zombie: a child that has exited and is not reaped until destruction.
class Zombie {
 public:
  Zombie();
  ~Zombie();
  Zombie(const Zombie&) = delete;
  Zombie& operator=(const Zombie&) = delete;
  pid_t pid() const { return pid_; }
  bool ok() const { return ok_; }  // the child is a zombie ('Z' in /proc/PID/stat)

 private:
  pid_t pid_ = -1;
  bool ok_ = false;
};

// A live process whose main thread has exited (syscall exit, not exit_group) while a
// second thread runs on: /proc/PID/stat shows the leader as a zombie, yet the process and
// its address space live. `before_exit` runs in the parent while the leader still runs.
class ExitedLeader {
 public:
  explicit ExitedLeader(const std::function<void(pid_t)>& before_exit);
  ~ExitedLeader();
  ExitedLeader(const ExitedLeader&) = delete;
  ExitedLeader& operator=(const ExitedLeader&) = delete;
  pid_t pid() const { return pid_; }
  bool ok() const { return ok_; }  // the leader is 'Z' and the other thread lives

 private:
  pid_t pid_ = -1;
  bool ok_ = false;
};

// A kernel thread's pid (kthreadd, pid 2, when it is one), or 0.
pid_t find_kernel_thread();

// "0x7f00..." as the library prints addresses.
std::string hex_address(std::uint64_t value);

}  // namespace pagescan::test
