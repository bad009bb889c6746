// Runs the built pagescan binary and captures its stdout, stderr and exit status.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace pagescan::test {

struct CliRun {
  int exit_code = -1;  // the exit status, or -1 when killed by a signal
  int signal = 0;      // the terminating signal, 0 when it exited
  bool timed_out = false;
  std::string out;
  std::string err;

  // Lines of `out` / `err` without their newlines.
  std::vector<std::string> out_lines() const;
  std::vector<std::string> err_lines() const;
  // "exit 2; stderr: ..." for assertion messages.
  std::string describe() const;
};

// Runs `path args...` (posix_spawn, stdin from /dev/null) with the current environment
// plus `extra_env` ("NAME=value"), reading both pipes until it exits. A run longer than
// `timeout_seconds` is killed and reported as timed_out.
CliRun run_program(const std::string& path, const std::vector<std::string>& args,
                   const std::vector<std::string>& extra_env = {}, int timeout_seconds = 60);

// NULL-terminated arrays over owned strings, as execve and posix_spawn take argv and envp.
class CStringArray {
 public:
  explicit CStringArray(std::vector<std::string> strings);
  CStringArray(const CStringArray&) = delete;
  char* const* data() { return pointers_.data(); }

 private:
  std::vector<std::string> strings_;
  std::vector<char*> pointers_;
};
// `path` then `args`.
CStringArray argv_of(const std::string& path, const std::vector<std::string>& args);
// This process's environment without the variables named in `drop` ("TERM"), then `add`
// ("NAME=value").
CStringArray environment_with(const std::vector<std::string>& add,
                              const std::vector<std::string>& drop = {});

// Where the program's stdout goes, for the tests of lost output.
enum class StdoutTo {
  pipe,         // captured in CliRun::out
  dev_full,     // every write fails with ENOSPC
  closed,       // descriptor 1 is not open
  read_only,    // descriptor 1 is /dev/null opened read-only: writes fail with EBADF
  broken_pipe,  // a pipe whose read end is closed before the program starts: EPIPE
};
struct SpawnOptions {
  StdoutTo stdout_to = StdoutTo::pipe;
  bool ignore_sigpipe = false;  // start with SIGPIPE ignored (as under some supervisors)
};
CliRun run_program(const std::string& path, const std::vector<std::string>& args,
                   const std::vector<std::string>& extra_env, int timeout_seconds,
                   const SpawnOptions& options);

// run_program() on the pagescan binary (PAGESCAN_CLI_PATH, set by tests/CMakeLists.txt).
CliRun run_cli(const std::vector<std::string>& args,
               const std::vector<std::string>& extra_env = {});
CliRun run_cli(const std::vector<std::string>& args, const SpawnOptions& options);

// The text as one line (without its newline), or "" when it is not exactly one line.
std::string single_line(const std::string& text);

// Terminal columns of a line: one per UTF-8 character (heat-strip blocks and '·' are
// single-width), none for an ANSI escape sequence (ESC [ ... final byte).
std::size_t display_columns(const std::string& line);

}  // namespace pagescan::test
