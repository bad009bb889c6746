// Write tracking of another process through a userfaultfd injected into it
// (include/pagescan/process_watch.hpp, other-processes.md §1).
//
// A collect does, in this order:
//   1. harvest: one PAGEMAP_SCAN get-and-protect (WRITTEN, WP_MATCHING) over the armed
//      ranges; then a scan for memory in them that is not WPALLOWED: memory mapped afresh
//      over an armed range (MAP_FIXED), which WP_MATCHING skips, is taken off the list;
//   2. follow the address space: writable mappings in range not (wholly) armed are
//      registered and protected and queued to be reported whole; armed ranges whose
//      mappings went away are dropped;
//   3. report the queued whole ranges first, then the harvest.
// Harvesting before arming matters: arming write-protects, which would erase writes not
// yet harvested from a mapping that grew. No PM_SCAN_CHECK_WPASYNC: with it a mapping
// replaced mid-range fails the whole scan (EPERM) after re-arming what was walked before
// it; without it such memory is skipped, and step 1's second scan notices it.
#include "pagescan/process_watch.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <fstream>

#include "feature_probes.hpp"
#include "kernel/uapi.hpp"
#include "kernel/userfaultfd.hpp"
#include "pagescan/process.hpp"
#include "pagescan/scan.hpp"
#include "proc/maps.hpp"
#include "remote/inject_userfaultfd.hpp"

namespace pagescan {

std::string_view to_string(WatchEnd end) {
  switch (end) {
    case WatchEnd::running:
      return "running";
    case WatchEnd::exited:
      return "exited";
    case WatchEnd::exec:
      return "exec";
  }
  return "?";
}

namespace {

std::string range_text(std::uint64_t lo, std::uint64_t hi) {
  char text[64];
  std::snprintf(text, sizeof text, "[0x%" PRIx64 "-0x%" PRIx64 ")", lo, hi);
  return text;
}

// Adds [lo, hi) to an ascending, coalesced list.
void add_range(std::vector<PageRange>& ranges, std::uint64_t lo, std::uint64_t hi) {
  if (lo >= hi) return;
  // In order (a harvest arrives ascending): only the last range can touch it. Without
  // this, building a Harvest of n ranges re-sorted and copied the list n times, O(n^2):
  // 2.1 s for 26 000 scattered pages (docs/benchmarks.md, remote write tracking).
  if (ranges.empty() || lo >= ranges.back().start) {
    if (!ranges.empty() && lo <= ranges.back().end) {
      ranges.back().end = std::max(ranges.back().end, hi);
    } else {
      ranges.push_back(PageRange{lo, hi});
    }
    return;
  }
  ranges.push_back(PageRange{lo, hi});
  std::sort(ranges.begin(), ranges.end(),
            [](const PageRange& a, const PageRange& b) { return a.start < b.start; });
  std::vector<PageRange> merged;
  for (const PageRange& r : ranges) {
    if (!merged.empty() && r.start <= merged.back().end) {
      merged.back().end = std::max(merged.back().end, r.end);
    } else {
      merged.push_back(r);
    }
  }
  ranges = std::move(merged);
}

// The parts of [lo, hi) not covered by `covered` (ascending, coalesced).
std::vector<PageRange> uncovered(std::uint64_t lo, std::uint64_t hi,
                                 const std::vector<PageRange>& covered) {
  std::vector<PageRange> gaps;
  std::uint64_t at = lo;
  for (const PageRange& c : covered) {
    if (c.end <= at) continue;
    if (c.start >= hi) break;
    if (c.start > at) gaps.push_back(PageRange{at, std::min(c.start, hi)});
    at = std::max(at, c.end);
    if (at >= hi) break;
  }
  if (at < hi) gaps.push_back(PageRange{at, hi});
  return gaps;
}

// `ranges` without `cut`.
std::vector<PageRange> subtract(const std::vector<PageRange>& ranges, const PageRange& cut) {
  std::vector<PageRange> out;
  for (const PageRange& r : ranges) {
    for (const PageRange& piece : uncovered(r.start, r.end, {cut})) out.push_back(piece);
  }
  return out;
}

// "a 20480 GiB mapping, larger than the 16 GiB a watch arms (...)".
std::string too_large(std::uint64_t len, std::uint64_t limit) {
  return "a " + std::to_string(len >> 30) + " GiB mapping, larger than the " +
         std::to_string(limit >> 30) +
         " GiB a watch arms (arming needs page tables for every page: a sparse reservation "
         "such as sanitizer shadow memory)";
}

// What a mapping userfaultfd would not register is, for the untracked list.
std::string why_not_registered(const Error& error, const proc::Vma& vma) {
  if (error.errno_value() == EBUSY) {
    return "registered with the process's own userfaultfd (left alone)";
  }
  std::string what = vma.shared() ? "shared " : "private ";
  what += vma.path.empty() ? "anonymous" : vma.path.front() == '[' ? vma.path : "file-backed";
  return "userfaultfd cannot write-protect this memory (" + what + " mapping)";
}

}  // namespace

struct ProcessWriteWatch::State {
  pid_t pid = -1;
  std::optional<Process> process;
  std::optional<kernel::Userfaultfd> uffd;
  bool whole = false;
  std::uint64_t lo = 0, hi = 0, page = 4096;
  std::vector<PageRange> armed;  // registered and protected, coalesced
  std::vector<UntrackedRange> untracked;
  std::vector<PageRange> report_whole;  // armed since the last collect: reported whole
  std::uint64_t stop_ns = 0;
  std::uint64_t max_mapping_bytes = 0;
  WatchEnd end = WatchEnd::running;

