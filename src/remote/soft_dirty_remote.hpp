// Soft-dirty write tracking of another process: pagemap's soft-dirty bit (read through
// pagescan::scan, category soft_dirty) says a page was written since the last
// `echo 4 > /proc/PID/clear_refs`, which re-arms. The weaker contract of the soft-dirty
// engine (docs/write-tracking.md), here across processes:
// - Not atomic: a write to a page that was clean when read, landing before the
//   clear_refs that follows, is lost (no read-and-clear exists). Exact only while the
//   target's writers are stopped.
// - clear_refs clears the soft-dirty bits of the WHOLE target, so it resets any other
//   soft-dirty user of that process (a checkpointer's, another tracker's). Watches of one
//   target inside this process share it fairly: before a clear, every live one folds its
//   unconsumed bits into its own pending list (as the in-process engine does).
// - Over-reports: a VMA created, merged or changed (mmap, mprotect, mremap) carries
//   VM_SOFTDIRTY and reads written whole until the next clear; a write to a transparent
//   huge page marks all of it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "pagescan/process.hpp"
#include "pagescan/result.hpp"
#include "pagescan/watch.hpp"

namespace pagescan::remote {

// Whether soft-dirty works on this kernel, by the library's functional probe (which
// FORKS once, cached: features.hpp). Error: unsupported, "soft-dirty is not built into
// this kernel (CONFIG_MEM_SOFT_DIRTY): pagemap bit 55 never set" or the probe's reason.
Result<void> soft_dirty_works();

class SoftDirtyTarget {
 public:
  // Opens /proc/PID/clear_refs of `pid` (kept open: a pid reused later cannot be cleared
  // by mistake). `process` (the target's, outliving this) is what scans read. Errors
  // (opening clear_refs): no_such_process, permission.
  static Result<std::unique_ptr<SoftDirtyTarget>> open(pid_t pid, const Process& process);
  ~SoftDirtyTarget();
  SoftDirtyTarget(const SoftDirtyTarget&) = delete;
  SoftDirtyTarget& operator=(const SoftDirtyTarget&) = delete;

  // The watch's armed ranges (ascending, coalesced), as they change: what a collect
  // reads, and what the other watches of the target keep for it before a clear. Pending
  // pages no longer armed (their mapping went away) are dropped.
  void set_armed(const std::vector<PageRange>& armed);
  // Arms: clear_refs, after every other watch of the target kept its bits.
  Result<void> arm();
  // The pages of armed ∩ [lo, hi) written (soft-dirty, or pending from an earlier clear),
  // at most max_pages (0: all) of them, ascending; with reset the rest stays pending and
  // the target is cleared (after keeping every other watch's bits and this watch's
  // outside [lo, hi)).
  Result<Harvest> collect(std::uint64_t lo, std::uint64_t hi, std::uint64_t max_pages, bool reset);
  // Forgets [lo, hi)'s pending pages and clears the target (keeping the others' bits).
  Result<void> reset(std::uint64_t lo, std::uint64_t hi);
  struct Impl;  // soft_dirty_remote.cpp

 private:
  SoftDirtyTarget() = default;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pagescan::remote
