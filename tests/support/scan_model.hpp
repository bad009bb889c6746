// A reference model of one PAGEMAP_SCAN call over known per-page categories, for the
// differential tests: it predicts what the ioctl returns for any non-write-protecting
// request once the category of every page is known.
//
// The kernel classifies a PTE, a PMD-mapped THP, a hugetlb entry or a hole and hands the
// run to pagemap_scan_output(); merging only on exact adjacency with equal masked
// categories, the max_pages cut at a page boundary and the chunk-full stop all act at
// page granularity, so feeding the pages one by one gives the same regions, count and
// walk_end, including the stale walk_end after internal restarts
// (kernel-pagemap-scan.md §2.4, §3.1-§3.6). This model shares no code with
// src/emulate: it is written from the spec, so the emulator can be held to it where the
// kernel's answer cannot be the oracle (the irreducible gaps of §6.5).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pagescan/scan.hpp"

namespace pagescan::test {

// Every category of every walked page of a window, as sorted, disjoint runs of pages
// with equal categories (a complete scan with empty masks and every category returned
// gives exactly this).
class PageTruth {
 public:
  PageTruth() = default;
  PageTruth(std::vector<PageRegion> runs, std::uint64_t page_size);

  // The page's categories, or nullopt when the page is not walked (gap, VM_PFNMAP).
  std::optional<std::uint64_t> at(std::uint64_t addr) const;
  const std::vector<PageRegion>& runs() const { return runs_; }
  std::uint64_t page_size() const { return page_size_; }

  // Replaces the categories of [start, end) (pages that must be walked).
  void set(std::uint64_t start, std::uint64_t end, std::uint64_t categories);
  // The runs shifted by -base, for comparing two copies of a layout.
  std::vector<PageRegion> relative_to(std::uint64_t base) const;

 private:
  void normalize();
  std::vector<PageRegion> runs_;
  std::uint64_t page_size_ = 4096;
};

// A VMA as the model's walk needs it.
struct ModelVma {
  std::uint64_t start = 0;
  std::uint64_t end = 0;
  bool pfnmap = false;     // never walked (§3.2)
  bool wpallowed = false;  // async uffd-wp registered (§4.2)
};

// What one call returned: the count or -errno, walk_end, and the whole output buffer.
struct ScanOutcome {
  long ret = 0;
  std::uint64_t walk_end = 0;
  std::vector<PageRegion> vec;
};

// Answers `args` (flags 0 or CHECK_WPASYNC, already valid) from `truth`, writing into a
// copy of `vec` (the caller's prefilled buffer, at least args.vec_len entries). `chunk`
// is the kernel's bounce-chunk size, PMD_SIZE / PAGE_SIZE; pass 0 for "unbounded" to get
// what one call with an unbounded buffer would answer (no internal restarts).
ScanOutcome model_scan(const PageTruth& truth, const std::vector<ModelVma>& vmas,
                       const RawScanArgs& args, std::vector<PageRegion> vec, std::size_t chunk);

}  // namespace pagescan::test