  // [base, base + len) rounded out to pages, which must lie inside the watch.
  Result<PageRange> clip(std::uint64_t base, std::uint64_t len) const {
    const std::uint64_t a = base & ~(page - 1);
    const std::uint64_t b = (base + len + page - 1) & ~(page - 1);
    if (len == 0 || base + len < base || a < lo || b > hi) {
      return Error(EINVAL, ErrorKind::invalid_argument,
                   describe() + ": " + range_text(base, base + len) + " is not inside the watch");
    }
    return PageRange{a, b};
  }

  std::string describe() const {
    return "watch of pid " + std::to_string(pid) +
           (whole ? std::string(" (whole process)") : " " + range_text(lo, hi));
  }

  // After a failure that may mean the target is gone: decides exited / exec, or nothing.
  void learn_end() {
    const std::string stat = "/proc/" + std::to_string(pid) + "/stat";
    std::ifstream in(stat);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::size_t close = text.rfind(')');
    char state = close != std::string::npos && close + 2 < text.size() ? text[close + 2] : 'X';
    if (text.empty() || state == 'Z' || state == 'X') {
      end = WatchEnd::exited;
    } else {
      // Alive, yet its pagemap or the uffd's mm refuse: it runs a new program.
      end = WatchEnd::exec;
    }
  }

  Error ended_error(const Error& cause) {
    learn_end();
    return Error(ESRCH, ErrorKind::no_such_process,
                 describe() + ": the process " +
                     (end == WatchEnd::exec ? "executed a new program: its watched memory is gone"
                                            : "exited") +
                     " (" + cause.message() + ")");
  }

  // The armed ranges clipped to [qlo, qhi).
  std::vector<PageRange> armed_within(std::uint64_t qlo, std::uint64_t qhi) const {
    std::vector<PageRange> clipped;
    for (const PageRange& r : armed) {
      if (r.end > qlo && r.start < qhi) {
        clipped.push_back(PageRange{std::max(r.start, qlo), std::min(r.end, qhi)});
      }
    }
    return clipped;
  }

