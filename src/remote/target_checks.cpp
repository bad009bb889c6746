// The checks before any ptrace attach to another process (see target_checks.hpp).
#include "remote/target_checks.hpp"

#include <dirent.h>

#include <fstream>
#include <optional>
#include <sstream>
#include <string>

namespace pagescan::remote {

namespace {

// PF_KTHREAD in /proc/PID/stat's flags (include/linux/sched.h).
constexpr unsigned long kPfKthread = 0x00200000;

// State and flags from /proc/PID/stat (the fields after the parenthesised comm).
struct StatFields {
  char state = '?';
  unsigned long flags = 0;
};
std::optional<StatFields> read_stat(const std::string& path) {
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::size_t close = text.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(text.substr(close + 1));
  StatFields f;
  std::string skip;
  rest >> f.state;
  for (int i = 0; i < 5; ++i) rest >> skip;  // ppid pgrp session tty_nr tpgid
  rest >> f.flags;
  return rest ? std::optional(f) : std::nullopt;
}

}  // namespace

std::string named(pid_t pid) {
  std::string name = "pid " + std::to_string(pid);
  std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
  std::string text;
  if (std::getline(comm, text) && !text.empty()) name += " (" + text + ")";
  return name;
}

// "TracerPid:" from /proc/PID/status, 0 when untraced.
pid_t tracer_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("TracerPid:", 0) == 0) return static_cast<pid_t>(std::stol(line.substr(10)));
  }
  return 0;
}

// The thread to stop: the leader, or (when the leader has exited and others run on) the
// first thread that is not a zombie.
Result<pid_t> pick_thread(pid_t pid) {
  const std::string dir = "/proc/" + std::to_string(pid);
  auto leader = read_stat(dir + "/stat");
  if (!leader) {
    return Error(ESRCH, ErrorKind::no_such_process, "no process with pid " + std::to_string(pid));
  }
  if (leader->flags & kPfKthread) {
    return Error(EOPNOTSUPP, ErrorKind::unsupported,
                 named(pid) + " is a kernel thread: it has no user memory to track");
  }
  if (leader->state != 'Z' && leader->state != 'X') return pid;
  if (DIR* tasks = ::opendir((dir + "/task").c_str())) {
    while (dirent* e = ::readdir(tasks)) {
      if (e->d_name[0] == '.') continue;
      auto thread = read_stat(dir + "/task/" + e->d_name + "/stat");
      if (thread && thread->state != 'Z' && thread->state != 'X') {
        pid_t tid = static_cast<pid_t>(std::stol(e->d_name));
        ::closedir(tasks);
        return tid;
      }
    }
    ::closedir(tasks);
  }
  return Error(ESRCH, ErrorKind::no_such_process, named(pid) + " is a zombie (it has exited)");
}

// Why PTRACE_SEIZE said EPERM, as far as the caller can tell.
std::string why_ptrace_denied(pid_t pid) {
  std::ifstream yama("/proc/sys/kernel/yama/ptrace_scope");
  int scope = 0;
  std::string text = "ptrace of " + named(pid) + " denied";
  if (yama >> scope && scope >= 1) {
    text +=
        " (Yama ptrace_scope is " + std::to_string(scope) +
        (scope == 3 ? ": no process may be traced" : ": only descendants, or with CAP_SYS_PTRACE") +
        ")";
  } else {
    text +=
        " (it belongs to another user or holds privileges the caller lacks: needs the "
        "same user or CAP_SYS_PTRACE)";
  }
  return text;
}

Result<void> check_not_traced(pid_t pid) {
  if (pid_t tracer = tracer_of(pid); tracer != 0) {
    return Error(EBUSY, ErrorKind::invalid_argument,
                 named(pid) + " is already traced by " + named(tracer) +
                     " (a process has one tracer: detach the debugger first)");
  }
  return {};
}

}  // namespace pagescan::remote
