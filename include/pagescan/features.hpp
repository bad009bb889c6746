// Feature probing: what the running kernel offers, tested functionally, each fact cached.
//
// The library's own calls (scan, write watches, snapshots) probe only the facts they
// need, on first use, each cached on its own, with no side effect beyond opening files:
// scan() makes empty PAGEMAP_SCAN calls; a uffd watch creates one userfaultfd to ask what
// it offers; only the soft-dirty engine, asked for by name, forks (see below).
// features() and probe_features() are the "probe everything" calls (`pagescan
// features`), with the side effects stated above them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pagescan/categories.hpp"
#include "pagescan/scan.hpp"

namespace pagescan {

struct Features {
  std::string kernel_release;  // uname -r
  std::uint64_t page_size = 0;

  // PAGEMAP_SCAN (6.7+): probed with an empty scan on /proc/self/pagemap, one category
  // bit at a time, as CRIU does after 6.7 rejected SOFT_DIRTY (criu#2334).
  bool pagemap_scan = false;
  int pagemap_scan_errno = 0;            // why not, when absent (ENOTTY: no ioctl)
  Categories scan_categories;            // bits the ioctl accepts
  std::uint64_t user_address_limit = 0;  // highest end access_ok() accepts
  // The kernel has the Sep 2025 fix for WP_MATCHING with vec_len == 0 on partial huge
  // pages (kernel-pagemap-scan.md §5.3); without it such a call can oops.
  bool wp_without_buffer_safe = false;

  // userfaultfd
  bool userfaultfd = false;                 // a uffd could be created
  bool userfaultfd_via_dev = false;         // only through /dev/userfaultfd
  bool userfaultfd_user_mode_only = false;  // created with UFFD_USER_MODE_ONLY
  std::uint64_t userfaultfd_features = 0;   // UFFDIO_API feature word offered
  bool uffd_wp_async = false;
  bool uffd_wp_unpopulated = false;
  bool uffd_wp_hugetlbfs_shmem = false;
  std::string userfaultfd_detail;  // why not, when unavailable

  // Soft-dirty, by a functional test in a forked child (clear_refs, write, bit 55).
  bool soft_dirty = false;
  std::string soft_dirty_detail;

  // MADV_GUARD_INSTALL (6.13+) works on anonymous memory.
  bool guard_regions = false;

  // Transparent huge pages.
  std::string thp_mode;                  // "always", "madvise", "never" or "" if absent
  std::uint64_t thp_pmd_size = 0;        // hpage_pmd_size
  std::vector<std::uint64_t> thp_sizes;  // every (m)THP size the kernel offers
  bool thp_use_zero_page = false;

  // hugetlb (default size)
  std::uint64_t hugetlb_page_size = 0;
  std::uint64_t hugetlb_pages_total = 0;
  std::uint64_t hugetlb_pages_free = 0;

  // Swap
  std::uint64_t swap_total_bytes = 0;

  // pagemap shows PFNs to this caller (CAP_SYS_ADMIN).
  bool pfns_visible = false;

  // Whether the kernel maps the shared zero page on a read fault of private anonymous
  // memory (else a private zero-filled page, so read-only pages are never pfnzero), and
  // the huge zero page on one in a MADV_HUGEPAGE region (else a private huge page, or none
  // without THP). Tested by read-faulting scratch memory and scanning it (PAGEMAP_SCAN,
  // or the emulated scan without it); each detail says what was seen, present or not.
  bool zero_page = false;
  std::string zero_page_detail;
  bool huge_zero_page = false;
  std::string huge_zero_page_detail;

  KernelLimits limits() const {
    return KernelLimits{page_size, user_address_limit, scan_categories};
  }
  // Regions the kernel collects before it restarts a walk: PMD_SIZE / PAGE_SIZE.
  std::uint64_t chunk_regions() const { return page_size / 8; }
};

// The features of this machine, every field, probed on first use and cached.
// Thread-safe. Never fails: what cannot be probed reads as absent, with the reason in
// the *_detail strings or errno fields.
//
// SIDE EFFECTS on the first call, in the caller's process (the library itself never
// calls it): it FORKS one child for the soft-dirty test (the child writes its own
// clear_refs; the caller's soft-dirty bits are untouched; the child is reaped before
// the call returns, so a SIGCHLD is delivered), creates and closes a userfaultfd, and
// maps one scratch page, installs a guard region on it and unmaps it (guard_regions), and
// for zero_page and huge_zero_page maps a scratch page and a region of two huge pages
// (advised MADV_HUGEPAGE), reads one byte of each (which may allocate a huge page for the
// moment), scans them and unmaps them.
// A group the library already probed for its own calls is not probed again.
const Features& features();

// Probes every field afresh (not cached), with the side effects of features() every
// time.
Features probe_features();

}  // namespace pagescan
