// When `pagescan dump --every` takes its next core: every SECONDS from the first, unless
// the target exits first (its pidfd becomes readable) or SIGINT/SIGTERM arrives. The
// signals are blocked for the whole command and read from a signalfd, so they are seen
// between dumps, never in the middle of one: a core is always finished or not begun.
#pragma once

#include <sys/types.h>

#include <cstdint>

#include "cli/stop_signals.hpp"

namespace pagescan::cli {

enum class DumpWake {
  due,     // time for the next dump
  exited,  // the target exited
  signal,  // SIGINT or SIGTERM
};

class DumpClock {
 public:
  DumpClock(pid_t pid, double seconds);
  ~DumpClock();
  DumpClock(const DumpClock&) = delete;
  DumpClock& operator=(const DumpClock&) = delete;

  // False when the signals could not be set up (errno says why).
  bool ready() const { return signals_.ready(); }
  // Waits for dump `number` (2, 3, ...): due at start + (number - 1) * seconds, or at
  // once when that time has passed (a dump slower than the interval is not followed by
  // a burst to catch up: the next is due an interval after it).
  DumpWake wait_for(std::uint64_t number);
  // Whether SIGINT or SIGTERM arrived (checked after a dump).
  bool signalled();

 private:
  double seconds_;
  std::uint64_t start_ns_ = 0;
  std::uint64_t skipped_ = 0;  // intervals skipped after slow dumps
  StopSignals signals_;
  int pid_fd_ = -1;
};

}  // namespace pagescan::cli
