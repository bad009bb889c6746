// Race-test plumbing: address space nobody else maps into, time budgets scaled for the
// sanitizers, open-fd counts, and waiting for a child's exit with a bound against hangs.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "support/sanitizers.hpp"  // kUnderSanitizer, which race tests scale by

namespace pagescan::test {

// `normal` in the default build, half of it under a sanitizer (kUnderSanitizer): ASan and
// TSan slow every memory access and system call interceptor 2-15x, and CI runs the whole
// suite under each of them on 2 cores. The races still get hundreds of rounds.
std::chrono::milliseconds race_budget(std::chrono::milliseconds normal);

// A range of address space, unmapped on destruction, that other threads' mappings do not
// land in even after parts of it are unmapped (see race_address_space.cpp).
class QuietRange {
 public:
  // PROT_NONE reservation of `length` bytes; start() is 0 when none could be placed.
  explicit QuietRange(std::size_t length);
  QuietRange(const QuietRange&) = delete;
  QuietRange& operator=(const QuietRange&) = delete;
  ~QuietRange();

  std::uint64_t start() const { return start_; }
  std::uint64_t end() const { return start_ + length_; }
  std::size_t length() const { return length_; }
  char* data() const { return reinterpret_cast<char*>(start_); }
  // Why start() is 0.
  const std::string& why_not() const { return why_; }

 private:
  std::uint64_t start_ = 0;
  std::size_t length_ = 0;
  std::string why_;
};

// Open file descriptors of this process, and those that are userfaultfds.
std::size_t open_fd_count();
std::size_t userfaultfd_count();

// Waits for child `pid` to exit (its pidfd's event) and reaps it. `timeout` only turns a
// hang into a failure: past it the child is killed with SIGKILL and reaped, and
// `timed_out` says so. Returns the wait status.
int wait_with_timeout(pid_t pid, std::chrono::milliseconds timeout, bool& timed_out);

}  // namespace pagescan::test
