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
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>

#include "kernel/uapi.hpp"
#include "kernel/userfaultfd.hpp"
#include "pagescan/features.hpp"
#include "pagescan/scan.hpp"
#include "proc/maps.hpp"
#include "watch/engine.hpp"

namespace pagescan::watch {

namespace {

class UffdEngine final : public WriteWatch::Engine {
 public:
  UffdEngine(kernel::Userfaultfd uffd, bool restore_hugepage)
      : uffd_(std::move(uffd)), restore_hugepage_(restore_hugepage), owner_(::getpid()) {}

  ~UffdEngine() override {
    if (::getpid() != owner_) return;  // a fork()ed child: the registration is not ours
    void* base = reinterpret_cast<void*>(start);
    (void)uffd_.write_protect(base, end - start, false);
    (void)uffd_.unregister(base, end - start);
    if (restore_hugepage_) ::madvise(base, end - start, MADV_HUGEPAGE);
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
    auto result = scan(self(), request);
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

 private:
  // In a fork()ed child the region is no longer registered (no UFFD_FEATURE_EVENT_FORK),
  // so nothing is tracked: report the whole range, the only honest answer.
  Result<Harvest> everything_in(std::uint64_t lo, std::uint64_t hi, std::uint64_t max_pages) {
    return whole_range(lo, hi, max_pages, page_size);
  }

  static const Process& self() {
    static Process p = *Process::self();
    return p;
  }

  kernel::Userfaultfd uffd_;
  bool restore_hugepage_;
  pid_t owner_;
};

}  // namespace

Result<std::unique_ptr<WriteWatch::Engine>> make_uffd_engine(std::uint64_t start, std::uint64_t end,
                                                             const WatchOptions& options) {
  const Features& f = features();
  if (!f.uffd_wp_async || !f.uffd_wp_unpopulated) {
    return Error(EOPNOTSUPP, ErrorKind::unsupported,
                 "uffd engine: " + (f.userfaultfd_detail.empty()
                                        ? std::string("userfaultfd lacks WP_ASYNC/WP_UNPOPULATED")
                                        : f.userfaultfd_detail));
  }
  std::uint64_t wanted = uapi::kUffdFeatureWpAsync | uapi::kUffdFeatureWpUnpopulated;
  if (f.uffd_wp_hugetlbfs_shmem) wanted |= uapi::kUffdFeatureWpHugetlbfsShmem;
  auto uffd = kernel::Userfaultfd::open(wanted);
  if (!uffd) return uffd.error().with_context("uffd engine");

  void* base = reinterpret_cast<void*>(start);
  const std::uint64_t page = f.page_size;
  bool restore_hugepage = false;
  std::uint64_t granularity = page;
  if (!options.keep_huge_pages) {
    // Whole 2 MiB areas would report as written after one write (Wine does the same).
    if (auto vmas = proc::read_vmas(0, true)) {
      for (const proc::Vma& v : *vmas) {
        if (v.end > start && v.start < end && v.has_flag("hg")) restore_hugepage = true;
      }
    }
    ::madvise(base, end - start, MADV_NOHUGEPAGE);
  } else if (f.thp_pmd_size && f.thp_mode != "never") {
    granularity = f.thp_pmd_size;
  }
  if (auto r = uffd->register_wp(base, end - start); !r) {
    if (restore_hugepage) ::madvise(base, end - start, MADV_HUGEPAGE);
    return r.error().with_context(describe(start, end));
  }
  if (auto r = uffd->write_protect(base, end - start, true); !r) {
    (void)uffd->unregister(base, end - start);
    if (restore_hugepage) ::madvise(base, end - start, MADV_HUGEPAGE);
    return r.error().with_context(describe(start, end) + ": arming");
  }
  auto engine = std::make_unique<UffdEngine>(std::move(*uffd), restore_hugepage);
  engine->start = start;
  engine->end = end;
  engine->page_size = page;
  engine->granularity = granularity;
  return std::unique_ptr<WriteWatch::Engine>(std::move(engine));
}

}  // namespace pagescan::watch
