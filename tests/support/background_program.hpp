// A server program run in the background for a test (pagescan exporter, prometheus,
// node_exporter): its stdout and stderr go to a log file the test can read, and it is
// stopped (SIGTERM, then SIGKILL) when the test ends, also on failure.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace pagescan::test {

class BackgroundProgram {
 public:
  // Starts `path args...` with output to `log_path`. On failure pid() is -1.
  BackgroundProgram(const std::string& path, const std::vector<std::string>& args,
                    std::string log_path);
  ~BackgroundProgram();
  BackgroundProgram(const BackgroundProgram&) = delete;
  BackgroundProgram& operator=(const BackgroundProgram&) = delete;

  pid_t pid() const { return pid_; }
  // What it printed so far.
  std::string log() const;
  // Waits until the log holds `text`, or it exited, or `timeout_ms` passed; true when found.
  bool wait_for_log(const std::string& text, int timeout_ms = 10'000) const;
  // SIGTERM, then waits up to `timeout_ms` (SIGKILL after). Its exit status, -1 when a
  // signal ended it, -2 when it had to be killed.
  int stop(int timeout_ms = 5'000);
  // Reaps it if it has exited: its exit status, or nullopt-like -3 while it runs.
  int poll_exit();

 private:
  pid_t pid_ = -1;
  std::string log_path_;
  int status_ = -3;
};

// A TCP port on 127.0.0.1 that no socket holds right now (the kernel's pick for port 0).
int free_loopback_port();

// "pagescan: serving http://127.0.0.1:PORT/metrics" in an exporter's log: the port, or 0.
int served_port(const std::string& log);

}  // namespace pagescan::test
