// A program started with pipes on its stdin and stdout, read line by line while it runs
// (plain_target, a long-running pagescan command driven round by round).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace pagescan::test {

class PipedProgram {
 public:
  // Starts `path args...` (stderr inherited), the environment this process's plus `env`.
  // On failure pid() is -1 and error() says why.
  PipedProgram(const std::string& path, const std::vector<std::string>& args,
               const std::vector<std::string>& env = {});
  ~PipedProgram();  // SIGKILL and reap, unless it was waited for
  PipedProgram(const PipedProgram&) = delete;
  PipedProgram& operator=(const PipedProgram&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& error() const { return error_; }

  // Writes `line` and a newline to its stdin.
  bool send(const std::string& line);
  // Closes its stdin (end of input).
  void close_input();
  // The next line of its stdout, without the newline; "" after `timeout_ms` or at EOF.
  std::string read_line(int timeout_ms = 10'000);
  // Waits for it to exit; its exit status, or -1 (killed by a signal).
  int wait_exit();

 protected:
  pid_t pid_ = -1;
  std::string error_;

 private:
  int in_ = -1;   // its stdin, our write end
  int out_ = -1;  // its stdout, our read end
  std::string buffered_;
};

}  // namespace pagescan::test
