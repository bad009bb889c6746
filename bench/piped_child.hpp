// A benchmark's target process: a plain program spawned with its stdin and stdout on
// pipes, so that the benchmark sends it commands and reads its answers; closing its stdin
// ends it. Shared by bench_census, bench_dump and bench_remote_watch.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>
#include <vector>

namespace pagescan::bench {

class PipedChild {
 public:
  // Starts `path` with `args` (argv[1]...). On failure pid() is -1 and error() says why.
  explicit PipedChild(const std::string& path, const std::vector<std::string>& args = {});
  ~PipedChild();  // closes its stdin (it exits) and reaps it
  PipedChild(PipedChild&& other) noexcept;
  PipedChild(const PipedChild&) = delete;
  PipedChild& operator=(const PipedChild&) = delete;
  PipedChild& operator=(PipedChild&&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& error() const { return error_; }

  // One line of its output without the newline, read a byte at a time so that binary
  // answers after it stay in the pipe; "" at the end of its output.
  std::string read_line();
  // Reads exactly `bytes`, or writes all of `data`: false when the pipe ended first.
  bool read_exactly(void* data, std::size_t bytes);
  bool write_all(const void* data, std::size_t bytes);

 private:
  pid_t pid_ = -1;
  int to_ = -1;    // its stdin
  int from_ = -1;  // its stdout
  std::string error_;
};

}  // namespace pagescan::bench
