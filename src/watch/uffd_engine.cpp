// The uffd engine: userfaultfd async write-protect, collected with PAGEMAP_SCAN
// get-and-protect (kernel-pagemap-scan.md §4.2, §4.3, §5).
//
// Arming registers the region in write-protect mode on our own uffd with WP_ASYNC |
// WP_UNPOPULATED and protects it: every entry gets the uffd-wp bit or a marker, so
// untouched pages are armed too. The kernel resolves a write fault by itself (async: no
// message, no handler thread) by clearing the bit, which PAGEMAP_SCAN reports as
// WRITTEN; writes the kernel makes on our behalf (read(2) into the buffer) fault the
// same way. A collect is one complete scan for WRITTEN with WP_MATCHING, so each page is
// reported and re-armed under its page-table lock: a racing write lands before (reported
// now) or after (reported next time). With max_pages the kernel protects exactly the
// pages it reports.
#include <unistd.h>

#include <cerrno>

#include "feature_probes.hpp"
#include "kernel/uapi.hpp"
#include "kernel/userfaultfd.hpp"
#include "pagescan/scan.hpp"
#include "watch/engine.hpp"
#include "watch/thp_guard.hpp"

namespace pagescan::watch {

namespace {

class UffdEngine final : public WriteWatch::Engine {
 public:
  UffdEngine(kernel::Userfaultfd uffd, ThpGuard thp)
      : uffd_(std::move(uffd)), thp_(std::move(thp)), owner_(::getpid()) {}

  // Unregistering alone drops the uffd-wp bits and markers of the range (the kernel
  // clears them as it unregisters each VMA). No UFFDIO_WRITEPROTECT first: it does not
  // check which uffd registered a VMA, so over memory unmapped and since registered by a
  // newer watch it would unprotect that watch's pages. Unregistering refuses (EINVAL)
  // VMAs of another uffd; then the range is not ours and its THP advice is left alone.
  // A fork()ed child's copy touches no registration (not inherited), only the advice of
  // its own copy of the VMAs, which thp_ gives back.
  ~UffdEngine() override {
    if (::getpid() != owner_) return;
    if (!uffd_.unregister(reinterpret_cast<void*>(start), end - start)) thp_.dismiss();
  }

  WatchEngine kind() const override { return WatchEngine::uffd; }

  Result<Harvest> collect(std::uint64_t lo, std::uint64_t hi, std::uint64_t max_pages,
                          bool reset) override {
    if (::getpid() != owner_) return everything_in(lo, hi, max_pages);
    ScanRequest request = ScanRequest::over(lo, hi)
                              .all_of(Category::written)
                              .returning(Category::written)
                              .limit_pages(max_pages)
                              .with_write_protect(reset);
    auto process = self();
    if (!process) return process.error().with_context(describe(start, end) + ": collect");
    // The engine needs the ioctl itself (WP_MATCHING re-arms): never PAGESCAN_BACKEND's
    // choice, which would also fail the engine's self-test on a bad value.
    ScanOptions options;
    options.backend = BackendChoice::kernel;
    auto result = scan(**process, request, options);
    if (!result) return result.error().with_context(describe(start, end) + ": collect");
    Harvest h;
    h.ranges.reserve(result->regions.size());
    for (const PageRegion& r : result->regions) h.ranges.push_back(PageRange{r.start, r.end});
    h.pages = result->pages;
    h.more = result->stop_reason == StopReason::max_pages;
    return h;
  }

  Result<void> reset(std::uint64_t lo, std::uint64_t hi) override {
    if (::getpid() != owner_) return {};
    auto r = uffd_.write_protect(reinterpret_cast<void*>(lo), hi - lo, true);
    if (!r) return r.error().with_context(describe(start, end) + ": reset");
    return {};
  }

  Result<void> fold_back(const Harvest& harvest) override {
    if (::getpid() != owner_) return {};
    // Unprotecting makes the pages read as WRITTEN again (an empty entry included).
    for (const PageRange& r : harvest.ranges) {
      auto ok = uffd_.write_protect(reinterpret_cast<void*>(r.start), r.end - r.start, false);
      if (!ok) return ok.error().with_context(describe(start, end) + ": fold back");
    }
    return {};
  }

