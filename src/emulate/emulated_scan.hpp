// The emulated backend: one PAGEMAP_SCAN call answered from /proc/PID/pagemap and smaps.
#pragma once

#include <cstdint>

#include <vector>

#include "pagescan/categories.hpp"
#include "pagescan/process.hpp"
#include "pagescan/scan.hpp"
#include "proc/maps.hpp"

namespace pagescan::emulate {

// State kept across the emulated calls of one complete scan, and what they could not know
// exactly (kernel-pagemap-scan.md §6.5).
struct EmulationNotes {
  // Categories whose answer may differ from the kernel's for some page of this call.
  Categories approximate;
  // The target's VMAs, read from smaps by the first call of a scan and reused by the
  // calls that resume it: smaps costs a page-table walk of the whole process, and the
  // kernel's own restarts are not atomic across chunks either.
  std::vector<proc::Vma> vmas;
  bool vmas_loaded = false;
};

// Answers `args` (already validated) as the PAGEMAP_SCAN ioctl would: writes regions to
// args.vec (never past the returned count), writes walk_end back, returns the count or
// -errno (-EPERM under CHECK_WPASYNC, -ESRCH when the target vanished, -EOPNOTSUPP when
// write-protect is asked of another process or of memory without a usable userfaultfd).
long emulated_pagemap_scan(const Process& process, RawScanArgs& args, std::uint64_t page_size,
                           EmulationNotes& notes);

}  // namespace pagescan::emulate
