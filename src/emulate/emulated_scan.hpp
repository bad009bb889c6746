// The emulated backend: one PAGEMAP_SCAN call answered from /proc/PID/pagemap and smaps.
#pragma once

#include <cstdint>

#include "pagescan/categories.hpp"
#include "pagescan/process.hpp"
#include "pagescan/scan.hpp"

namespace pagescan::emulate {

// What an emulated call could not know exactly (kernel-pagemap-scan.md §6.5).
struct EmulationNotes {
  // Categories whose answer may differ from the kernel's for some page of this call.
  Categories approximate;
};

// Answers `args` (already validated) as the PAGEMAP_SCAN ioctl would: writes regions to
// args.vec (never past the returned count), writes walk_end back, returns the count or
// -errno (-EPERM under CHECK_WPASYNC, -ESRCH when the target vanished, -EOPNOTSUPP when
// write-protect is asked of another process or of memory without a usable userfaultfd).
long emulated_pagemap_scan(const Process& process, RawScanArgs& args, std::uint64_t page_size,
                           EmulationNotes& notes);

}  // namespace pagescan::emulate