  // Step 2: arms what is writable in range and not armed; drops what went away. With
  // `report`, the newly armed ranges are queued to be reported whole.
  Result<void> follow(std::uint64_t qlo, std::uint64_t qhi, bool report) {
    auto vmas = proc::read_vmas(pid, false);
    if (!vmas) return vmas.error();
    // Outside [qlo, qhi) everything stays as it is.
    std::vector<PageRange> still_armed = subtract(armed, PageRange{qlo, qhi});
    std::vector<UntrackedRange> untracked_now;
    for (const UntrackedRange& u : untracked) {
      if (u.range.end <= qlo || u.range.start >= qhi) untracked_now.push_back(u);
    }
    for (const proc::Vma& vma : *vmas) {
      const std::uint64_t a = std::max(vma.start, qlo), b = std::min(vma.end, qhi);
      if (a >= b || vma.perms.size() < 2 || vma.perms[1] != 'w' || vma.pfnmap()) continue;
      // What of it was armed before stays armed (harvested just now).
      for (const PageRange& r : armed) {
        if (r.end > a && r.start < b)
          add_range(still_armed, std::max(r.start, a), std::min(r.end, b));
      }
      for (const PageRange& gap : uncovered(a, b, armed)) {
        void* base = reinterpret_cast<void*>(gap.start);
        const std::size_t len = gap.end - gap.start;
        if (len > max_mapping_bytes) {
          untracked_now.push_back(UntrackedRange{gap, too_large(len, max_mapping_bytes)});
          continue;
        }
        auto registered = uffd->register_wp(base, len);
        if (registered) registered = uffd->write_protect(base, len, true);
        if (!registered) {
          if (registered.error().errno_value() == ENOMEM) return registered.error();
          untracked_now.push_back(UntrackedRange{gap, why_not_registered(registered.error(), vma)});
          continue;
        }
        add_range(still_armed, gap.start, gap.end);
        if (report) add_range(report_whole, gap.start, gap.end);
      }
    }
    armed = std::move(still_armed);
    std::sort(untracked_now.begin(), untracked_now.end(),
              [](const UntrackedRange& x, const UntrackedRange& y) {
                return x.range.start < y.range.start;
              });
    untracked = std::move(untracked_now);
    return {};
  }

  // Memory mapped afresh over an armed range (MAP_FIXED) is not registered: taken off
  // `armed`, so follow() arms it and reports it whole. One scan for pages that are not
  // WPALLOWED: the kernel skips registered VMAs whole (a VMA-level category), so this
  // costs a walk of the replaced memory only.
  Result<void> drop_replaced(std::uint64_t qlo, std::uint64_t qhi) {
    std::vector<PageRange> replaced;
    for (const PageRange& r : armed_within(qlo, qhi)) {
      ScanOptions options;
      options.backend = BackendChoice::kernel;
      auto result =
          scan(*process, ScanRequest::over(r.start, r.end).none_of(Category::wpallowed), options);
      if (!result) return result.error();
      for (const PageRegion& region : result->regions) {
        add_range(replaced, region.start, region.end);
      }
    }
    for (const PageRange& x : replaced) armed = subtract(armed, x);
    return {};
  }

