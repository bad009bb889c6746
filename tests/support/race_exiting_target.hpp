// A forked target with a fixed layout that exits at a moment the test chooses, for scans
// racing a target's exit.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "pagescan/scan.hpp"

namespace pagescan::test {

class ExitingTarget {
 public:
  enum class Exit {
    by_itself,  // _exit(0)
    killed,     // SIGKILL (sent by the target to itself at the chosen moment)
  };

  // Forks a child that maps 2 * `regions` pages and writes every other one (so a scan for
  // PRESENT finds `regions` one-page regions), then waits. valid() is false on failure.
  ExitingTarget(std::size_t regions, Exit how);
  ExitingTarget(const ExitingTarget&) = delete;
  ExitingTarget& operator=(const ExitingTarget&) = delete;
  ~ExitingTarget();  // kills and reaps the child if still there

  bool valid() const { return base_ != 0; }
  pid_t pid() const { return pid_; }
  std::uint64_t start() const { return base_; }
  std::uint64_t end() const;
  // The regions a complete scan for PRESENT (returning PRESENT) finds.
  std::vector<PageRegion> expected() const;

  // Returns at once; the child exits `delay` after this call (it wakes from a futex and
  // then spins on the clock, so short delays are close to exact).
  void exit_after(std::chrono::nanoseconds delay);
  // Blocks until the child has exited, leaving it a zombie (not reaped).
  void wait_exited();
  // Reaps the child (waiting for it to exit); afterwards the pid names no process.
  void reap();

 private:
  struct Shared;
  Shared* shared_ = nullptr;
  pid_t pid_ = -1;
  std::uint64_t base_ = 0;
  std::size_t regions_ = 0;
};

}  // namespace pagescan::test
