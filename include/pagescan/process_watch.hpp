// Write tracking of another, unmodified process: the pages it (or the kernel on its
// behalf) wrote since the last collect, with WriteWatch's harvest types and
// collect/reset semantics (watch.hpp). The target needs no cooperation. Two engines:
// uffd (pagescan makes a userfaultfd inside it for a moment, other-processes.md §1,
// keeps its own reference, and harvests with PAGEMAP_SCAN get-and-protect on
// /proc/PID/pagemap) and, where the kernel lacks that, soft-dirty (clear_refs of the
// target), whose contract is weaker (below).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "pagescan/result.hpp"
#include "pagescan/watch.hpp"

namespace pagescan {

struct ProcessWatchOptions {
  // uffd: a userfaultfd injected into the target (exact, atomic per page, sees kernel
  // writes; the target is stopped about a millisecond for the attach).
  // soft_dirty: "4" written to /proc/PID/clear_refs arms, pagemap's soft-dirty bit
  // (PAGEMAP_SCAN category soft-dirty where the kernel has it) says written. Sees kernel
  // writes, never stops the target, but its contract is WEAKER:
  //   - not atomic: a write to a page that was clean when read and that lands before the
  //     clear_refs that follows is LOST (exact only while the target's writers are
  //     stopped, as with the in-process engine);
  //   - clear_refs clears the soft-dirty bits of the WHOLE target process: it resets any
  //     other soft-dirty user of that process (a checkpointer such as CRIU, another
  //     tracker); watches of one target within this process keep each other's bits;
  //   - over-reports: a mapping created, merged or changed (mmap, mprotect, mremap)
  //     carries VM_SOFTDIRTY and reads written whole until the next collect with reset;
  //     a write to a transparent huge page reports all of it.
  // automatic: PAGESCAN_WATCH_ENGINE when set (as WriteWatch reads it), else uffd where
  // the kernel has userfaultfd WP_ASYNC and PAGEMAP_SCAN, else soft-dirty where its
  // functional probe passes (which FORKS once: features.hpp), else unsupported naming what
  // each lacks. mprotect and everything cannot watch another process (unsupported).
  WatchEngine engine = WatchEngine::automatic;
  // A writable mapping (the part of it in range) larger than this is not armed but listed
  // as untracked: arming write-protects every page, holes included, which costs page
  // tables for all of it (about 2 MiB per GiB): 40 GiB for the 20 TiB shadow reservation
  // of an ASan program. Sparse reservations like that are what this limit keeps out.
  std::uint64_t max_mapping_bytes = std::uint64_t{16} << 30;
};

// A part of the watch that is not tracked, and why ("registered with the process's own
// userfaultfd", "userfaultfd cannot write-protect this memory: file-backed private").
struct UntrackedRange {
  PageRange range;
  std::string reason;
};

// Why a watch stopped working: the target is gone or is no longer the same program.
enum class WatchEnd {
  running,
  exited,  // the process exited (or was killed: a tracker that is not the parent cannot
           // always tell which)
  exec,    // it executed a new program: its old memory is gone
};
std::string_view to_string(WatchEnd end);

// Thread-safety: one watch is used from one thread at a time.
class ProcessWriteWatch {
 public:
  // Watches process `pid`: [base, base + len) (rounded out to pages), or with len 0 its
  // whole writable address space, followed as it changes (see collect()). Arms every
  // writable mapping in range: nothing counts as written until the first write after
  // this call. The target is stopped for the attach only (about a millisecond:
  // attach_stop_ns()); its registers, file descriptors, mappings, a system call it was
  // blocked in and signals that arrive meanwhile are as if nothing happened.
  //
  // Errors (one line naming the pid and the cause): no_such_process (gone, a zombie);
  // permission (ptrace refused: another user, Yama ptrace_scope, no CAP_SYS_PTRACE);
  // invalid_argument (already traced by a debugger, naming it; a range not inside the
  // user address space; a range with no writable mapping; PAGESCAN_WATCH_ENGINE naming no
  // engine); unsupported (a kernel thread; a kernel without PAGEMAP_SCAN or userfaultfd
  // WP_ASYNC; no vDSO syscall instruction; soft_dirty asked for on a kernel without it:
  // "watch of pid P: soft-dirty is not built into this kernel (CONFIG_MEM_SOFT_DIRTY):
  // pagemap bit 55 never set; use the uffd engine"; the mprotect or everything engine).
  // The soft-dirty engine needs no ptrace (only write access to /proc/PID/clear_refs and
  // read access to its pagemap) and stops nothing: attach_stop_ns() is 0.
  static Result<ProcessWriteWatch> attach(pid_t pid, std::uint64_t base = 0, std::uint64_t len = 0,
                                          const ProcessWatchOptions& options = {});
  ProcessWriteWatch(ProcessWriteWatch&&) noexcept;
  ProcessWriteWatch& operator=(ProcessWriteWatch&&) noexcept;
  // Unregisters every range (the target's memory is as before the attach). When the
  // tracker dies instead, the kernel does the same as it closes the last reference.
  // soft-dirty: nothing to undo (the target's soft-dirty bits stay as the last clear
  // left them).
  ~ProcessWriteWatch();

  pid_t pid() const;
  // The engine chosen: uffd or soft_dirty, never automatic.
  WatchEngine engine() const;
  bool whole_process() const;
  // The watched range: [base, base + len), or the user address space when whole.
  PageRange range() const;
  // The ranges armed now, ascending, and the parts of the watched range that are writable
  // but not tracked, with why (as of the last attach or collect).
  std::vector<PageRange> armed() const;
  std::vector<UntrackedRange> untracked() const;
  // How long the target was stopped for the attach.
  std::uint64_t attach_stop_ns() const;

  // The pages written since they were last armed, ascending, coalesced, clipped to the
  // watched range; with reset (default) exactly those are re-armed, atomically per page
  // (a write racing the collect is reported by it or by the next one, never lost). The
  // soft-dirty engine: not atomic, and a reset clears the whole target (see
  // ProcessWatchOptions::engine); pages beyond max_pages or outside a sub-range are kept
  // and reported later, never lost to the clear.
  //
  // The address space is followed: a writable mapping that appeared in range since the
  // previous collect (mmap, mprotect to writable, mremap's destination, a MAP_FIXED
  // replacement) is armed and reported WHOLE once, since nothing tells which of its
  // pages hold new data; a mapping that went away is dropped. Pages dropped with
  // MADV_DONTNEED read as written (their contents became zeroes) with uffd; soft-dirty
  // does not see that (the dropped page has no soft-dirty bit left to read).
  //
  // Errors: no_such_process with ended() set when the target exited or exec'd (nothing
  // is lost that was harvested before); kernel_failure otherwise.
  Result<Harvest> collect(const CollectOptions& options = {});
  // The same over [base, base + len) only (rounded out to pages; inside the watch, else
  // EINVAL / invalid_argument); the rest of the watch is left as it is.
  Result<Harvest> collect(std::uint64_t base, std::uint64_t len,
                          const CollectOptions& options = {});
  // Re-arms the whole watch, or [base, base + len) of it: those pages count as unwritten
  // from now on.
  Result<void> reset();
  Result<void> reset(std::uint64_t base, std::uint64_t len);

  // running, or why collect() failed for good.
  WatchEnd ended() const;

  struct State;  // src/remote/process_watch.cpp

 private:
  explicit ProcessWriteWatch(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace pagescan
