// Whether a read fault maps the shared zero page (and, in a THP region, the huge zero
// page), found by read-faulting scratch memory and scanning what got mapped.
//
// Read-only anonymous memory is pfnzero only where the kernel maps the zero page on a read
// fault. Most kernels do, but not all: pvm_no_zero_page=1, s390 guests that forbid it and
// mm_forbids_zeropage() give each read fault a private zero-filled page; for THP,
// transparent_hugepage/use_zero_page=0 gives a private huge page instead of the huge zero
// page. Neither is visible in a version number or (for the 4 KiB one) in sysfs, so it is
// tested: one read fault on a fresh private anonymous page (THP kept off), one in a
// PMD-aligned MADV_HUGEPAGE region, each then scanned for present, pfnzero and huge.
//
// The scan is PAGEMAP_SCAN when the kernel accepts those categories (its PFNZERO is the
// kernel's own is_zero_pfn(), and for a PMD the huge zero page since the June 2025 fix,
// kernel-pagemap-scan.md §4), else the emulated scan (pagemap: exact with PFNs and
// /proc/kpageflags, a heuristic without; docs/emulation.md). A kernel without that fix
// maps the huge zero page but its PAGEMAP_SCAN never calls it PFNZERO; pagemap marks it
// "file" in private anonymous memory, which the emulator reads as the huge zero page, so
// a huge page the ioctl does not call pfnzero is asked of the emulator too, and the
// detail says which of the two saw it.
#include <sys/mman.h>

#include <cstdint>
#include <string>

#include "feature_probes.hpp"
#include "pagescan/process.hpp"
#include "pagescan/scan.hpp"

namespace pagescan {

namespace {

const Categories kLooked = Category::present | Category::pfnzero | Category::huge;

// A private anonymous scratch mapping, unmapped on destruction.
class Scratch {
 public:
  explicit Scratch(std::uint64_t length) : length_(length) {
    void* p = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    base_ = p == MAP_FAILED ? 0 : reinterpret_cast<std::uint64_t>(p);
  }
  Scratch(const Scratch&) = delete;
  ~Scratch() {
    if (base_) ::munmap(reinterpret_cast<void*>(base_), length_);
  }
  std::uint64_t base() const { return base_; }

