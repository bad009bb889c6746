// One thread stopped under ptrace, made to run system calls, put back exactly.
//
// Why single-stepping and not PTRACE_SYSCALL: every stop this code leaves the target in
// (the PTRACE_INTERRUPT stop, the single-step SIGTRAP) lies inside get_signal(). When the
// target resumes from such a stop with its saved registers, the kernel's restart logic
// (arch_do_signal_or_restart) runs on them: a read() or futex wait that was interrupted
// with -ERESTARTSYS is restarted, a nanosleep with -ERESTART_RESTARTBLOCK continues,
// exactly as after any signal it ignores. A syscall-exit stop is not inside get_signal,
// and the target would see -512 from read(). While it runs our calls, orig_rax is -1, so
// that logic leaves our registers alone.
#include "remote/ptrace_stop.hpp"

#include <signal.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

namespace pagescan::remote {

namespace {

// A step that keeps being interrupted (a signal storm) is given up on after this many
// stops, rather than spinning for ever.
constexpr int kMaxStopsPerCall = 1000;

std::string thread_name(pid_t pid, pid_t tid) {
  return tid == pid ? "pid " + std::to_string(pid)
                    : "pid " + std::to_string(pid) + " (thread " + std::to_string(tid) + ")";
}

Error ptrace_error(int err, const std::string& what, pid_t pid, pid_t tid) {
  ErrorKind kind = err == ESRCH ? ErrorKind::no_such_process : ErrorKind::kernel_failure;
  return Error(err, kind, what + " of " + thread_name(pid, tid) + ": " + std::strerror(err));
}

bool is_event_stop(int status) {
  return (status >> 16) == PTRACE_EVENT_STOP;
}

}  // namespace

Result<PtraceStop> PtraceStop::seize(pid_t pid, pid_t tid) {
  auto stop = begin_seize(pid, tid);
  if (!stop) return stop.error();
  if (auto stopped = stop->finish_seize(); !stopped) return stopped.error();
  return stop;
}

Result<PtraceStop> PtraceStop::begin_seize(pid_t pid, pid_t tid) {
  PtraceStop stop(pid, tid);
  if (::ptrace(PTRACE_SEIZE, tid, nullptr, nullptr) != 0) {
    int err = errno;
    return Error(err,
                 err == EPERM   ? ErrorKind::permission
                 : err == ESRCH ? ErrorKind::no_such_process
                                : ErrorKind::kernel_failure,
                 "PTRACE_SEIZE of " + thread_name(pid, tid) + ": " + std::strerror(err));
  }
  stop.attached_ = true;
  if (::ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr) != 0) {
    return ptrace_error(errno, "PTRACE_INTERRUPT", pid, tid);
  }
  return stop;
}

Result<void> PtraceStop::finish_seize() {
  // The first stop: the interrupt's, or a signal that was already on its way (kept for
  // detach). Either way the thread is stopped inside get_signal().
  auto status = wait_stop();
  if (!status) return status.error();
  if (!is_event_stop(*status)) deferred_.push_back(WSTOPSIG(*status));
  if (::ptrace(PTRACE_GETREGS, tid_, nullptr, &saved_) != 0) {
    return ptrace_error(errno, "PTRACE_GETREGS", pid_, tid_);
  }
  stopped_ = true;
  return {};
}

PtraceStop::PtraceStop(PtraceStop&& other) noexcept
    : pid_(other.pid_),
      tid_(other.tid_),
      attached_(std::exchange(other.attached_, false)),
      stopped_(other.stopped_),
      saved_(other.saved_),
      deferred_(std::move(other.deferred_)) {}

PtraceStop::~PtraceStop() {
  if (attached_) (void)detach();
}

Result<int> PtraceStop::wait_stop() {
  for (;;) {
    int status = 0;
    pid_t got = ::waitpid(tid_, &status, __WALL);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return ptrace_error(errno, "waiting for the stop", pid_, tid_);
    if (WIFEXITED(status) || WIFSIGNALED(status)) {
      attached_ = false;
      return Error(ESRCH, ErrorKind::no_such_process,
                   thread_name(pid_, tid_) + " ended while stopped for the attach");
    }
    if (!WIFSTOPPED(status)) continue;
    return status;
  }
}

