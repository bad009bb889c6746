// A plain program (tests/targets/plain_target, which does not link pagescan) started
// with pipes on its stdin and stdout (PipedProgram), for tests that act on another process.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "support/piped_program.hpp"

namespace pagescan::test {

class TargetProcess : public PipedProgram {
 public:
  // Starts plain_target with `args` and reads its "ready <pid> <region> <pages>" line.
  // On failure pid() is -1 and error() says why.
  explicit TargetProcess(const std::vector<std::string>& args);

  std::uint64_t region() const { return region_; }
  std::uint64_t pages() const { return pages_; }

 private:
  std::uint64_t region_ = 0;
  std::uint64_t pages_ = 0;
};

// Waits (up to `timeout_ms`) until thread `tid` is blocked in system call `number`, as
// /proc/TID/syscall shows (needs ptrace read access). False on timeout.
bool wait_in_syscall(pid_t tid, long number, int timeout_ms = 10'000);

// Whether any VMA of `pid` is registered for uffd write-protect ("uw" in its smaps): a
// watch armed there, or markers left behind.
bool any_uffd_wp_registered(pid_t pid);

// What /proc/PID/fd and /proc/PID/maps show, to compare before and after an attach.
std::vector<std::string> fd_table(pid_t pid);
std::string maps_text(pid_t pid);

}  // namespace pagescan::test
