// Our statement of the kernel ABI that Debian 12's 6.1 headers lack: PAGEMAP_SCAN
// (6.7+, include/uapi/linux/fs.h) and the userfaultfd features and ioctls it relies on.
// Every size and ioctl number is checked against the values in kernel-pagemap-scan.md §1.
#pragma once

#include <linux/ioctl.h>

#include <cstddef>
#include <cstdint>

#include "pagescan/scan.hpp"

namespace pagescan::uapi {

struct page_region {
  std::uint64_t start;
  std::uint64_t end;
  std::uint64_t categories;
};

struct pm_scan_arg {
  std::uint64_t size;
  std::uint64_t flags;
  std::uint64_t start;
  std::uint64_t end;
  std::uint64_t walk_end;
  std::uint64_t vec;
  std::uint64_t vec_len;
  std::uint64_t max_pages;
  std::uint64_t category_inverted;
  std::uint64_t category_mask;
  std::uint64_t category_anyof_mask;
  std::uint64_t return_mask;
};

inline constexpr unsigned long PAGEMAP_SCAN = _IOWR('f', 16, pm_scan_arg);

// PROCMAP_QUERY (6.11+), issued on /proc/PID/maps: the VMA holding an address.
struct procmap_query {
  std::uint64_t size;
  std::uint64_t query_flags;
  std::uint64_t query_addr;
  std::uint64_t vma_start;
  std::uint64_t vma_end;
  std::uint64_t vma_flags;
  std::uint64_t vma_page_size;
  std::uint64_t vma_offset;
  std::uint64_t inode;
  std::uint32_t dev_major;
  std::uint32_t dev_minor;
  std::uint32_t vma_name_size;
  std::uint32_t build_id_size;
  std::uint64_t vma_name_addr;
  std::uint64_t build_id_addr;
};
inline constexpr unsigned long PROCMAP_QUERY = _IOWR('f', 17, procmap_query);

inline constexpr std::uint64_t PM_SCAN_WP_MATCHING = 1u << 0;
inline constexpr std::uint64_t PM_SCAN_CHECK_WPASYNC = 1u << 1;
inline constexpr std::uint64_t PM_SCAN_FLAGS = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC;

inline constexpr std::uint64_t PAGE_IS_WPALLOWED = 1u << 0;
inline constexpr std::uint64_t PAGE_IS_WRITTEN = 1u << 1;
inline constexpr std::uint64_t PAGE_IS_FILE = 1u << 2;
inline constexpr std::uint64_t PAGE_IS_PRESENT = 1u << 3;
inline constexpr std::uint64_t PAGE_IS_SWAPPED = 1u << 4;
inline constexpr std::uint64_t PAGE_IS_PFNZERO = 1u << 5;
inline constexpr std::uint64_t PAGE_IS_HUGE = 1u << 6;
inline constexpr std::uint64_t PAGE_IS_SOFT_DIRTY = 1u << 7;
inline constexpr std::uint64_t PAGE_IS_GUARD = 1u << 8;

// userfaultfd bits newer than the 6.1 headers (k-names: the headers define some as macros).
inline constexpr std::uint64_t kUffdFeatureWpHugetlbfsShmem = 1u << 12;
inline constexpr std::uint64_t kUffdFeatureWpUnpopulated = 1u << 13;
inline constexpr std::uint64_t kUffdFeatureWpAsync = 1u << 15;
inline constexpr int kUffdUserModeOnly = 1;
// /dev/userfaultfd (6.1+): ioctl kUserfaultfdIocNew = _IO(0xAA, 0x00) returns a uffd.
inline constexpr unsigned long kUserfaultfdIocNew = _IO(0xAA, 0x00);

// madvise advice newer than the 6.1 headers.
inline constexpr int kMadvGuardInstall = 102;
inline constexpr int kMadvGuardRemove = 103;

// pagemap entry bits (Documentation/admin-guide/mm/pagemap.rst; §6.1).
inline constexpr std::uint64_t PM_PFN_MASK = (1ull << 55) - 1;
inline constexpr std::uint64_t PM_SOFT_DIRTY = 1ull << 55;
inline constexpr std::uint64_t PM_MMAP_EXCLUSIVE = 1ull << 56;
inline constexpr std::uint64_t PM_UFFD_WP = 1ull << 57;
inline constexpr std::uint64_t PM_GUARD_REGION = 1ull << 58;
inline constexpr std::uint64_t PM_FILE = 1ull << 61;
inline constexpr std::uint64_t PM_SWAP = 1ull << 62;
inline constexpr std::uint64_t PM_PRESENT = 1ull << 63;

static_assert(sizeof(page_region) == 24);
static_assert(sizeof(pm_scan_arg) == 96);
static_assert(offsetof(pm_scan_arg, walk_end) == 32);
static_assert(offsetof(pm_scan_arg, return_mask) == 88);
static_assert(PAGEMAP_SCAN == 0xC0606610);
static_assert(sizeof(procmap_query) == 104);
static_assert(PROCMAP_QUERY == 0xC0686611);
static_assert(kUserfaultfdIocNew == 0xAA00);

// The public types are passed to the kernel as they are.
static_assert(sizeof(PageRegion) == sizeof(page_region));
static_assert(offsetof(PageRegion, start) == offsetof(page_region, start));
static_assert(offsetof(PageRegion, end) == offsetof(page_region, end));
static_assert(offsetof(PageRegion, categories) == offsetof(page_region, categories));
static_assert(sizeof(RawScanArgs) == sizeof(pm_scan_arg));
static_assert(offsetof(RawScanArgs, walk_end) == offsetof(pm_scan_arg, walk_end));
static_assert(offsetof(RawScanArgs, vec_len) == offsetof(pm_scan_arg, vec_len));
static_assert(offsetof(RawScanArgs, return_mask) == offsetof(pm_scan_arg, return_mask));
static_assert(RawScanArgs::kWpMatching == PM_SCAN_WP_MATCHING);
static_assert(RawScanArgs::kCheckWpAsync == PM_SCAN_CHECK_WPASYNC);
static_assert(static_cast<std::uint64_t>(Category::guard) == PAGE_IS_GUARD);
static_assert(static_cast<std::uint64_t>(Category::soft_dirty) == PAGE_IS_SOFT_DIRTY);
static_assert(static_cast<std::uint64_t>(Category::wpallowed) == PAGE_IS_WPALLOWED);

}  // namespace pagescan::uapi
