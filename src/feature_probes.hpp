// The kernel facts the library itself needs, each probed on first use and cached on its
// own, so a call probes only what it uses (features() probes everything at once).
//
// Each accessor returns a Features with page_size and kernel_release plus its own group
// of fields filled in; every other field keeps its default. Thread-safe: each group is
// probed once (a function-local static, initialised under the compiler's guard, as
// std::call_once would). The side effects of each probe are stated above it; none but
// zero_pages() maps memory, changes advice or writes clear_refs.
#pragma once

#include "pagescan/features.hpp"

namespace pagescan::probe {

// pagemap_scan, pagemap_scan_errno, scan_categories, user_address_limit,
// wp_without_buffer_safe: empty PAGEMAP_SCAN calls (start == end, nothing walked) on a
// /proc/self/pagemap descriptor opened and closed for it.
const Features& scanning();

// userfaultfd, userfaultfd_via_dev, userfaultfd_user_mode_only, userfaultfd_features,
// uffd_wp_*, userfaultfd_detail: creates one userfaultfd, asks UFFDIO_API what it offers
// and closes it (no memory is registered).
const Features& userfaultfd();

// soft_dirty, soft_dirty_detail. SIDE EFFECT: FORKS the caller once, and the child
// writes its own /proc/self/clear_refs (the caller's soft-dirty bits are untouched).
// Only the soft-dirty engine, when asked for by name, and features() call it.
const Features& soft_dirty();

// thp_mode, thp_pmd_size, thp_sizes, thp_use_zero_page: reads sysfs only.
const Features& thp();

// zero_page, huge_zero_page and their details: whether a read fault on private anonymous
// memory maps the shared zero page, and one in a PMD-aligned MADV_HUGEPAGE region the
// huge zero page (zero_page_probe.cpp). SIDE EFFECTS: maps a scratch page and a scratch
// region of two PMDs (MADV_HUGEPAGE on one of them), read-faults one byte of each (which
// may allocate a private huge page for the moment), scans them and unmaps them. Only
// features() calls it; zero_pages_afresh() probes again, uncached.
const Features& zero_pages();
Features zero_pages_afresh();

// page_size and kernel_release, the base every group is probed on.
Features basics();

// pfns_visible: whether pagemap shows this process PFNs, read from the pagemap entry of a
// page certainly present (the one holding a local variable); nothing is mapped.
bool pfns_visible();

}  // namespace pagescan::probe
