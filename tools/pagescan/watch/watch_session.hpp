// What `watch` and `top` share: the watched process (one ProcessWriteWatch per --range,
// or one over the whole process), the rounds' pacing (an interval, or a line on stdin),
// SIGINT/SIGTERM seen as events rather than deaths (so the watch is destroyed and the
// target left clean), and the written pages split per mapping.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cli/arguments.hpp"
#include "cli/stop_signals.hpp"
#include "pagescan/memory_map.hpp"
#include "pagescan/process_watch.hpp"

namespace pagescan::cli {

// The written pages of one mapping in one round.
struct MappingWrites {
  MappedRegion vma;
  std::vector<PageRange> ranges;  // within the mapping, ascending
  std::uint64_t pages = 0;
};
// `written` split at the mappings of `vmas` (address order); pages in no mapping (it went
// away since) are under a mapping with an empty path and perms "----".
// One round: what was written since the round before, and the same split per mapping.
struct Round {
  Harvest harvest;
  std::vector<MappingWrites> by_mapping;
};

// The watches over one process: one per range (each armed on its own, so the target
// pays faults only there), or one over its whole writable address space.
class WatchSet {
 public:
  // `ranges` empty: the whole process. Overlapping or touching ranges (after rounding
  // out to pages) are merged first: a page can be registered with one watch only.
  static Result<WatchSet> attach(pid_t pid, std::vector<AddressRange> ranges,
                                 const ProcessWatchOptions& options);

  pid_t pid() const { return pid_; }
  WatchEngine engine() const { return watches_.front().engine(); }
  std::vector<PageRange> armed() const;
  std::vector<UntrackedRange> untracked() const;
  // Every watch's harvest merged: ascending, coalesced.
  Result<Harvest> collect();
  // collect(), split at the mappings of `maps_of` (read only when something was written;
  // null: not split). An error with ended() set when the target ended.
  Result<Round> collect_round(const Process* maps_of);
  // running until a collect failed because the target ended.
  WatchEnd ended() const { return ended_; }

 private:
  pid_t pid_ = 0;
  std::vector<ProcessWriteWatch> watches_;
  WatchEnd ended_ = WatchEnd::running;
};

// "exited", "exec", or "killed" when the ended target is still a zombie whose exit status
// (/proc/PID/stat) says a signal ended it. Once its parent has reaped it nothing tells,
// and a killed target reads as "exited".
std::string end_reason(pid_t pid, WatchEnd end);

// What waiting for the next round returned.
enum class Wake {
  round,   // the interval passed, or a line arrived on stdin
  eof,     // --trigger stdin: end of input
  signal,  // SIGINT or SIGTERM
  key,     // top: a key on the terminal (Pacer::key())
};

// Paces the rounds. SIGINT and SIGTERM are blocked for the whole command and read from a
// signalfd, so they end the wait (never a write or a collect halfway).
class Pacer {
 public:
  enum class Mode { interval, stdin_lines, keys };
  // interval: every `seconds` (measured from the start, so a slow round does not drift);
  // stdin_lines: one round per line on stdin; keys: every `seconds`, and a key typed on
  // stdin (a terminal in raw mode) wakes it early.
  Pacer(Mode mode, double seconds);

  // False when the signals could not be set up (errno says why).
  bool ready() const { return signals_.ready(); }
  Wake wait();
  char key() const { return key_; }
  // The signal that ended the wait (SIGINT, SIGTERM), 0 otherwise.
  int signal() const { return signal_; }

 private:
  Mode mode_;
  double seconds_;
  StopSignals signals_;
  std::uint64_t ticks_ = 0;
  std::uint64_t start_ns_ = 0;
  std::size_t pending_lines_ = 0;  // lines read but not yet turned into rounds
  bool stdin_ended_ = false;
  std::string partial_;  // a line's beginning, its newline not read yet
  char key_ = 0;
  int signal_ = 0;
};

std::vector<MappingWrites> split_by_mapping(const std::vector<PageRange>& written,
                                            const std::vector<MappedRegion>& vmas);

std::uint64_t page_size();

// Flushes stdout after a round, so a reader of a pipe sees it at once. A failed write
// throws cli::OutputError (standard_output.hpp), which main() reports (exit 1).
void flush_round();

}  // namespace pagescan::cli
