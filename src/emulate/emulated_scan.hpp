// The emulated backend: one PAGEMAP_SCAN call answered from /proc/PID/pagemap and smaps.
#pragma once

#include <cstdint>

#include <vector>

#include "emulate/vma_window.hpp"
#include "pagescan/categories.hpp"
#include "pagescan/process.hpp"
#include "pagescan/scan.hpp"

namespace pagescan::emulate {

// State kept across the emulated calls of one complete scan, and what they could not know
// exactly (kernel-pagemap-scan.md §6.5).
struct EmulationNotes {
  // Categories whose answer may differ from the kernel's for some page of this call.
  Categories approximate;
  // The target's VMAs, read as the walk advances and kept for the calls that resume it:
  // smaps costs a page-table walk of every VMA it lists, so one scan reads it once (and
  // only to the range's end) unless it has more than VmaWindow::kCapacity VMAs and goes
  // back. From maps when the request needs nothing only smaps shows, switching to smaps
  // when the walk meets a VMA that is not plain anonymous memory or an empty PMD block
  // whose WRITTEN category matters (it depends on `uw`, §4.3).
  VmaWindow vmas;
  // The pagemap window's storage, allocated once per scan.
  std::vector<std::uint64_t> entries;
};

// Answers `args` (already validated) as the PAGEMAP_SCAN ioctl would: writes regions to
// args.vec (never past the returned count), writes walk_end back, returns the count or
// -errno (-EPERM under CHECK_WPASYNC, -ESRCH when the target vanished, -EOPNOTSUPP when
// write-protect is asked of another process or of memory without a usable userfaultfd).
long emulated_pagemap_scan(const Process& process, RawScanArgs& args, std::uint64_t page_size,
                           EmulationNotes& notes);

}  // namespace pagescan::emulate
