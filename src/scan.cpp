// The complete and streaming scans over PAGEMAP_SCAN, and the raw single call.
//
// How a complete scan is assembled from kernel calls
// --------------------------------------------------
// The kernel collects regions in a bounce chunk of PMD_SIZE/PAGE_SIZE entries (512 on
// x86-64). When a chunk fills and the caller's buffer still has room it flushes and
// restarts the walk internally, but leaves walk_end at the last restart point even when
// the walk then completes (kernel-pagemap-scan.md §2.4). A partial hugetlb page under
// WP_MATCHING also sets walk_end and lets the walk continue (§5.4). So walk_end alone
// cannot say whether a call finished, and callers that loop on `walk_end < end` rescan
// (duplicates) or, with a fixed small buffer, stop early (wasmtime's 32-entry buffer).
//
// We pass at most one kernel chunk per call, so the kernel never restarts internally, and
// decide from facts that cannot be stale:
//   * fewer regions than the buffer holds: the walk reached the end (a buffer-full stop
//     needs a full buffer, and a max_pages stop is visible in the page budget);
//   * the page budget used up: a max_pages stop; walk_end is the kernel's stop address
//     unless it lies below the last region (then it is a stale mark and nothing follows);
//   * a full buffer: resume at max(walk_end, end of the last region). A buffer-full
//     walk_end is the start of the region that did not fit, never below the last region;
//     anything below it is a stale mark that would only rescan.
// Each call walks exactly what the kernel's internal restart would walk, with the
// remaining page budget as max_pages, so regions, categories, max_pages cuts and the
// pages write-protected are those of one unbounded kernel call.
#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>

#include "backend.hpp"
#include "feature_probes.hpp"
#include "kernel/pagemap_scan.hpp"
#include "kernel/uapi.hpp"
#include "pagescan/features.hpp"
#include "pagescan/scan.hpp"

namespace pagescan {

std::string_view to_string(Backend backend) {
  return backend == Backend::kernel ? "kernel" : "emulated";
}

std::string_view to_string(StopReason reason) {
  switch (reason) {
    case StopReason::complete:
      return "complete";
    case StopReason::max_pages:
      return "max_pages";
    case StopReason::stopped_by_caller:
      return "stopped_by_caller";
  }
  return "?";
}

RawScanArgs to_raw_args(const ScanRequest& r) {
  RawScanArgs a;
  a.flags = (r.write_protect ? RawScanArgs::kWpMatching : 0) |
            (r.check_wp_async ? RawScanArgs::kCheckWpAsync : 0);
  a.start = r.start;
  a.end = r.end;
  a.max_pages = r.max_pages;
  a.category_inverted = r.category_inverted.bits();
  a.category_mask = r.category_mask.bits();
  a.category_anyof_mask = r.category_anyof_mask.bits();
  a.return_mask = r.return_mask.bits();
  return a;
}

Result<ScanRequest> make_request(std::uint64_t start, std::uint64_t end,
                                 const CategoryFilter& all_of, const CategoryFilter& any_of,
                                 Categories return_mask) {
  // category_inverted is shared by both masks: a category cannot be required set in one
  // and clear in the other.
  Categories set = all_of.set | any_of.set;
  Categories clear = all_of.clear | any_of.clear;
  Categories conflict = set & clear;
  if (!conflict.empty()) {
    return Error(EINVAL, ErrorKind::invalid_argument,
                 "category " + to_string(conflict) +
                     " is both required and inverted across the all-of and any-of lists "
                     "(the kernel has one category_inverted mask for both)");
  }
  ScanRequest r = ScanRequest::over(start, end);
  r.all_of(all_of.set).none_of(all_of.clear).any_of(any_of.set, any_of.clear);
  r.return_mask = return_mask;
  return r;
}

namespace {

std::uint64_t round_up(std::uint64_t v, std::uint64_t page) {
  std::uint64_t r = (v + page - 1) & ~(page - 1);
  return r < v ? v : r;  // validation has rejected anything this close to 2^64
}

Result<void> validate_for(const Process& process, const RawScanArgs& args,
                          const detail::ScanBackend& backend) {
  if (auto ok = validate(args, backend.limits()); !ok) {
    return ok.error().with_context(kernel::describe_scan(process, args.start, args.end));
  }
  return {};
}

std::uint64_t pages_in(std::span<const PageRegion> regions, std::uint64_t page_size) {
  std::uint64_t pages = 0;
  for (const PageRegion& r : regions) pages += r.pages(page_size);
  return pages;
}

// The state of a complete scan between kernel calls.
class ScanLoop {
 public:
  ScanLoop(const Process& process, const ScanRequest& request, const ScanOptions& options,
           const Features& f, detail::ScanBackend& backend)
      : process_(process), request_(request), f_(f), backend_(backend) {
    chunk_ = options.chunk_regions ? options.chunk_regions : f.chunk_regions();
    end_ = round_up(request.end, f.page_size);
    cursor_ = request.start;
    remaining_ = request.max_pages;
  }

