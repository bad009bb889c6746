// A churning address space for race tests: a thread of this process or a forked child
// maps, unmaps, mprotects and mremaps pages of a quiet arena in a loop and logs every
// mapping it makes in shared memory, so that a scan's answer can be checked against what
// was mapped at some moment during the scan.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "support/race_address_space.hpp"

namespace pagescan::test {

// One logged change, in arena page indexes. A mapping is logged before the system call
// that makes it and an unmapping after the call that removes it (a failed call leaves a
// mapping logged that never was), so at every moment the log errs towards "mapped": the
// safe side for checking that every reported page was mapped.
struct ChurnEvent {
  std::uint32_t first;
  std::uint16_t pages;
  std::uint16_t mapped;
};

class Churner {
 public:
  // Reserves a quiet arena of `pages` pages (at most 65535), mapped PROT_NONE to begin
  // with (logged as the first event). The churn starts with start_thread/start_child.
  Churner(std::size_t pages, std::uint64_t seed);
  Churner(const Churner&) = delete;
  Churner& operator=(const Churner&) = delete;
  ~Churner();

  // False when no quiet arena could be reserved (why_not() says why).
  bool ready() const { return arena_.start() != 0; }
  const std::string& why_not() const { return arena_.why_not(); }
  std::uint64_t start() const { return arena_.start(); }
  std::uint64_t end() const { return arena_.end(); }
  std::size_t pages() const { return pages_; }

  // Churns in a new thread of this process, or in a forked child (which only calls
  // mmap, munmap, mprotect, mremap and madvise, so nothing else maps into its arena).
  void start_thread();
  void start_child();
  pid_t child_pid() const { return child_; }

  // Stops the churn. Returns "" or what went wrong (a child that died or hung).
  std::string stop();

  // Events published so far: read before a scan starts and after it returns.
  std::uint64_t published() const;
  // System calls that succeeded, and whether the log filled up (the churn then idles).
  std::uint64_t operations() const;
  bool log_full() const;

  // For each arena page, whether it may have been mapped at some moment between the
  // reads of published() that returned `from` and `to`: mapped after the events before
  // `from`, or mapped by an event in [from, to). Successive calls pass non-decreasing
  // `from` (the replay only moves forward).
  std::vector<char> mapped_between(std::uint64_t from, std::uint64_t to);

  struct Shared;  // the log and the flags, in MAP_SHARED memory (race_churn.cpp)

 private:
  QuietRange arena_;
  std::size_t pages_;
  std::uint64_t seed_;
  Shared* shared_ = nullptr;
  std::thread thread_;
  pid_t child_ = -1;
  std::vector<char> live_;  // replayed state after `applied_` events
  std::uint64_t applied_ = 0;
};

}  // namespace pagescan::test
