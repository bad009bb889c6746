// Runs a program on a pseudo-terminal of a given size, as a person at a terminal would:
// stdout and stderr are a tty (colour on, width from TIOCGWINSZ).
#pragma once

#include <termios.h>

#include <optional>
#include <string>
#include <vector>

namespace pagescan::test {

struct PtyRun {
  int exit_code = -1;
  bool timed_out = false;
  std::string out;  // stdout and stderr as the terminal saw them ("\r\n" line ends)

  // `out` split into lines, without their "\r\n".
  std::vector<std::string> lines() const;

  // With input (below): the terminal's attributes before the program started, just
  // before the last input was given, and after it exited.
  std::optional<termios> before, during, after;
};

struct TerminalSize {
  unsigned short columns = 250;
  unsigned short rows = 60;
};

// Runs `path args...` with stdout and stderr on a new pseudo-terminal of `size` (stdin
// from /dev/null). The environment is this process's minus NO_COLOR and TERM (which
// decide colour) and COLUMNS and LINES (so the terminal's size is the only one), plus
// `env` ("NAME=value").
PtyRun run_in_pty(const std::string& path, const std::vector<std::string>& args,
                  const std::vector<std::string>& env, int timeout_seconds = 60,
                  TerminalSize size = {});

// What a person does at the terminal, in order: once `after` has appeared in the output
// (since the previous step), types `text` or sends `signal` to the program.
struct PtyInput {
  std::string after;
  std::string text;
  int signal = 0;
};
// run_in_pty() with stdin on the terminal too, and `input` given as it says.
PtyRun run_in_pty(const std::string& path, const std::vector<std::string>& args,
                  const std::vector<std::string>& env, int timeout_seconds, TerminalSize size,
                  const std::vector<PtyInput>& input);

}  // namespace pagescan::test
