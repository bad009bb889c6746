// The terminal while `top` runs: keys read one at a time without echo (stdin only, and
// only when it is a terminal) and the drawing on the alternate screen (stdout only, when
// it is a terminal). Everything is put back by the destructor, which runs on every way
// out: q, Ctrl-C and SIGTERM (read from a signalfd, never killing pagescan), a failed
// write (an exception unwinding to main) and the end of the target.
#pragma once

#include <termios.h>

namespace pagescan::cli {

class TopTerminal {
 public:
  TopTerminal();
  ~TopTerminal();
  TopTerminal(const TopTerminal&) = delete;
  TopTerminal& operator=(const TopTerminal&) = delete;

  // Whether stdout is a terminal (redrawn screens) rather than a pipe or file (lines).
  bool screen() const { return screen_; }
  // The terminal's rows (LINES-like: TIOCGWINSZ on stdout), 24 when it does not say.
  unsigned rows() const;

 private:
  bool screen_ = false;
  bool raw_ = false;
  termios saved_{};
};

}  // namespace pagescan::cli