 private:
  std::uint64_t base_ = 0;
  std::uint64_t length_ = 0;
};

void read_fault(std::uint64_t address) {
  (void)*reinterpret_cast<const volatile char*>(address);
}

// The pages of [start, end) that a scan of this process finds present, pfnzero and huge.
struct Seen {
  std::uint64_t present = 0;
  std::uint64_t pfnzero = 0;
  std::uint64_t huge = 0;
  std::string error;  // the scan failed: why
};

Seen look(std::uint64_t start, std::uint64_t end, std::uint64_t page, Backend backend) {
  Seen seen;
  auto self = Process::self();
  if (!self) return seen.error = self.error().message(), seen;
  ScanOptions options;
  options.backend = backend == Backend::kernel ? BackendChoice::kernel : BackendChoice::emulated;
  auto found = scan(*self, ScanRequest::over(start, end).returning(kLooked), options);
  if (!found) return seen.error = found.error().message(), seen;
  for (const PageRegion& r : found->regions) {
    const std::uint64_t pages = (r.end - r.start) / page;
    if (r.categories.contains(Category::present)) seen.present += pages;
    if (r.categories.contains(Category::pfnzero)) seen.pfnzero += pages;
    if (r.categories.contains(Category::huge)) seen.huge += pages;
  }
  return seen;
}

// The scan that answers exactly where the kernel can: its own, when it takes the
// categories looked at.
Backend exact_backend() {
  const Features& s = probe::scanning();
  return s.pagemap_scan && s.scan_categories.contains(kLooked) ? Backend::kernel
                                                               : Backend::emulated;
}

const char* by(Backend backend) {
  return backend == Backend::kernel ? "PAGEMAP_SCAN" : "the emulated scan (pagemap)";
}

void probe_small_zero_page(Features& f) {
  const std::uint64_t page = f.page_size;
  Scratch scratch(page);
  if (!scratch.base()) {
    f.zero_page_detail = "no scratch page could be mapped to test it";
    return;
  }
  // A one-page region cannot hold a PMD THP; the advice also keeps an mTHP policy away.
  (void)::madvise(reinterpret_cast<void*>(scratch.base()), page, MADV_NOHUGEPAGE);
  read_fault(scratch.base());
  const Backend backend = exact_backend();
  const Seen seen = look(scratch.base(), scratch.base() + page, page, backend);
  if (!seen.error.empty()) {
    f.zero_page_detail = "the scan of a read-faulted page failed: " + seen.error;
  } else if (seen.present == 0) {
    f.zero_page_detail = "a read fault left the page not present";
  } else if (seen.pfnzero) {
    f.zero_page = true;
    f.zero_page_detail =
        std::string("a read fault maps the shared zero page (") + by(backend) + ": pfnzero)";
  } else {
    f.zero_page_detail = std::string("a read fault maps a private page, so read pages are ") +
                         "never pfnzero (" + by(backend) + ")";
  }
}

void probe_huge_zero_page(Features& f) {
  const Features& thp = probe::thp();
  const std::string knob = thp.thp_use_zero_page ? "use_zero_page=1" : "use_zero_page=0";
  if (thp.thp_mode.empty() || thp.thp_mode == "never" || thp.thp_pmd_size == 0) {
    f.huge_zero_page_detail = thp.thp_mode.empty()
                                  ? "the kernel has no transparent huge pages"
                                  : "transparent huge pages are off (mode " + thp.thp_mode + ")";
    return;
  }
  const std::uint64_t huge = thp.thp_pmd_size, page = f.page_size;
  Scratch scratch(2 * huge);
  if (!scratch.base()) {
    f.huge_zero_page_detail = "no scratch region could be mapped to test it";
    return;
  }
  const std::uint64_t start = (scratch.base() + huge - 1) & ~(huge - 1), end = start + huge;
  if (::madvise(reinterpret_cast<void*>(start), huge, MADV_HUGEPAGE) != 0) {
    f.huge_zero_page_detail = "MADV_HUGEPAGE was refused on a scratch region";
    return;
  }
  read_fault(start);
  const std::uint64_t block = huge / page;
  const Backend backend = exact_backend();
  const Seen seen = look(start, end, page, backend);
  if (!seen.error.empty()) {
    f.huge_zero_page_detail = "the scan of a read-faulted THP region failed: " + seen.error;
    return;
  }
  if (seen.huge != block || seen.present != block) {
    f.huge_zero_page_detail =
        "a read fault in a MADV_HUGEPAGE region mapped no huge page (" + knob + ")";
    return;
  }
  if (seen.pfnzero == block) {
    f.huge_zero_page = true;
    f.huge_zero_page_detail = std::string("a THP read fault maps the huge zero page (") +
                              by(backend) + ": huge, pfnzero; " + knob + ")";
    return;
  }
  if (backend == Backend::kernel) {
    const Seen pagemap = look(start, end, page, Backend::emulated);
    if (pagemap.error.empty() && pagemap.pfnzero == block) {
      f.huge_zero_page = true;
      f.huge_zero_page_detail =
          "a THP read fault maps the huge zero page (pagemap), which this kernel's "
          "PAGEMAP_SCAN does not call pfnzero (" +
          knob + ")";
      return;
    }
  }
  f.huge_zero_page_detail =
      "a THP read fault maps a private huge page, so read THP memory is never pfnzero (" + knob +
      ")";
}

}  // namespace

namespace probe {

Features zero_pages_afresh() {
  Features z = basics();
  probe_small_zero_page(z);
  probe_huge_zero_page(z);
  return z;
}

const Features& zero_pages() {
  static const Features f = zero_pages_afresh();
  return f;
}

}  // namespace probe

}  // namespace pagescan
