// A userfaultfd created inside another process, handed to the caller, and gone from the
// target again (other-processes.md §1): the target runs userfaultfd() through a
// `syscall` instruction already in its vDSO, the caller takes its own reference with
// pidfd_getfd(), and the target closes its copy. The uffd context belongs to the
// target's mm, so UFFDIO_REGISTER and PAGEMAP_SCAN write-protect act on the target's
// memory; when the caller's reference is the last one and is closed (or the caller
// dies), the kernel unregisters everything and clears every marker.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "pagescan/result.hpp"

namespace pagescan::remote {

struct Injection {
  int fd = -1;  // the caller's descriptor (O_CLOEXEC), owned by the caller
  // How long the target's thread was stopped, and which signals arrived meanwhile (all
  // delivered after it resumed).
  std::uint64_t stopped_ns = 0;
  std::vector<int> deferred_signals;
};

struct InjectOptions {
  // Tests only: called while the target is stopped, before the first injected call (to
  // send a signal at the worst moment).
  std::function<void(pid_t tid)> while_stopped;
};

// Errors, each one line naming the target and the cause:
//   no_such_process (ESRCH): no such process, or a zombie;
//   unsupported (EOPNOTSUPP): a kernel thread (no user memory), no [vdso] (or no syscall
//     instruction in it), not x86-64, pidfd_getfd missing;
//   invalid_argument (EBUSY): already traced, naming the tracer ("pid 1234 (gdb)");
//   permission (EPERM): ptrace refused, with the likely cause (Yama ptrace_scope,
//     another user, no CAP_SYS_PTRACE);
//   kernel_failure: the target's userfaultfd() failed (its errno), or ptrace failed.
// A failure after the target's userfaultfd() succeeded closes the target's copy before
// returning when the target can still run; nothing else is left in it.
Result<Injection> inject_userfaultfd(pid_t pid, const InjectOptions& options = {});

}  // namespace pagescan::remote
