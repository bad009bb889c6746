// The checks every attach to another process makes before ptrace: is it there, is it a
// kernel thread or a zombie, is it traced already, and why ptrace said no. Shared by the
// userfaultfd injection (pagescan watch) and the core dumper, so that both name the same
// causes with the same words.
#pragma once

#include <sys/types.h>

#include <string>

#include "pagescan/result.hpp"

namespace pagescan::remote {

// "pid 1234 (comm)", or "pid 1234" when its comm cannot be read.
std::string named(pid_t pid);

// The thread to stop first: the leader, or (when the leader has exited and others run on)
// the first thread that is not a zombie. Errors: no_such_process (no such pid, a zombie),
// unsupported (a kernel thread: no user memory).
Result<pid_t> pick_thread(pid_t pid);

// "TracerPid:" from /proc/PID/status, 0 when untraced.
pid_t tracer_of(pid_t pid);

// invalid_argument (EBUSY) naming the tracer when `pid` is traced already, else ok.
Result<void> check_not_traced(pid_t pid);

// Why PTRACE_SEIZE said EPERM, as far as the caller can tell (Yama, another user).
std::string why_ptrace_denied(pid_t pid);

}  // namespace pagescan::remote
