// The PT_NOTE of a core (other-processes.md §2): NT_PRPSINFO, then per thread (the first
// thread of `threads` first) NT_PRSTATUS, NT_FPREGSET, NT_X86_XSTATE and NT_SIGINFO, then
// NT_AUXV and NT_FILE: the order and contents gdb's gcore writes, and what gdb and drgn
// read. Process facts come from /proc (stat, status, cmdline, auxv), read while frozen.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "dump/process_freeze.hpp"
#include "pagescan/result.hpp"
#include "proc/maps.hpp"

namespace pagescan::dump {

// The notes as they go into the file (each 4-byte aligned). `vmas` gives NT_FILE (every
// file-backed mapping, dumped or not, as the kernel lists them). Errors: no_such_process
// when /proc/PID is gone, kernel_failure.
Result<std::string> build_notes(pid_t pid, const std::vector<ThreadState>& threads,
                                const std::vector<proc::Vma>& vmas, std::uint64_t page_size);

}  // namespace pagescan::dump
