// Scanning page state with PAGEMAP_SCAN: requests, regions, complete and streaming scans.
//
// Three levels:
//  * scan():      the complete answer for a range, as one kernel call with an unbounded
//                 output buffer would give it, without the kernel's stale walk_end.
//  * scan_each(): the same regions delivered in chunks to a callback, in bounded memory,
//                 for huge sparse address spaces.
//  * scan_raw():  exactly one ioctl with the caller's own arguments and buffer, quirks
//                 included; for callers (and tests) that need the bare kernel behaviour.
// All three validate the request first, in the kernel's order and with its errno.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string_view>
#include <vector>

#include "pagescan/categories.hpp"
#include "pagescan/process.hpp"
#include "pagescan/result.hpp"

namespace pagescan {

// One output region: [start, end) with the categories selected by return_mask.
// Same layout as the kernel's struct page_region, so buffers go to the kernel as they are.
struct PageRegion {
  std::uint64_t start = 0;
  std::uint64_t end = 0;
  Categories categories;

  std::uint64_t length() const { return end - start; }
  std::uint64_t pages(std::uint64_t page_size) const { return (end - start) / page_size; }
  friend bool operator==(const PageRegion&, const PageRegion&) = default;
};

// A scan request: every field of the kernel's struct pm_scan_arg that a caller sets.
//
// A page matches when, after XOR with category_inverted, every bit of category_mask is
// set and (if category_anyof_mask is not empty) at least one bit of it is set. Output
// regions carry the page's categories AND return_mask; adjacent matches with equal
// masked categories merge (kernel-pagemap-scan.md §3).
struct ScanRequest {
  std::uint64_t start = 0;  // page-aligned
  std::uint64_t end = 0;    // exclusive; rounded up to a page by the kernel
  Categories category_mask;
  Categories category_anyof_mask;
  Categories category_inverted;
  Categories return_mask;
  std::uint64_t max_pages = 0;  // 0: no limit
  bool write_protect = false;   // PM_SCAN_WP_MATCHING: re-arm the reported written pages
  bool check_wp_async = false;  // PM_SCAN_CHECK_WPASYNC: EPERM on a VMA not async-WP'd

  // Readable construction of the common filters:
  //   ScanRequest::over(a, b).all_of(Category::present).none_of(Category::file)
  //   ScanRequest::over(a, b).any_of(Category::present | Category::swapped)
  static ScanRequest over(std::uint64_t start, std::uint64_t end) {
    ScanRequest r;
    r.start = start;
    r.end = end;
    return r;
  }
  // Every category in `set` must be set.
  ScanRequest& all_of(Categories set) {
    category_mask |= set;
    return *this;
  }
  // Every category in `clear` must be clear.
  ScanRequest& none_of(Categories clear) {
    category_mask |= clear;
    category_inverted |= clear;
    return *this;
  }
  // At least one of `set` is set, or one of `clear` is clear.
  ScanRequest& any_of(Categories set, Categories clear = {}) {
    category_anyof_mask |= set | clear;
    category_inverted |= clear;
    return *this;
  }
  ScanRequest& returning(Categories categories) {
    return_mask = categories;
    return *this;
  }
  ScanRequest& limit_pages(std::uint64_t pages) {
    max_pages = pages;
    return *this;
  }
  ScanRequest& with_write_protect(bool on = true) {
    write_protect = on;
    return *this;
  }
  ScanRequest& with_check_wp_async(bool on = true) {
    check_wp_async = on;
    return *this;
  }
};

// Builds the masks from parsed filter lists ("present,!file" for all-of, a list for
// any-of). A category required set in one place and clear in another cannot be expressed
// with the kernel's single category_inverted mask: that is an invalid_argument error
// naming the category.
Result<ScanRequest> make_request(std::uint64_t start, std::uint64_t end,
                                 const CategoryFilter& all_of, const CategoryFilter& any_of,
                                 Categories return_mask);

// The kernel's argument struct, field for field (struct pm_scan_arg, 96 bytes).
struct RawScanArgs {
  static constexpr std::uint64_t kWpMatching = 1u << 0;    // PM_SCAN_WP_MATCHING
  static constexpr std::uint64_t kCheckWpAsync = 1u << 1;  // PM_SCAN_CHECK_WPASYNC
  static constexpr std::uint64_t kSize = 96;

