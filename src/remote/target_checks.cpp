// The checks before any ptrace attach to another process (see target_checks.hpp).
#include "remote/target_checks.hpp"

#include <dirent.h>

#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include "proc/proc_files.hpp"

namespace pagescan::remote {

// /proc files are read with read_text_file, never a std::ifstream: a process reaped
// between the open and the read makes read() fail with ESRCH, which libstdc++'s filebuf
// turns into an exception.
std::string named(pid_t pid) {
  std::string name = "pid " + std::to_string(pid);
  auto comm =
      proc::read_text_file("/proc/" + std::to_string(pid) + "/comm", proc::FileRole::process);
  if (!comm) return name;
  std::string text = comm->substr(0, comm->find('\n'));
  if (!text.empty()) name += " (" + text + ")";
  return name;
}

// "TracerPid:" from /proc/PID/status, 0 when untraced.
pid_t tracer_of(pid_t pid) {
  auto status =
      proc::read_text_file("/proc/" + std::to_string(pid) + "/status", proc::FileRole::process);
  if (!status) return 0;
  std::istringstream in(*status);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("TracerPid:", 0) == 0) return static_cast<pid_t>(std::stol(line.substr(10)));
  }
  return 0;
}

// The thread to stop: the leader, or (when the leader has exited and others run on) the
// first thread that is not a zombie.
Result<pid_t> pick_thread(pid_t pid) {
  const std::string dir = "/proc/" + std::to_string(pid);
  auto leader = proc::read_stat(pid, pid);
  if (!leader) {
    return Error(ESRCH, ErrorKind::no_such_process, "no process with pid " + std::to_string(pid));
  }
  if (leader->flags & proc::PF_KTHREAD) {
    return Error(EOPNOTSUPP, ErrorKind::unsupported,
                 named(pid) + " is a kernel thread: it has no user memory to track");
  }
  if (leader->state != 'Z' && leader->state != 'X') return pid;
  if (DIR* tasks = ::opendir((dir + "/task").c_str())) {
    while (dirent* e = ::readdir(tasks)) {
      if (e->d_name[0] == '.') continue;
      const pid_t tid = static_cast<pid_t>(std::atol(e->d_name));
      auto thread = proc::read_stat(pid, tid);
      if (thread && thread->state != 'Z' && thread->state != 'X') {
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