  // Step 1: the written pages of the armed ranges, re-armed with `reset`. PAGEMAP_SCAN
  // with WP_MATCHING skips memory that is not registered (a replaced part) entirely:
  // drop_replaced() finds it.
  Result<Harvest> harvest(std::uint64_t qlo, std::uint64_t qhi, std::uint64_t max_pages,
                          bool reset) {
    Harvest h;
    for (const PageRange& r : armed_within(qlo, qhi)) {
      std::uint64_t budget = 0;
      if (max_pages) {
        if (h.pages >= max_pages) {
          h.more = true;
          break;
        }
        budget = max_pages - h.pages;
      }
      ScanRequest request = ScanRequest::over(r.start, r.end)
                                .all_of(Category::written)
                                .returning(Category::written)
                                .limit_pages(budget)
                                .with_write_protect(reset);
      ScanOptions options;
      options.backend = BackendChoice::kernel;  // WP_MATCHING needs the ioctl itself
      auto result = scan(*process, request, options);
      if (!result) return result.error();
      for (const PageRegion& region : result->regions) {
        h.ranges.push_back(PageRange{region.start, region.end});
      }
      h.pages += result->pages;
      if (result->stop_reason == StopReason::max_pages) h.more = true;
    }
    return h;
  }
};

ProcessWriteWatch::ProcessWriteWatch(std::unique_ptr<State> state) : state_(std::move(state)) {}
ProcessWriteWatch::ProcessWriteWatch(ProcessWriteWatch&&) noexcept = default;
ProcessWriteWatch& ProcessWriteWatch::operator=(ProcessWriteWatch&&) noexcept = default;

ProcessWriteWatch::~ProcessWriteWatch() {
  if (!state_ || !state_->uffd || state_->end != WatchEnd::running) return;
  // Unregistering clears the markers now; closing the last reference (the Userfaultfd's
  // destructor) would too, but only once every other holder of the file let it go.
  for (const PageRange& r : state_->armed) {
    (void)state_->uffd->unregister(reinterpret_cast<void*>(r.start), r.end - r.start);
  }
}

Result<ProcessWriteWatch> ProcessWriteWatch::attach(pid_t pid, std::uint64_t base,
                                                    std::uint64_t len,
                                                    const ProcessWatchOptions& options) {
  if (options.engine != WatchEngine::automatic && options.engine != WatchEngine::uffd) {
    return Error(EOPNOTSUPP, ErrorKind::unsupported,
                 "watch of pid " + std::to_string(pid) + ": the " +
                     std::string(to_string(options.engine)) +
                     " engine cannot watch another process (uffd can)");
  }
  const Features& scanning = probe::scanning();
  const Features& u = probe::userfaultfd();
  if (!scanning.pagemap_scan || !u.uffd_wp_async || !u.uffd_wp_unpopulated) {
    return Error(EOPNOTSUPP, ErrorKind::unsupported,
                 "watch of pid " + std::to_string(pid) +
                     ": needs PAGEMAP_SCAN and userfaultfd WP_ASYNC (Linux 6.7+)");
  }
  auto state = std::make_unique<State>();
  state->pid = pid;
  state->page = scanning.page_size;
  state->whole = len == 0;
  state->max_mapping_bytes = options.max_mapping_bytes;
  if (state->whole) {
    state->lo = 0;
    state->hi = scanning.user_address_limit;
  } else {
    state->lo = base & ~(state->page - 1);
    state->hi = (base + len + state->page - 1) & ~(state->page - 1);
    if (base + len < base || state->hi > scanning.user_address_limit || state->hi <= state->lo) {
      return Error(EINVAL, ErrorKind::invalid_argument,
                   state->describe() + ": the range is not inside the user address space");
    }
  }
  auto process = Process::attach(pid);
  if (!process) return process.error();
  state->process.emplace(std::move(*process));
  auto injection = remote::inject_userfaultfd(pid);
  if (!injection) return injection.error();
  state->stop_ns = injection->stopped_ns;
  std::uint64_t features = uapi::kUffdFeatureWpAsync | uapi::kUffdFeatureWpUnpopulated;
  if (u.uffd_wp_hugetlbfs_shmem) features |= uapi::kUffdFeatureWpHugetlbfsShmem;
  auto uffd = kernel::Userfaultfd::adopt(injection->fd, features);
  if (!uffd) return uffd.error().with_context(state->describe());
  state->uffd.emplace(std::move(*uffd));
  if (auto ok = state->follow(state->lo, state->hi, false); !ok)
    return ok.error().with_context(state->describe());
  if (state->armed.empty()) {
    return Error(
        EINVAL, ErrorKind::invalid_argument,
        state->describe() + ": no writable mapping in range that can be tracked" +
            (state->untracked.empty() ? "" : " (" + state->untracked.front().reason + ")"));
  }
  return ProcessWriteWatch(std::move(state));
}

pid_t ProcessWriteWatch::pid() const {
  return state_->pid;
}
WatchEngine ProcessWriteWatch::engine() const {
  return WatchEngine::uffd;
}
bool ProcessWriteWatch::whole_process() const {
  return state_->whole;
}
PageRange ProcessWriteWatch::range() const {
  return PageRange{state_->lo, state_->hi};
}
std::vector<PageRange> ProcessWriteWatch::armed() const {
  return state_->armed;
}
std::vector<UntrackedRange> ProcessWriteWatch::untracked() const {
  return state_->untracked;
}
std::uint64_t ProcessWriteWatch::attach_stop_ns() const {
  return state_->stop_ns;
}
WatchEnd ProcessWriteWatch::ended() const {
  return state_->end;
}

Result<Harvest> ProcessWriteWatch::collect(const CollectOptions& options) {
  return collect(state_->lo, state_->hi - state_->lo, options);
}

Result<Harvest> ProcessWriteWatch::collect(std::uint64_t base, std::uint64_t len,
                                           const CollectOptions& options) {
  State& s = *state_;
  if (s.end != WatchEnd::running) {
    return Error(ESRCH, ErrorKind::no_such_process,
                 s.describe() + ": ended (" + std::string(to_string(s.end)) + ")");
  }
  auto query = s.clip(base, len);
  if (!query) return query.error();
  const std::uint64_t qlo = query->start, qhi = query->end;
  auto gone = [&](const Error& e) {
    return e.kind() == ErrorKind::no_such_process || e.errno_value() == ESRCH ||
           e.errno_value() == ENOMEM;
  };
  auto harvested = s.harvest(qlo, qhi, options.max_pages, options.reset);
  if (!harvested) {
    if (gone(harvested.error())) return s.ended_error(harvested.error());
    return harvested.error().with_context(s.describe() + ": collect");
  }
  Result<void> followed = s.drop_replaced(qlo, qhi);
  if (followed) followed = s.follow(qlo, qhi, true);
  if (!followed) {
    if (gone(followed.error())) return s.ended_error(followed.error());
    return followed.error().with_context(s.describe() + ": following its mappings");
  }
  // Whole reports in the query first (within the page budget), then the harvest.
  Harvest out;
  std::vector<PageRange> all;
  std::vector<PageRange> still_pending;
  std::uint64_t taken = 0;
  for (const PageRange& pending : s.report_whole) {
    for (const PageRange& outside : subtract({pending}, PageRange{qlo, qhi})) {
      still_pending.push_back(outside);
    }
    const PageRange r{std::max(pending.start, qlo), std::min(pending.end, qhi)};
    if (r.start >= r.end) continue;
    const std::uint64_t pages = (r.end - r.start) / s.page;
    std::uint64_t take = pages;
    if (options.max_pages)
      take = std::min(pages, options.max_pages - std::min(options.max_pages, taken));
    if (take) add_range(all, r.start, r.start + take * s.page);
    taken += take;
    if (take < pages) {
      still_pending.push_back(PageRange{r.start + take * s.page, r.end});
      out.more = true;
    }
  }
  if (options.reset) s.report_whole = std::move(still_pending);
  // One sort for both lists: added one by one, a harvest below a whole report would take
  // add_range()'s sorting path for every range, O(n^2 log n) (minutes for 10 000 ranges
  // under ASan, with a thread stack reported whole above them).
  all.insert(all.end(), harvested->ranges.begin(), harvested->ranges.end());
  std::sort(all.begin(), all.end(),
            [](const PageRange& a, const PageRange& b) { return a.start < b.start; });
  std::vector<PageRange> merged;
  for (const PageRange& r : all) add_range(merged, r.start, r.end);
  all = std::move(merged);
  out.more = out.more || harvested->more;
  out.ranges = std::move(all);
  for (const PageRange& r : out.ranges) out.pages += (r.end - r.start) / s.page;
  return out;
}

Result<void> ProcessWriteWatch::reset() {
  return reset(state_->lo, state_->hi - state_->lo);
}

Result<void> ProcessWriteWatch::reset(std::uint64_t base, std::uint64_t len) {
  State& s = *state_;
  auto query = s.clip(base, len);
  if (!query) return query.error();
  for (const PageRange& r : s.armed_within(query->start, query->end)) {
    auto ok = s.uffd->write_protect(reinterpret_cast<void*>(r.start), r.end - r.start, true);
    if (!ok) return ok.error().with_context(s.describe() + ": reset");
  }
  s.report_whole = subtract(s.report_whole, *query);
  return {};
}

}  // namespace pagescan