  std::uint64_t size = kSize;
  std::uint64_t flags = 0;
  std::uint64_t start = 0;
  std::uint64_t end = 0;
  std::uint64_t walk_end = 0;  // out
  std::uint64_t vec = 0;       // user pointer to page_region[vec_len]
  std::uint64_t vec_len = 0;
  std::uint64_t max_pages = 0;
  std::uint64_t category_inverted = 0;
  std::uint64_t category_mask = 0;
  std::uint64_t category_anyof_mask = 0;
  std::uint64_t return_mask = 0;
};

// Kernel facts validation depends on (see features.hpp for how they are probed).
struct KernelLimits {
  std::uint64_t page_size = 4096;
  // Highest address access_ok() accepts as a range end (x86-64 4-level: 0x7ffffffff000).
  std::uint64_t user_address_limit = 0;
  // Categories the running kernel's PAGEMAP_SCAN accepts (0x7f on 6.7, 0x1ff on 6.16+).
  Categories accepted_categories;
};

// Checks a raw request exactly as pagemap_scan_get_args() does, first failure wins
// (kernel-pagemap-scan.md §2.1): size (EINVAL), flags (EINVAL), unknown category bits in
// any mask (EINVAL), start alignment (EINVAL), range beyond user space or end < start
// (EFAULT), vec NULL with vec_len (EINVAL), vec range (EFAULT). The error message names
// the field and the expectation.
Result<void> validate(const RawScanArgs& args, const KernelLimits& limits);

// The raw args for a request (vec, vec_len and walk_end left 0).
RawScanArgs to_raw_args(const ScanRequest& request);

// Which implementation answered.
enum class Backend { kernel, emulated };
std::string_view to_string(Backend backend);

// Which implementation to use. `automatic` takes the kernel's PAGEMAP_SCAN when it
// supports every category the request uses, and the emulator (pagemap + smaps)
// otherwise. The environment variable PAGESCAN_BACKEND=auto|kernel|emulated overrides
// `automatic` (so tests on a new kernel exercise the old-kernel path, as CRIU's fault
// injection does); an explicit kernel or emulated choice in ScanOptions overrides both.
enum class BackendChoice { automatic, kernel, emulated };
// Parses "auto", "kernel" or "emulated"; the error names the bad value.
Result<BackendChoice> parse_backend_choice(std::string_view name);

// Why a scan stopped.
enum class StopReason {
  complete,           // every matching page of [start, end) was reported
  max_pages,          // the max_pages budget was used up; walk_end is where to resume
  stopped_by_caller,  // a scan_each() sink returned false
};
std::string_view to_string(StopReason reason);

struct ScanSummary {
  // Where the walk stopped: the request's rounded end when complete, else the address to
  // resume from. Never the kernel's stale internal restart point (§2.4).
  std::uint64_t walk_end = 0;
  StopReason stop_reason = StopReason::complete;
  std::uint64_t region_count = 0;  // regions delivered
  std::uint64_t pages = 0;         // pages in them
  std::uint64_t kernel_calls = 0;  // ioctls issued (for diagnostics and benchmarks)
  Backend backend = Backend::kernel;
  // Under write_protect, the kernel withdraws a matching hugetlb page that the report
  // would cover only in part (range edge inside it, or a max_pages cut): it is neither
  // reported nor re-armed, so it stays written and a later scan covering the whole huge
  // page reports it (kernel-pagemap-scan.md §5.4). The address of the first such page
  // seen, or 0 when none was withdrawn.
  std::uint64_t withdrawn_hugetlb_page = 0;
  // Emulated backend only: categories whose answer may differ from the kernel's for some
  // page (PFNZERO without visible PFNs, THP HUGE when smaps is ambiguous, ...; see
  // docs/emulation.md). Empty when exact.
  Categories approximate;
};

struct ScanResult : ScanSummary {
  std::vector<PageRegion> regions;
};

struct ScanOptions {
  // Regions per kernel call; 0 picks the kernel's own chunk size (PMD_SIZE/PAGE_SIZE,
  // 512 on x86-64), the largest size at which the kernel never restarts internally.
  std::size_t chunk_regions = 0;
  BackendChoice backend = BackendChoice::automatic;
};

// The complete scan: every matching region of [request.start, request.end), merged
// exactly as one PAGEMAP_SCAN call with an unbounded buffer would merge them, with
// max_pages, write_protect and check_wp_async applied as the kernel applies them.
//
// Completion is judged from the returned count and page budget, not from walk_end, so
// the stale walk_end quirk (§2.4) and withdrawn partial hugetlb pages (§5.4) neither
// lose nor duplicate regions. With write_protect and check_wp_async, the range is first
// checked without protecting anything, so an EPERM leaves no protection behind.
//
// Errors: invalid_argument (validation), unsupported (no PAGEMAP_SCAN or a category the
// kernel lacks), permission (EPERM from check_wp_async), no_such_process (the target
// exited), kernel_failure. Thread-safe.
Result<ScanResult> scan(const Process& process, const ScanRequest& request,
                        const ScanOptions& options = {});

// The same as scan(), writing the regions into `out` (cleared first) so that repeated
// scans reuse its capacity: a fresh multi-megabyte vector per scan costs a page fault per
// 4 KiB of answer once the allocator has returned the memory to the kernel.
Result<ScanSummary> scan_into(const Process& process, const ScanRequest& request,
                              std::vector<PageRegion>& out, const ScanOptions& options = {});

// Receives consecutive chunks of regions, in address order; return false to stop.
using RegionSink = std::function<bool(std::span<const PageRegion> regions)>;

// The same regions as scan(), delivered chunk by chunk in bounded memory (one chunk of
// output, at most chunk_regions regions per sink call): concatenated, the chunks equal
// scan()'s regions for the same request. The last region of each kernel call is held back
// until the next call shows whether it grows (memory can change between calls; scan()
// joins such a run too), so a chunk may be one region shorter than the kernel's.
// Stopping (the sink returns false) gives stop_reason stopped_by_caller, walk_end the
// first address not delivered (a held-back region is rescanned by a resume from there),
// and region_count and pages what the sink received.
// With write_protect nothing is held back, because the kernel has re-armed a region's
// pages when it reports it, and a held-back region would be lost if the sink stopped:
// the pages of a chunk are re-armed when the sink sees it, and the one difference from
// scan() is that a run of pages that came to match between two kernel calls (written
// meanwhile) may arrive as two adjacent regions with equal categories, one ending a chunk
// and one starting the next, where scan() gives one. A caller that must not lose a
// harvest consumes chunks as they come. Errors as scan().
Result<ScanSummary> scan_each(const Process& process, const ScanRequest& request,
                              const RegionSink& sink, const ScanOptions& options = {});

// What answered a raw call.
struct RawScanInfo {
  Backend backend = Backend::kernel;
  Categories approximate;
};

// Exactly one PAGEMAP_SCAN call with the caller's arguments (validated first): the ioctl,
// or the emulator answering as the ioctl would. Writes walk_end back into `args` as the
// kernel does and returns the number of regions written to args.vec. Refuses
// write-protect with vec_len == 0 on kernels that may oops on it (§5.3) with
// ErrorKind::unsupported. `info`, when given, receives the backend and approximations.
Result<std::size_t> scan_raw(const Process& process, RawScanArgs& args,
                             const ScanOptions& options = {}, RawScanInfo* info = nullptr);

}  // namespace pagescan