  std::size_t chunk() const { return chunk_; }

  Result<void> validate_request() {
    RawScanArgs args = to_raw_args(request_);
    // Our own buffer: validate with a plausible one so only the caller's fields can fail.
    static PageRegion probe_buffer;
    args.vec = reinterpret_cast<std::uint64_t>(&probe_buffer);
    args.vec_len = 1;
    return validate_for(process_, args, backend_);
  }

  // With write-protect and check-wp-async together, the kernel would protect the VMAs
  // before the first non-async one and then fail with EPERM. Check first, protecting
  // nothing: with category_mask = category_inverted = WPALLOWED every async VMA fails the
  // VMA pre-filter and is skipped without a page-table walk, and any other VMA raises
  // EPERM (§3.1, §5.5). A failed call then changes nothing.
  Result<void> precheck_wp_async(int fd) {
    if (!(request_.write_protect && request_.check_wp_async)) return {};
    RawScanArgs check;
    check.flags = RawScanArgs::kCheckWpAsync;
    check.start = request_.start;
    check.end = request_.end;
    check.category_mask = check.category_inverted = uapi::PAGE_IS_WPALLOWED;
    long n = backend_.call(process_, fd, check);
    ++calls_;
    if (n < 0) return kernel::scan_failure(static_cast<int>(-n), process_, check);
    return {};
  }

  // One kernel call writing at most chunk() regions to `out`. Returns the count, and
  // whether the scan is finished (then summary() is final).
  Result<std::size_t> step(int fd, PageRegion* out) {
    RawScanArgs args = to_raw_args(request_);
    args.start = cursor_;
    args.vec = reinterpret_cast<std::uint64_t>(out);
    args.vec_len = chunk_;
    args.max_pages = request_.max_pages ? remaining_ : 0;
    long n = backend_.call(process_, fd, args);
    ++calls_;
    if (n < 0) return kernel::scan_failure(static_cast<int>(-n), process_, args);
    std::size_t count = static_cast<std::size_t>(n);
    std::span<const PageRegion> got(out, count);
    std::uint64_t pages = pages_in(got, f_.page_size);
    pages_ += pages;
    regions_ += count;
    std::uint64_t last_end = count ? got.back().end : cursor_;
    if (request_.max_pages) remaining_ -= std::min(pages, remaining_);
    note_withdrawal(args, count, last_end);

    if (request_.max_pages) {
      if (remaining_ == 0) {
        // A stop address below the last region is stale (§2.4, §5.4): nothing matched
        // after the budget ran out, so the walk went to the end.
        walk_end_ = args.walk_end < last_end ? end_ : args.walk_end;
        stop_ = walk_end_ >= end_ ? StopReason::complete : StopReason::max_pages;
        done_ = true;
        return count;
      }
    }
    if (count < chunk_) {
      walk_end_ = end_;
      done_ = true;
      return count;
    }
    std::uint64_t next = std::max(args.walk_end, last_end);
    if (next >= end_) {
      walk_end_ = end_;
      done_ = true;
      return count;
    }
    cursor_ = next;
    return count;
  }

  // A stop address the kernel recorded without stopping: a withdrawn partial hugetlb
  // page under WP_MATCHING (§5.4). Only the last one of a call is visible.
  void note_withdrawal(const RawScanArgs& args, std::size_t count, std::uint64_t last_end) {
    if (!request_.write_protect || withdrawn_) return;
    bool budget_stop = request_.max_pages && remaining_ == 0;
    bool buffer_stop = count == chunk_ && !budget_stop;
    bool explained =
        args.walk_end >= end_ || ((buffer_stop || budget_stop) && args.walk_end >= last_end);
    if (!explained) withdrawn_ = args.walk_end;
  }

