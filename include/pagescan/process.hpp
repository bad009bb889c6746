// Process: the target of a scan, the calling process or any pid, with its pagemap fd.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "pagescan/result.hpp"

namespace pagescan {

// A handle on one process's /proc/PID/pagemap, opened once and reused.
//
// For the calling process (Process::self()) the handle follows fork(): a pagemap fd is
// bound to the mm of whoever opened it, so a child that kept using its parent's fd would
// scan the parent (wasmtime hit this). The handle notices the fork (a pthread_atfork
// hook, and getpid() changing for forks that bypass it) and reopens /proc/self/pagemap
// before the next use. A handle is safe to keep in a static.
//
// For another pid the handle also holds a pidfd, so that a process that exits (or whose
// pid is reused) while being read is reported as ErrorKind::no_such_process instead of
// as an empty, complete-looking answer.
//
// A process whose main thread has exited while other threads run (pthread_exit() in
// main) is alive: its address space is reached through a thread that still runs, because
// the exited leader's /proc/PID/pagemap, maps and fdinfo show no mm and no fds.
//
// Thread-safety: one handle may be used by several threads at once.
class Process {
 public:
  // The calling process. Fails only when /proc/self/pagemap cannot be opened.
  static Result<Process> self();
  // Any process the caller may ptrace-read. Errors: no_such_process (ESRCH; a zombie is
  // named as one), permission (EACCES/EPERM), invalid_argument (pid <= 0, kernel thread).
  static Result<Process> attach(pid_t pid);

  Process(Process&&) noexcept;
  Process& operator=(Process&&) noexcept;
  ~Process();

  bool is_self() const;
  // The target's pid (for self, the current getpid(), which changes across fork()).
  pid_t pid() const;
  // "pid 1234" (or "self (pid 1234)"), for messages.
  std::string describe() const;

  // The pagemap fd to issue PAGEMAP_SCAN on or to pread, valid while this handle lives.
  Result<int> pagemap_fd() const;

  // The /proc directory to read the target's per-process files from (maps, smaps,
  // fdinfo): /proc/self or /proc/PID while the main thread runs; once it has exited,
  // /proc/thread-self or /proc/PID/task/TID of a thread that still runs. Ask per use:
  // that thread may exit too. Errors: no_such_process when no thread runs.
  Result<std::string> proc_dir() const;

  // Ok while some thread of the target runs; no_such_process once it has exited or
  // started exiting (so an mm torn down under a scan is never mistaken for an empty
  // address space).
  Result<void> check_alive() const;

 private:
  struct State;
  explicit Process(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace pagescan
