// A plain program (tests/targets/plain_target, which does not link pagescan) started
// with pipes on its stdin and stdout, for tests that act on another process.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace pagescan::test {

class TargetProcess {
 public:
  // Starts plain_target with `args` and reads its "ready <pid> <region> <pages>" line.
  // On failure pid() is -1 and error() says why.
  explicit TargetProcess(const std::vector<std::string>& args);
  ~TargetProcess();  // SIGKILL and reap
  TargetProcess(const TargetProcess&) = delete;
  TargetProcess& operator=(const TargetProcess&) = delete;

  pid_t pid() const { return pid_; }
  std::uint64_t region() const { return region_; }
  std::uint64_t pages() const { return pages_; }
  const std::string& error() const { return error_; }

  // Writes `line` and a newline to its stdin.
  bool send(const std::string& line);
  // Closes its stdin (end of input).
  void close_input();
  // The next line of its stdout, without the newline; "" after `timeout_ms` or at EOF.
  std::string read_line(int timeout_ms = 10'000);
  // Waits for it to exit; its exit status, or -1.
  int wait_exit();

 private:
  pid_t pid_ = -1;
  int in_ = -1;   // its stdin, our write end
  int out_ = -1;  // its stdout, our read end
  std::string buffered_;
  std::uint64_t region_ = 0;
  std::uint64_t pages_ = 0;
  std::string error_;
};

// Waits (up to `timeout_ms`) until thread `tid` is blocked in system call `number`, as
// /proc/TID/syscall shows (needs ptrace read access). False on timeout.
bool wait_in_syscall(pid_t tid, long number, int timeout_ms = 10'000);

// What /proc/PID/fd and /proc/PID/maps show, to compare before and after an attach.
std::vector<std::string> fd_table(pid_t pid);
std::string maps_text(pid_t pid);

}  // namespace pagescan::test
