// Header-only helpers for the CLI tests: the children of a process, a subreaper scope
// that catches (and cleans up) whatever a program leaves behind, and running a program
// with stdout on a pseudo-terminal (for colour). Header-only so the shared test-support
// library is unchanged.
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
    for (pid_t p : leftovers(0)) {
      ::kill(p, SIGKILL);
      ::waitpid(p, nullptr, 0);
    }
    ::prctl(PR_SET_CHILD_SUBREAPER, 0);
  }
  LeftoverCatcher(const LeftoverCatcher&) = delete;
  bool ok() const { return ok_; }

  // Children that were not there at construction. Those that exit within
  // `grace_seconds` (a browser's helpers shutting down) are reaped and not counted.
  std::vector<pid_t> leftovers(double grace_seconds) {
    timespec start{};
    ::clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
      std::vector<pid_t> now;
      for (pid_t p : children_of(::getpid())) {
        if (std::find(before_.begin(), before_.end(), p) != before_.end()) continue;
        if (::waitpid(p, nullptr, WNOHANG) == p) continue;  // a zombie: reaped now
        now.push_back(p);
      }
      timespec t{};
      ::clock_gettime(CLOCK_MONOTONIC, &t);
      double waited = static_cast<double>(t.tv_sec - start.tv_sec) +
                      static_cast<double>(t.tv_nsec - start.tv_nsec) / 1e9;
      if (now.empty() || waited >= grace_seconds) return now;
      ::usleep(50'000);
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
  // Read until the last holder of the terminal's other side closes it (EIO).
  timespec start{};
  ::clock_gettime(CLOCK_MONOTONIC, &start);
  for (;;) {
    timespec t{};
    ::clock_gettime(CLOCK_MONOTONIC, &t);
    if (t.tv_sec - start.tv_sec >= timeout_seconds) {
      run.timed_out = true;
      ::kill(pid, SIGKILL);
      break;
    }
    pollfd fd{master, POLLIN, 0};
    int ready = ::poll(&fd, 1, 1000);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
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
