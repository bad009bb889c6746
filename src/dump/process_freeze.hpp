// Every thread of another process stopped under ptrace, with what a core needs of each
// (registers, FP and extended state, the signal of the stop), then all resumed exactly as
// they were: PtraceStop (remote/ptrace_stop.hpp) per thread, so interrupted system calls
// restart and signals that arrived meanwhile are delivered.
#pragma once

#include <signal.h>
#include <sys/types.h>
#include <sys/user.h>

#include <cstdint>
#include <vector>

#include "pagescan/result.hpp"
#include "remote/ptrace_stop.hpp"

namespace pagescan::dump {

struct ThreadState {
  pid_t tid = -1;
  user_regs_struct regs{};
  user_fpregs_struct fpregs{};
  std::vector<std::uint8_t> xstate;  // NT_X86_XSTATE as the kernel gives it; empty if none
  siginfo_t siginfo{};               // zeroed when the stop carried no signal
};

class ProcessFreeze {
 public:
  // Stops every thread of `pid`: PTRACE_SEIZE + PTRACE_INTERRUPT of each tid in
  // /proc/PID/task, again until a listing shows no thread not yet stopped (a thread
  // created meanwhile is caught; one that exits meanwhile is left out). Reads each
  // thread's state. Errors: permission (ptrace denied, with why), invalid_argument
  // (already traced), no_such_process (no thread could be stopped: gone or a zombie),
  // kernel_failure. On error every thread stopped so far is resumed.
  static Result<ProcessFreeze> freeze(pid_t pid);

  ProcessFreeze(ProcessFreeze&&) noexcept = default;
  ProcessFreeze& operator=(ProcessFreeze&&) noexcept = default;
  ~ProcessFreeze() { (void)thaw(); }

  // The leader first (or the first live thread when it has exited), then by listing.
  const std::vector<ThreadState>& threads() const { return threads_; }
  // CLOCK_MONOTONIC ns just before the first thread was stopped.
  std::uint64_t stopped_at_ns() const { return stopped_at_; }

  // Resumes every thread (registers restored, deferred signals delivered). Returns the
  // first failure after trying all; a thread killed meanwhile is not a failure.
  Result<void> thaw();

 private:
  ProcessFreeze() = default;
  pid_t pid_ = -1;
  std::vector<remote::PtraceStop> stops_;
  std::vector<ThreadState> threads_;
  std::uint64_t stopped_at_ = 0;
};

std::uint64_t monotonic_ns();

}  // namespace pagescan::dump
