// Header-only helpers for the CLI tests: the children of a process, a subreaper scope
// that catches (and cleans up) whatever a program leaves behind, and running a program
// with stdout on a pseudo-terminal (for colour).
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "support/exit_events.hpp"

namespace pagescan::test {

// The pids whose parent is `parent`, zombies included.
inline std::vector<pid_t> children_of(pid_t parent) {
  std::vector<pid_t> children;
  DIR* proc = ::opendir("/proc");
  if (!proc) return children;
  while (dirent* entry = ::readdir(proc)) {
    if (!std::isdigit(static_cast<unsigned char>(entry->d_name[0]))) continue;
    std::ifstream stat(std::string("/proc/") + entry->d_name + "/stat");
    std::string text;
    std::getline(stat, text);
    std::size_t close = text.rfind(')');  // the command name may hold spaces and ')'
    if (close == std::string::npos || close + 2 > text.size()) continue;
    std::istringstream rest(text.substr(close + 2));
    char state = 0;
    long ppid = 0;
    rest >> state >> ppid;
    if (ppid == parent) children.push_back(static_cast<pid_t>(std::stol(entry->d_name)));
  }
  ::closedir(proc);
  return children;
}

// While it lives, this process is a subreaper: orphans of the programs it runs become
// its children, so anything they leave behind is visible. leftovers() names them;
// the destructor kills and reaps them (only those: other children are left alone).
class LeftoverCatcher {
 public:
  LeftoverCatcher() : before_(children_of(::getpid())) {
    ok_ = ::prctl(PR_SET_CHILD_SUBREAPER, 1) == 0;
  }
  ~LeftoverCatcher() {
    for (pid_t p : leftovers()) {
      ::kill(p, SIGKILL);
      ::waitpid(p, nullptr, 0);
    }
    ::prctl(PR_SET_CHILD_SUBREAPER, 0);
  }
  LeftoverCatcher(const LeftoverCatcher&) = delete;
  bool ok() const { return ok_; }

  // Children that were not there at construction and still run now; zombies among them
  // are reaped and not counted.
  std::vector<pid_t> leftovers() {
    std::vector<pid_t> now;
    for (pid_t p : children_of(::getpid())) {
      if (std::find(before_.begin(), before_.end(), p) != before_.end()) continue;
      if (::waitpid(p, nullptr, WNOHANG) == p) continue;  // a zombie: reaped now
      now.push_back(p);
    }
    return now;
  }

  // Waits for each new child to exit by itself (a browser's helpers shutting down, a
  // workload killed by its parent-death signal), on its pidfd, and reaps it; the
  // orphans each exit hands over are listed and waited for in turn. Returns those still
  // running after `bound`, which only turns a hang into a failure: no grace period.
  std::vector<pid_t> leftovers_once_exited(std::chrono::milliseconds bound = kHangBound) {
    const timespec end = monotonic_after(bound);
    for (;;) {
      std::vector<pid_t> now = leftovers();
      if (now.empty()) return now;
      for (pid_t p : now) {
        if (!wait_process_exit(p, std::chrono::milliseconds(millis_until(end))) &&
            millis_until(end) == 0) {
          return leftovers();  // past the bound: what runs now is left over
        }
      }
    }
  }

 private:
  std::vector<pid_t> before_;
  bool ok_ = false;
};

}  // namespace pagescan::test