  // Every page of the region is registered with our uffd (WPALLOWED): a part unmapped and
  // mapped afresh is not, and its new pages read as WRITTEN, so a collect would report
  // them and re-arming them would fail (ENOENT). One page found is enough. A fork()ed
  // child reports everything written anyway, so nothing goes unseen there.
  Result<void> check_intact() const override {
    if (::getpid() != owner_) return {};
    auto process = self();
    if (!process) return process.error().with_context(describe(start, end));
    ScanOptions options;
    options.backend = BackendChoice::kernel;
    auto found =
        scan(**process, ScanRequest::over(start, end).none_of(Category::wpallowed).limit_pages(1),
             options);
    if (!found) return found.error().with_context(describe(start, end) + ": checking the region");
    if (!found->regions.empty()) {
      return Error(ENOENT, ErrorKind::invalid_argument,
                   "uffd engine: " + describe(start, end) +
                       ": part of the region was unmapped and mapped afresh since it was armed");
    }
    return {};
  }

 private:
  // In a fork()ed child the region is no longer registered (no UFFD_FEATURE_EVENT_FORK),
  // so nothing is tracked: report the whole range, the only honest answer.
  Result<Harvest> everything_in(std::uint64_t lo, std::uint64_t hi, std::uint64_t max_pages) {
    return whole_range(lo, hi, max_pages, page_size);
  }

  // Opened once per process. It is only used by the process that armed the watch
  // (collect returns early in a fork()ed child), and a self handle reopens
  // /proc/self/pagemap anyway when getpid() changed (include/pagescan/process.hpp).
  static Result<const Process*> self() {
    static const Result<Process> p = Process::self();
    if (!p) return p.error();
    return &*p;
  }

  kernel::Userfaultfd uffd_;
  ThpGuard thp_;  // gives the advice back after the destructor's body has unregistered
  pid_t owner_;
};

}  // namespace

// One userfaultfd handshake (no memory registered) and empty PAGEMAP_SCAN calls: nothing
// else is probed for this engine.
Result<void> uffd_engine_supported() {
  const Features& u = probe::userfaultfd();
  if (!u.uffd_wp_async || !u.uffd_wp_unpopulated) {
    return Error(EOPNOTSUPP, ErrorKind::unsupported,
                 "uffd engine: " + (u.userfaultfd_detail.empty()
                                        ? std::string("userfaultfd lacks WP_ASYNC/WP_UNPOPULATED")
                                        : u.userfaultfd_detail));
  }
  // Collect needs the ioctl itself.
  if (!probe::scanning().pagemap_scan) {
    return Error(EOPNOTSUPP, ErrorKind::unsupported,
                 "uffd engine: this kernel has no PAGEMAP_SCAN ioctl (6.7+)");
  }
  return {};
}

Result<std::unique_ptr<WriteWatch::Engine>> make_uffd_engine(std::uint64_t start, std::uint64_t end,
                                                             const WatchOptions& options) {
  if (auto ok = uffd_engine_supported(); !ok) return ok.error();
  const Features& u = probe::userfaultfd();
  std::uint64_t wanted = uapi::kUffdFeatureWpAsync | uapi::kUffdFeatureWpUnpopulated;
  if (u.uffd_wp_hugetlbfs_shmem) wanted |= uapi::kUffdFeatureWpHugetlbfsShmem;
  const Features& f = probe::thp();
  auto uffd = kernel::Userfaultfd::open(wanted);
  if (!uffd) return uffd.error().with_context("uffd engine");

  void* base = reinterpret_cast<void*>(start);
  const std::uint64_t page = f.page_size;
  std::uint64_t granularity = page;
  ThpGuard thp;  // on every failure below, gives the advice back
  if (!options.keep_huge_pages) {
    // Whole 2 MiB areas would report as written after one write (Wine does the same).
    thp = ThpGuard::disable(start, end);
  } else if (f.thp_pmd_size && f.thp_mode != "never") {
    granularity = f.thp_pmd_size;
  }
  if (auto r = uffd->register_wp(base, end - start); !r) {
    return r.error().with_context(describe(start, end));
  }
  if (auto r = uffd->write_protect(base, end - start, true); !r) {
    (void)uffd->unregister(base, end - start);
    return r.error().with_context(describe(start, end) + ": arming");
  }
  auto engine = std::make_unique<UffdEngine>(std::move(*uffd), std::move(thp));
  engine->start = start;
  engine->end = end;
  engine->page_size = page;
  engine->granularity = granularity;
  return std::unique_ptr<WriteWatch::Engine>(std::move(engine));
}

}  // namespace pagescan::watch