  bool done() const { return done_; }
  // The caller stopped: the walk resumes at `resume` (the first address not delivered).
  void stop_by_caller(std::uint64_t resume) {
    walk_end_ = resume;
    stop_ = StopReason::stopped_by_caller;
    done_ = true;
  }
  std::uint64_t cursor() const { return cursor_; }
  std::uint64_t page_size() const { return f_.page_size; }

  ScanSummary summary() const {
    ScanSummary s;
    s.walk_end = walk_end_;
    s.stop_reason = stop_;
    s.region_count = regions_;
    s.pages = pages_;
    s.kernel_calls = calls_;
    s.backend = backend_.kind();
    s.approximate = backend_.approximate();
    s.withdrawn_hugetlb_page = withdrawn_;
    return s;
  }

  void set_region_count(std::uint64_t n) { regions_ = n; }
  void set_pages(std::uint64_t n) { pages_ = n; }

 private:
  const Process& process_;
  const ScanRequest& request_;
  const Features& f_;
  detail::ScanBackend& backend_;
  std::size_t chunk_ = 0;
  std::uint64_t end_ = 0;
  std::uint64_t cursor_ = 0;
  std::uint64_t remaining_ = 0;
  std::uint64_t pages_ = 0;
  std::uint64_t regions_ = 0;
  std::uint64_t calls_ = 0;
  std::uint64_t walk_end_ = 0;
  std::uint64_t withdrawn_ = 0;
  StopReason stop_ = StopReason::complete;
  bool done_ = false;
};

}  // namespace

Result<std::size_t> scan_raw(const Process& process, RawScanArgs& args, const ScanOptions& options,
                             RawScanInfo* info) {
  const Features& f = probe::scanning();  // only the PAGEMAP_SCAN facts: no side effects
  auto backend = detail::ScanBackend::choose(process, args, options.backend, f);
  if (!backend) return backend.error();
  if (auto ok = validate_for(process, args, *backend); !ok) return ok.error();
  if (backend->kind() == Backend::kernel && (args.flags & RawScanArgs::kWpMatching) &&
      args.vec_len == 0 && !f.wp_without_buffer_safe) {
    return Error(EOPNOTSUPP, ErrorKind::unsupported,
                 kernel::describe_scan(process, args.start, args.end) +
                     ": refusing PM_SCAN_WP_MATCHING without an output buffer: kernel " +
                     f.kernel_release +
                     " may lack the fix for a NULL dereference on partial huge pages "
                     "(pass a buffer of at least one region)");
  }
  auto fd = process.pagemap_fd();
  if (!fd) return fd.error();
  const std::uint64_t start = args.start, end = args.end;
  long n = backend->call(process, *fd, args);
  if (n < 0) return kernel::scan_failure(static_cast<int>(-n), process, args);
  // The answer counts only if the target was alive after it: a failure voids all of it.
  if (auto alive = process.check_alive(); !alive) {
    return alive.error().with_context(kernel::describe_scan(process, start, end));
  }
  if (info) *info = RawScanInfo{backend->kind(), backend->approximate()};
  return static_cast<std::size_t>(n);
}

namespace {

// What every complete scan does around its loop: choose the backend, validate, open the
// pagemap fd, run the write-protect pre-check; then `drive` runs the loop; then the
// target must still be alive for the answer to count.
template <class Drive>
Result<ScanSummary> run_scan(const Process& process, const ScanRequest& request,
                             const ScanOptions& options, Drive&& drive) {
  const Features& f = probe::scanning();  // only the PAGEMAP_SCAN facts: no side effects
  auto backend = detail::ScanBackend::choose(process, to_raw_args(request), options.backend, f);
  if (!backend) return backend.error();
  ScanLoop loop(process, request, options, f, *backend);
  if (auto ok = loop.validate_request(); !ok) return ok.error();
  auto fd = process.pagemap_fd();
  if (!fd) return fd.error();
  if (auto ok = loop.precheck_wp_async(*fd); !ok) return ok.error();
  if (auto ok = drive(loop, *fd); !ok) return ok.error();
  // The answer counts only if the target was alive after the last call; if not, none of
  // it does, so the context names the whole request.
  if (auto alive = process.check_alive(); !alive) {
    return alive.error().with_context(kernel::describe_scan(process, request.start, request.end));
  }
  return loop.summary();
}

}  // namespace

// The regions of a kernel call reach the sink in the order they came, joined across calls
// as scan_into() joins them: the last region of a call is held back until the next call
// shows it cannot be extended (or the walk ends), so a sink that stops never sees a region
// that a later call would have grown. A resume point never falls inside a mergeable run
// when the kernel is consistent (kernel-pagemap-scan.md §3.6), but memory can change
// between calls. Under write-protect nothing is held back: the kernel has re-armed the
// held region's pages already, and a sink that stopped would lose them (scan.hpp says
// what differs then).
Result<ScanSummary> scan_each(const Process& process, const ScanRequest& request,
                              const RegionSink& sink, const ScanOptions& options) {
  return run_scan(process, request, options, [&](ScanLoop& loop, int fd) -> Result<void> {
    const std::size_t chunk = loop.chunk();
    const bool hold = !request.write_protect;
    const std::uint64_t page = loop.page_size();
    // [0]: the region held back from the previous call; the kernel writes from [1].
    std::vector<PageRegion> buffer(chunk + 1);
    bool held = false;
    std::uint64_t regions = 0, pages = 0;
    // Hands regions[0, n) to the sink in pieces of at most `chunk`; false once it stopped,
    // having resumed the walk at the first region it did not get (or `resume`).
    auto deliver = [&](const PageRegion* first, std::size_t n, std::uint64_t resume) {
      for (std::size_t at = 0; at < n;) {
        const std::size_t take = std::min(chunk, n - at);
        std::span<const PageRegion> piece(first + at, take);
        regions += take;
        pages += pages_in(piece, page);
        at += take;
        if (!sink(piece)) {
          if (at < n) {
            loop.stop_by_caller(first[at].start);
          } else if (!loop.done()) {
            loop.stop_by_caller(resume);
          }
          return false;
        }
      }
      return true;
    };
    while (!loop.done()) {
      auto count = loop.step(fd, buffer.data() + 1);
      if (!count) return count.error();
      PageRegion* first = buffer.data() + (held ? 0 : 1);
      std::size_t n = *count + (held ? 1 : 0);
      if (held && *count && buffer[0].end == buffer[1].start &&
          buffer[0].categories == buffer[1].categories) {
        buffer[1].start = buffer[0].start;
        first = buffer.data() + 1;
        --n;
      }
      held = false;
      if (hold && n && !loop.done()) {
        const PageRegion last = first[n - 1];
        if (!deliver(first, n - 1, last.start)) break;
        buffer[0] = last;
        held = true;
      } else if (!deliver(first, n, loop.cursor())) {
        break;
      }
    }
    loop.set_region_count(regions);
    loop.set_pages(pages);
    return {};
  });
}

Result<ScanSummary> scan_into(const Process& process, const ScanRequest& request,
                              std::vector<PageRegion>& regions, const ScanOptions& options) {
  return run_scan(process, request, options, [&](ScanLoop& loop, int fd) -> Result<void> {
    regions.clear();
    while (!loop.done()) {
      std::size_t old = regions.size();
      regions.resize(old + loop.chunk());  // the kernel writes straight into the result
      auto count = loop.step(fd, regions.data() + old);
      if (!count) return count.error();
      regions.resize(old + *count);
      // A resume point never falls inside a mergeable run when the kernel is consistent,
      // but memory can change between calls: join what one call would have joined.
      if (*count && old && regions[old - 1].end == regions[old].start &&
          regions[old - 1].categories == regions[old].categories) {
        regions[old - 1].end = regions[old].end;
        regions.erase(regions.begin() + static_cast<std::ptrdiff_t>(old));
      }
    }
    loop.set_region_count(regions.size());
    return {};
  });
}

Result<ScanResult> scan(const Process& process, const ScanRequest& request,
                        const ScanOptions& options) {
  ScanResult result;
  auto summary = scan_into(process, request, result.regions, options);
  if (!summary) return summary.error();
  static_cast<ScanSummary&>(result) = *summary;
  return result;
}

}  // namespace pagescan