Result<long> PtraceStop::call(std::uint64_t syscall_instruction, long number,
                              const std::vector<long>& args) {
  user_regs_struct regs = saved_;
  regs.rip = syscall_instruction;
  regs.rax = static_cast<unsigned long long>(number);
  regs.orig_rax = ~0ULL;  // not in a system call: no restart logic on our registers
  unsigned long long* slots[] = {&regs.rdi, &regs.rsi, &regs.rdx, &regs.r10, &regs.r8, &regs.r9};
  for (std::size_t i = 0; i < args.size() && i < 6; ++i) {
    *slots[i] = static_cast<unsigned long long>(args[i]);
  }
  if (::ptrace(PTRACE_SETREGS, tid_, nullptr, &regs) != 0) {
    return ptrace_error(errno, "PTRACE_SETREGS", pid_, tid_);
  }
  for (int stops = 0; stops < kMaxStopsPerCall; ++stops) {
    if (::ptrace(PTRACE_SINGLESTEP, tid_, nullptr, nullptr) != 0) {
      return ptrace_error(errno, "PTRACE_SINGLESTEP", pid_, tid_);
    }
    auto status = wait_stop();
    if (!status) return status.error();
    user_regs_struct now{};
    if (::ptrace(PTRACE_GETREGS, tid_, nullptr, &now) != 0) {
      return ptrace_error(errno, "PTRACE_GETREGS", pid_, tid_);
    }
    const int signal = WSTOPSIG(*status);
    if (is_event_stop(*status)) continue;  // a late interrupt or group stop: step again
    if (now.rip == syscall_instruction + 2 && signal == SIGTRAP) {
      // Our step: the kernel dequeues its own SIGTRAP before any other pending signal.
      return static_cast<long>(now.rax);
    }
    if (now.rip != syscall_instruction) {
      return Error(EIO, ErrorKind::kernel_failure,
                   "the injected system call of " + thread_name(pid_, tid_) +
                       " did not run as stepped (stopped at " + std::to_string(now.rip) + ")");
    }
    // A signal arrived before the instruction ran: swallowed now (resumed with 0),
    // delivered at detach.
    deferred_.push_back(signal);
  }
  return Error(EINTR, ErrorKind::kernel_failure,
               "the injected system call of " + thread_name(pid_, tid_) + " was interrupted " +
                   std::to_string(kMaxStopsPerCall) + " times");
}

Result<std::size_t> PtraceStop::read_regset(unsigned type, void* buffer, std::size_t size) const {
  iovec io{buffer, size};
  if (::ptrace(PTRACE_GETREGSET, tid_, reinterpret_cast<void*>(static_cast<unsigned long>(type)),
               &io) != 0) {
    return ptrace_error(errno, "PTRACE_GETREGSET " + std::to_string(type), pid_, tid_);
  }
  return io.iov_len;
}

Result<siginfo_t> PtraceStop::siginfo() const {
  siginfo_t info{};
  if (::ptrace(PTRACE_GETSIGINFO, tid_, nullptr, &info) != 0) {
    return ptrace_error(errno, "PTRACE_GETSIGINFO", pid_, tid_);
  }
  return info;
}

Result<void> PtraceStop::detach() {
  if (!attached_) return {};
  if (!stopped_) {
    // begin_seize() without finish_seize(): PTRACE_DETACH needs the stop the interrupt
    // brings; nothing was changed, so there are no registers to put back.
    auto status = wait_stop();
    if (!status) return status.error();
    if (!is_event_stop(*status)) deferred_.push_back(WSTOPSIG(*status));
  }
  attached_ = false;
  const int first = deferred_.empty() ? 0 : deferred_.front();
  if ((stopped_ && ::ptrace(PTRACE_SETREGS, tid_, nullptr, &saved_) != 0) ||
      ::ptrace(PTRACE_DETACH, tid_, nullptr, reinterpret_cast<void*>(static_cast<long>(first))) !=
          0) {
    return ptrace_error(errno, "restoring and detaching", pid_, tid_);
  }
  // PTRACE_DETACH delivers one signal; the others are sent again, in order.
  for (std::size_t i = 1; i < deferred_.size(); ++i) {
    (void)::syscall(SYS_tgkill, pid_, tid_, deferred_[i]);
  }
  return {};
}

}  // namespace pagescan::remote
