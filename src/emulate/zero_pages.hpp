// The PFNs of the shared zero page and the huge zero page, learnt in-process, so the
// emulator can tell PFNZERO exactly when pagemap shows PFNs (kernel-pagemap-scan.md §6.2).
#pragma once

#include <cstdint>

namespace pagescan::emulate {

struct ZeroPages {
  bool pfns_visible = false;        // pagemap shows PFNs to us (CAP_SYS_ADMIN)
  std::uint64_t zero_pfn = 0;       // 0: unknown
  std::uint64_t huge_zero_pfn = 0;  // first PFN of the huge zero page; 0: unknown/none
  std::uint64_t huge_zero_pages = 0;

  bool is_zero(std::uint64_t pfn) const {
    return (zero_pfn && pfn == zero_pfn) ||
           (huge_zero_pfn && pfn >= huge_zero_pfn && pfn < huge_zero_pfn + huge_zero_pages);
  }
};

// Learnt once per process: a read fault on a PROT_READ anonymous page maps the zero page;
// on a PMD-aligned MADV_HUGEPAGE area it maps the huge zero page (when use_zero_page=1).
const ZeroPages& zero_pages();

}  // namespace pagescan::emulate
