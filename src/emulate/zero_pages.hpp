// The PFN of the shared zero page, learnt without touching memory, so the emulator can
// tell PFNZERO exactly when pagemap shows PFNs (kernel-pagemap-scan.md §6.2).
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

// Learnt once per process (thread-safe), on the emulator's first use, with no side effect
// in the caller beyond reading files: nothing is mapped or faulted.
//
// pfns_visible: from the pagemap entry of a page the caller certainly has present (the
// one holding a local variable). zero_pfn: the page /proc/kpageflags marks
// KPF_ZERO_PAGE (bit 24) among the kernel image's pages, whose physical ranges
// /proc/iomem lists ("Kernel code", "Kernel data", "Kernel bss", ...; the zero page is in
// the image on x86-64 and arm64). Both files need root; when either is unreadable, or the
// image shows no such page, zero_pfn stays 0 and the emulator falls back to its
// heuristic (present, not file, not exclusively mapped, in private anonymous memory;
// marked approximate), which is also right on a kernel without a shared zero page
// (pvm_no_zero_page=1: each read fault maps a private, exclusively mapped page).
// huge_zero_pfn is never learnt (the huge zero page is allocated on demand, outside the
// image): the emulator recognises it as the only present "file" page of private
// anonymous memory. Earlier versions learnt both by read-faulting scratch mappings,
// which mapped memory in the caller and, without a zero page, took a private page (its
// PFN later reused by anything) for the zero page.
const ZeroPages& zero_pages();

}  // namespace pagescan::emulate
