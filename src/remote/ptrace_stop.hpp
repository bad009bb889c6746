// One thread of another process, stopped under ptrace for as long as this object lives,
// made to execute system calls of the tracker's choosing through an instruction already
// in its memory, and put back exactly as it was: registers (an interrupted system call
// is restarted by the kernel as if nothing happened), and any signal that arrived while
// it was stopped delivered when it resumes. No byte of the target is written.
#pragma once

#include <signal.h>
#include <sys/types.h>
#include <sys/user.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "pagescan/result.hpp"

namespace pagescan::remote {

class PtraceStop {
 public:
  // PTRACE_SEIZE + PTRACE_INTERRUPT of thread `tid` of process `pid`, waiting for the
  // stop. Errors: permission (EPERM: ptrace denied; the message names why as far as can
  // be told), no_such_process (ESRCH: gone, or a zombie), invalid_argument (EBUSY: already
  // traced, naming the tracer).
  static Result<PtraceStop> seize(pid_t pid, pid_t tid);
  // seize() in two halves, so that many threads can be asked to stop at once and then
  // waited for (each stop takes the thread a scheduler round trip): begin_seize() does
  // PTRACE_SEIZE + PTRACE_INTERRUPT, finish_seize() waits for the stop and reads the
  // registers. The errors of seize(), from the half that meets them.
  static Result<PtraceStop> begin_seize(pid_t pid, pid_t tid);
  Result<void> finish_seize();
  PtraceStop(PtraceStop&& other) noexcept;
  PtraceStop(const PtraceStop&) = delete;
  PtraceStop& operator=(const PtraceStop&) = delete;
  // detach() if not done: registers restored, signals delivered.
  ~PtraceStop();

  pid_t tid() const { return tid_; }

  // Runs system call `number` with `args` in the target by pointing its instruction
  // pointer at `syscall_instruction` (the address of a `syscall` instruction, 0f 05, in
  // its memory) and single-stepping it. Returns the call's raw return value (-errno on
  // failure). The target's other registers are those it was stopped with, except the
  // ones the call takes.
  Result<long> call(std::uint64_t syscall_instruction, long number, const std::vector<long>& args);

  // Puts the saved registers back and detaches, delivering the first signal that arrived
  // during the stop (more are re-sent with tgkill, so none is lost; their sender
  // information becomes the tracker's). Errors: no_such_process when the target died.
  Result<void> detach();

  // The registers the thread was stopped with (put back at detach).
  const user_regs_struct& registers() const { return saved_; }
  // PTRACE_GETREGSET of register set `type` (NT_PRFPREG, NT_X86_XSTATE, ...) into
  // `buffer`; returns the bytes the kernel filled (the set's size).
  Result<std::size_t> read_regset(unsigned type, void* buffer, std::size_t size) const;
  // PTRACE_GETSIGINFO: the signal of the stop (for a PTRACE_INTERRUPT stop, the kernel's
  // SIGTRAP with si_code SIGTRAP | PTRACE_EVENT_STOP << 8).
  Result<siginfo_t> siginfo() const;

  // Signals that arrived while stopped, in order (for tests and messages).
  const std::vector<int>& deferred_signals() const { return deferred_; }

 private:
  PtraceStop(pid_t pid, pid_t tid) : pid_(pid), tid_(tid) {}
  // Waits for the next stop of the thread; records and swallows signal-delivery-stops
  // other than `expected` so they can be delivered at detach. Returns the stop status.
  Result<int> wait_stop();
  pid_t pid_ = -1;
  pid_t tid_ = -1;
  bool attached_ = false;
  bool stopped_ = false;  // finish_seize() saw the stop and saved the registers
  user_regs_struct saved_{};
  std::vector<int> deferred_;
};

}  // namespace pagescan::remote
