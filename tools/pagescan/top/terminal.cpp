// The terminal while `top` runs (terminal.hpp).
#include "top/terminal.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdio>

namespace pagescan::cli {

namespace {

// Alternate screen on, cursor hidden; and their undoing.
constexpr const char* kEnter = "\x1b[?1049h\x1b[?25l";
constexpr const char* kLeave = "\x1b[?25h\x1b[?1049l";

}  // namespace

TopTerminal::TopTerminal() {
  screen_ = ::isatty(STDOUT_FILENO) == 1;
  if (::isatty(STDIN_FILENO) && ::tcgetattr(STDIN_FILENO, &saved_) == 0) {
    termios raw = saved_;
    // No line editing, no echo; ISIG stays, so Ctrl-C is SIGINT (taken from the signalfd).
    raw.c_lflag &= static_cast<tcflag_t>(~(ICANON | ECHO));
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    raw_ = ::tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
  }
  if (screen_) {
    std::fputs(kEnter, stdout);
    std::fflush(stdout);
  }
}

TopTerminal::~TopTerminal() {
  if (screen_) {
    // clearerr: a failed frame must not stop the screen from being put back.
    std::clearerr(stdout);
    std::fputs(kLeave, stdout);
    std::fflush(stdout);
  }
  if (raw_) ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
}

unsigned TopTerminal::rows() const {
  winsize size{};
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_row > 0) return size.ws_row;
  return 24;
}

}  // namespace pagescan::cli
