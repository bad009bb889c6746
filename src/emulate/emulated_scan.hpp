// The emulated backend: one PAGEMAP_SCAN call answered from /proc/PID/pagemap and smaps.
#pragma once

#include <cstdint>

#include <vector>

#include "pagescan/categories.hpp"
#include "pagescan/process.hpp"
#include "pagescan/scan.hpp"
#include "proc/maps.hpp"

namespace pagescan::emulate {

// What the walk needs of one VMA, from /proc/PID/maps or, when the request needs more,
// /proc/PID/smaps (kernel-pagemap-scan.md §6.2).
struct VmaFacts {
  std::uint64_t start = 0;
  std::uint64_t end = 0;
  bool detailed = false;               // read from smaps: the fields below marked so are known
  bool pfnmap = false;                 // smaps: VM_PFNMAP ("pf")
  bool hugetlb = false;                // smaps: VM_HUGETLB ("ht")
  bool uffd_wp = false;                // smaps: registered for uffd write-protect ("uw")
  bool soft_dirty = false;             // smaps: VM_SOFTDIRTY ("sd")
  std::uint64_t kernel_page_size = 0;  // smaps
  std::uint64_t pmd_mapped = 0;        // smaps: bytes mapped by PMD (THP counters)
  bool private_anonymous = false;
  // No file and no special name: never VM_PFNMAP nor hugetlb, so maps alone gives every
  // fact the walk needs unless the request needs `uw` or the THP counters.
  bool plain_anonymous = false;
};

// State kept across the emulated calls of one complete scan, and what they could not know
// exactly (kernel-pagemap-scan.md §6.5).
struct EmulationNotes {
  // Categories whose answer may differ from the kernel's for some page of this call.
  Categories approximate;
  // The target's VMAs starting below `vmas_end`, read by the first call of a scan and
  // reused by the calls that resume it: smaps costs a page-table walk of every VMA it
  // lists, and the kernel's own restarts are not atomic across chunks either. From maps
  // when the request needs nothing only smaps shows (`vmas_detailed` false).
  std::vector<VmaFacts> vmas;
  bool vmas_loaded = false;
  bool vmas_detailed = false;
  std::uint64_t vmas_end = 0;
  // smaps, read only when a maps-only walk meets an empty PMD block whose WRITTEN
  // category matters (it depends on `uw`, §4.3).
  std::vector<VmaFacts> details;
  bool details_loaded = false;
  std::uint64_t details_end = 0;
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
