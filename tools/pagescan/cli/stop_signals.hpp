// SIGINT and SIGTERM for commands that run until stopped (watch, top, dump --every):
// blocked for the rest of the command and read from a signalfd, so that the command sees
// them between its steps, never in the middle of one (a round printed whole, a core
// finished or not begun). They stay blocked until pagescan exits: a second Ctrl-C
// pending then would kill it before its last line and the final flush.
#pragma once

#include <cstdint>

namespace pagescan::cli {

class StopSignals {
 public:
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  // False when the signals could not be set up (errno says why).
  bool ready() const { return fd_ >= 0; }
  // Readable (POLLIN) when one is pending: for a caller's poll().
  int fd() const { return fd_; }
  // The pending signal (SIGINT or SIGTERM), taken; 0 when none is pending.
  int take();

 private:
  int fd_ = -1;
};

// CLOCK_MONOTONIC in nanoseconds.
std::uint64_t monotonic_ns();
// poll()'s timeout until `deadline_ns` (monotonic, in the future), in whole milliseconds
// rounded up (a wake before the deadline would only poll again), at most a day.
int poll_timeout_until(std::uint64_t deadline_ns, std::uint64_t now_ns);

}  // namespace pagescan::cli
