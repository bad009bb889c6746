// Header-only helpers for the CLI tests: the children of a process, a subreaper scope
// that catches (and cleans up) whatever a program leaves behind, and running a program
// with stdout on a pseudo-terminal (for colour).
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
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

extern char** environ;

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

struct PtyRun {
  int exit_code = -1;
  bool timed_out = false;
  std::string out;  // stdout and stderr as the terminal saw them ("\r\n" line ends)
};

// Runs `path args...` with stdout and stderr on a new pseudo-terminal (stdin from
// /dev/null), so isatty(STDOUT_FILENO) is true in it. The environment is this process's
// minus NO_COLOR and TERM, plus `env` ("NAME=value").
inline PtyRun run_in_pty(const std::string& path, const std::vector<std::string>& args,
                         const std::vector<std::string>& env, int timeout_seconds = 60) {
  PtyRun run;
  int master = -1, slave = -1;
  winsize size{};
  size.ws_col = 250;
  size.ws_row = 60;
  if (::openpty(&master, &slave, nullptr, nullptr, &size) != 0) {
    run.out = std::string("openpty: ") + std::strerror(errno);
    return run;
  }
  ::fcntl(master, F_SETFD, FD_CLOEXEC);
  ::fcntl(slave, F_SETFD, FD_CLOEXEC);
  posix_spawn_file_actions_t actions;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  ::posix_spawn_file_actions_adddup2(&actions, slave, STDOUT_FILENO);
  ::posix_spawn_file_actions_adddup2(&actions, slave, STDERR_FILENO);
  std::vector<std::string> argv_text = {path};
  argv_text.insert(argv_text.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_text) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_text;
  for (char** e = environ; *e; ++e) {
    std::string_view v(*e);
    if (v.rfind("NO_COLOR=", 0) == 0 || v.rfind("TERM=", 0) == 0) continue;
    env_text.emplace_back(v);
  }
  env_text.insert(env_text.end(), env.begin(), env.end());
  std::vector<char*> envp;
  for (std::string& e : env_text) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid = -1;
  int error = ::posix_spawn(&pid, path.c_str(), &actions, nullptr, argv.data(), envp.data());
  ::posix_spawn_file_actions_destroy(&actions);
  ::close(slave);
  if (error != 0) {
    ::close(master);
    run.out = "posix_spawn " + path + ": " + std::strerror(error);
    return run;
  }
  // Read until the last holder of the terminal's other side closes it (EIO). The
  // timeout only turns a hang into a failure.
  const timespec end = monotonic_after(std::chrono::seconds(timeout_seconds));
  for (;;) {
    pollfd fd{master, POLLIN, 0};
    int ready = ::poll(&fd, 1, millis_until(end));
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) {
      run.timed_out = true;
      ::kill(pid, SIGKILL);
      break;
    }
    if (ready < 0) break;
    char buffer[65536];
    ssize_t n = ::read(master, buffer, sizeof buffer);
    if (n > 0) {
      run.out.append(buffer, static_cast<std::size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      break;
    }
  }
  ::close(master);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) run.exit_code = WEXITSTATUS(status);
  return run;
}

}  // namespace pagescan::test
