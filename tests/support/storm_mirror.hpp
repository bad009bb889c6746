// The mirror test of remote write tracking: while plain_target's storm mode writes
// non-stop, a tracker copies only the pages each harvest reports into a mirror of the
// target's region (and every second harvest into a control). After the storm stops and a
// last harvest, a tracker that loses nothing has a mirror equal to the target's memory,
// and the control differs (the harvests carried what the mirror needed).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>

#include "pagescan/result.hpp"
#include "pagescan/watch.hpp"
#include "support/target_process.hpp"

namespace pagescan::test {

struct StormMirror {
  int harvests = 0;            // during the storm
  std::string stopped;         // the storm's last line ("stopped <writes>")
  bool mirror_equal = false;   // mirror == memory at the end
  bool control_equal = false;  // control == memory at the end (should be false)
  std::string error;           // a harvest or a read that failed, else empty
};

// Runs a storm of `ms` milliseconds over the target's first `pages` pages, calling
// `harvest` in a loop until it stops, then once more.
StormMirror mirror_storm(TargetProcess& storm, std::uint64_t pages, int ms,
                         const std::function<Result<Harvest>()>& harvest);

// The expectations on a run of a tracker that loses nothing: no error, the storm ran to
// its end, more than 10 harvests raced it, the mirror equals the memory and the control
// does not (else the test proves nothing).
void expect_mirror_kept_up(const StormMirror& run);

// Waits (up to `timeout_ms`) until `pid`'s state in /proc/PID/stat is `state` ('Z',
// 'T', ...). False on timeout.
bool wait_state(pid_t pid, char state, int timeout_ms = 5'000);

}  // namespace pagescan::test
