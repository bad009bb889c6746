// A forked child with a known memory layout, for scanning another process.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <vector>

namespace pagescan::test {

// Forks a child that runs `setup` (which builds a layout and returns addresses to report),
// sends those addresses to the parent, and then waits until told to exit (or killed).
class ChildProcess {
 public:
  using Setup = std::function<std::vector<std::uint64_t>()>;
  explicit ChildProcess(const Setup& setup);
  ChildProcess(const ChildProcess&) = delete;
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  const std::vector<std::uint64_t>& addresses() const { return addresses_; }
  // Ends the child and reaps it; after this pid() names no process.
  void kill_and_reap();
  // Tells the child to exit by itself (it exits at once) and reaps it.
  void finish();

 private:
  pid_t pid_ = -1;
  int control_ = -1;  // write end: closing it makes the child exit
  std::vector<std::uint64_t> addresses_;
};

}  // namespace pagescan::test
