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
// scan the parent (wasmtime hit this). The handle notices that getpid() changed and
// reopens /proc/self/pagemap before the next use.
//
// For another pid the handle also holds a pidfd, so that a process that exits (or whose
// pid is reused) while being read is reported as ErrorKind::no_such_process instead of
// as an empty, complete-looking answer.
//
// Thread-safety: one handle may be used by several threads at once.
class Process {
 public:
  // The calling process. Fails only when /proc/self/pagemap cannot be opened.
  static Result<Process> self();
  // Any process the caller may ptrace-read. Errors: no_such_process (ESRCH), permission
  // (EACCES/EPERM), invalid_argument (pid <= 0).
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

  // Ok while the target runs; no_such_process once it has exited or started exiting
  // (so an mm torn down under a scan is never mistaken for an empty address space).
  Result<void> check_alive() const;

 private:
  struct State;
  explicit Process(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace pagescan
