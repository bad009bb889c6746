// Stopping every thread of a process for a core (see process_freeze.hpp).
//
// Threads are stopped one by one; a thread that is still running may create another,
// so the task list is read again until it shows nothing new. A thread stopped by
// PTRACE_INTERRUPT reports the kernel's own SIGTRAP event as its siginfo: that is not a
// signal the program received, so the core gets a zeroed NT_SIGINFO for it (si_signo 0),
// as a kernel core of a thread with no signal pending would say nothing either.
#include "dump/process_freeze.hpp"

#include <elf.h>
#include <sys/ptrace.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <set>

#include "proc/proc_files.hpp"
#include "remote/target_checks.hpp"

namespace pagescan::dump {

namespace {

// Larger than any XSAVE area so far (AMX makes it about 11 KiB).
constexpr std::size_t kMaxXstate = 64 * 1024;

bool thread_gone(pid_t pid, pid_t tid) {
  auto stat = proc::read_stat(pid, tid);
  return !stat || stat->state == 'Z' || stat->state == 'X';
}

Result<ThreadState> read_state(const remote::PtraceStop& stop) {
  ThreadState t;
  t.tid = stop.tid();
  t.regs = stop.registers();
  auto fp = stop.read_regset(NT_PRFPREG, &t.fpregs, sizeof t.fpregs);
  if (!fp) return fp.error();
  std::vector<std::uint8_t> xstate(kMaxXstate);
  auto xs = stop.read_regset(NT_X86_XSTATE, xstate.data(), xstate.size());
  // ENODEV: a CPU without XSAVE; the core then has no NT_X86_XSTATE, as the kernel's.
  if (xs) {
    xstate.resize(*xs);
    t.xstate = std::move(xstate);
  } else if (xs.error().errno_value() != ENODEV) {
    return xs.error();
  }
  auto info = stop.siginfo();
  if (!info) return info.error();
  const bool interrupt_event =
      info->si_signo == SIGTRAP && (info->si_code >> 8) == PTRACE_EVENT_STOP;
  if (!interrupt_event) t.siginfo = *info;
  return t;
}

}  // namespace

std::uint64_t monotonic_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

Result<ProcessFreeze> ProcessFreeze::freeze(pid_t pid) {
  ProcessFreeze frozen;
  frozen.pid_ = pid;
  auto first = remote::pick_thread(pid);
  if (!first) return first.error();
  if (auto untraced = remote::check_not_traced(pid); !untraced) return untraced.error();
  frozen.stopped_at_ = monotonic_ns();
  std::set<pid_t> seen;
  for (bool found_new = true; found_new;) {
    found_new = false;
    auto tids = proc::list_threads(pid);
    if (!tids) {
      if (frozen.stops_.empty()) return tids.error();
      break;  // the process is exiting; what is stopped stays so until thaw
    }
    // The first thread first, so that a refusal (permission) is met before anything
    // else is stopped and the core's first thread is the leader.
    std::stable_partition(tids->begin(), tids->end(), [&](pid_t t) { return t == *first; });
    // Every new thread asked to stop first, then each waited for: the stops overlap.
    std::vector<remote::PtraceStop> asked;
    for (pid_t tid : *tids) {
      if (!seen.insert(tid).second) continue;
      found_new = true;
      auto stop = remote::PtraceStop::begin_seize(pid, tid);
      if (!stop) {
        const Error& e = stop.error();
        if (e.kind() == ErrorKind::no_such_process) continue;  // exited meanwhile
        if (e.errno_value() == EPERM) {
          if (tid != *first && thread_gone(pid, tid)) continue;  // a zombie thread
          return Error(EPERM, ErrorKind::permission, remote::why_ptrace_denied(pid));
        }
        return e;
      }
      asked.push_back(std::move(*stop));
    }
    for (remote::PtraceStop& stop : asked) {
      if (auto stopped = stop.finish_seize(); !stopped) {
        if (stopped.error().kind() == ErrorKind::no_such_process) continue;
        return stopped.error();
      }
      auto state = read_state(stop);
      if (!state) {
        if (state.error().kind() == ErrorKind::no_such_process) continue;
        return state.error();
      }
      frozen.stops_.push_back(std::move(stop));
      frozen.threads_.push_back(std::move(*state));
    }
  }
  if (frozen.stops_.empty()) {
    return Error(ESRCH, ErrorKind::no_such_process,
                 remote::named(pid) + " has no thread left to stop (it exited)");
  }
  return frozen;
}

Result<void> ProcessFreeze::thaw() {
  Result<void> result;
  for (remote::PtraceStop& stop : stops_) {
    auto detached = stop.detach();
    if (!detached && detached.error().kind() != ErrorKind::no_such_process && result) {
      result = detached.error();
    }
  }
  stops_.clear();
  return result;
}

}  // namespace pagescan::dump
