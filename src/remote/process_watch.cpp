// Write tracking of another process through a userfaultfd injected into it
// (include/pagescan/process_watch.hpp, other-processes.md §1), or through its soft-dirty
// bits (remote/soft_dirty_remote.hpp), which needs no registration, no replaced-memory
// scan (a fresh mapping reads soft-dirty whole) and nothing undone at the end.
//
// A collect does, in this order (uffd):
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
#include <utility>

#include "feature_probes.hpp"
#include "kernel/uapi.hpp"
#include "kernel/userfaultfd.hpp"
#include "pagescan/process.hpp"
#include "pagescan/scan.hpp"
#include "proc/maps.hpp"
#include "proc/proc_files.hpp"
#include "remote/inject_userfaultfd.hpp"
#include "remote/page_ranges.hpp"
#include "remote/soft_dirty_remote.hpp"

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

using remote::add_range;
using remote::subtract;
using remote::uncovered;

namespace {

std::string range_text(std::uint64_t lo, std::uint64_t hi) {
  char text[64];
  std::snprintf(text, sizeof text, "[0x%" PRIx64 "-0x%" PRIx64 ")", lo, hi);
  return text;
}

// "16 GiB", "512 MiB", "100 bytes": exact, in the largest unit that divides it.
std::string size_text(std::uint64_t bytes) {
  for (auto [shift, unit] : {std::pair{30, " GiB"}, std::pair{20, " MiB"}, std::pair{10, " KiB"}}) {
    const std::uint64_t one = std::uint64_t{1} << shift;
    if (bytes >= one && bytes % one == 0) return std::to_string(bytes >> shift) + unit;
  }
  return std::to_string(bytes) + (bytes == 1 ? " byte" : " bytes");
}

// "a mapping of 20480 GiB, larger than the 16 GiB a watch arms (...)".
std::string too_large(std::uint64_t len, std::uint64_t limit, WatchEngine engine) {
  return "a mapping of " + size_text(len) + ", larger than the " + size_text(limit) +
         " a watch arms (" +
         (engine == WatchEngine::uffd ? "arming needs page tables for every page"
                                      : "each collect reads every page's soft-dirty bit") +
         ": a sparse reservation such as sanitizer shadow memory)";
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
  WatchEngine engine = WatchEngine::uffd;
  std::optional<kernel::Userfaultfd> uffd;              // the uffd engine's
  std::unique_ptr<remote::SoftDirtyTarget> soft_dirty;  // the soft-dirty engine's
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
    auto stat = proc::read_stat(pid, pid);
    if (!stat || stat->state == 'Z' || stat->state == 'X') {
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
    return remote::clipped(armed, qlo, qhi);
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
          untracked_now.push_back(UntrackedRange{gap, too_large(len, max_mapping_bytes, engine)});
          continue;
        }
        if (soft_dirty) {
          // Nothing to register: clear_refs arms every page of the process.
          add_range(still_armed, gap.start, gap.end);
          if (report) add_range(report_whole, gap.start, gap.end);
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
    if (soft_dirty) soft_dirty->set_armed(armed);
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
    // Soft-dirty needs no such care: a fresh mapping carries VM_SOFTDIRTY and its pages
    // read written until the next clear.
    if (soft_dirty) return {};
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
    if (soft_dirty) return soft_dirty->collect(qlo, qhi, max_pages, reset);
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

namespace {

// automatic (after PAGESCAN_WATCH_ENGINE): uffd where the kernel has what it needs, else
// soft-dirty where its functional probe passes (forking once), else unsupported naming
// what each lacks. A named engine is checked alone.
Result<WatchEngine> choose_engine(pid_t pid, WatchEngine asked) {
  const std::string who = "watch of pid " + std::to_string(pid) + ": ";
  auto requested = watch_engine_requested(asked);
  if (!requested) return requested.error();
  const bool from_environment = asked == WatchEngine::automatic && *requested != asked;
  const WatchEngine engine = *requested;
  const Features& scanning = probe::scanning();
  const bool uffd_ok = scanning.pagemap_scan && probe::userfaultfd().uffd_wp_async &&
                       probe::userfaultfd().uffd_wp_unpopulated;
  const std::string uffd_needs = "needs PAGEMAP_SCAN and userfaultfd WP_ASYNC (Linux 6.7+)";
  switch (engine) {
    case WatchEngine::uffd:
      if (uffd_ok) return engine;
      return Error(EOPNOTSUPP, ErrorKind::unsupported, who + "the uffd engine " + uffd_needs);
    case WatchEngine::soft_dirty:
      if (auto ok = remote::soft_dirty_works(); !ok) {
        return Error(EOPNOTSUPP, ErrorKind::unsupported,
                     who + ok.error().message() +
                         (uffd_ok ? "; use the uffd engine" : "; the uffd engine " + uffd_needs));
      }
      return engine;
    case WatchEngine::automatic: {
      if (uffd_ok) return WatchEngine::uffd;
      auto ok = remote::soft_dirty_works();
      if (ok) return WatchEngine::soft_dirty;
      return Error(EOPNOTSUPP, ErrorKind::unsupported,
                   who + "no engine can watch another process here: uffd " + uffd_needs + "; " +
                       ok.error().message());
    }
    default:
      return Error(EOPNOTSUPP, ErrorKind::unsupported,
                   who + "the " + std::string(to_string(engine)) + " engine" +
                       (from_environment ? " (PAGESCAN_WATCH_ENGINE)" : "") +
                       " cannot watch another process (uffd or soft-dirty can)");
  }
}

// The soft-dirty engine: the writable mappings in range are armed by one clear_refs of
// the target. No ptrace: the target is never stopped.
Result<void> attach_soft_dirty(ProcessWriteWatch::State& state) {
  if (state.pid == ::getpid()) {
    return Error(EINVAL, ErrorKind::invalid_argument,
                 state.describe() + ": that is the calling process (WriteWatch watches it)");
  }
  auto target = remote::SoftDirtyTarget::open(state.pid, *state.process);
  if (!target) return target.error().with_context(state.describe());
  state.soft_dirty = std::move(*target);
  if (auto ok = state.follow(state.lo, state.hi, false); !ok) {
    return ok.error().with_context(state.describe());
  }
  if (state.armed.empty()) {
    return Error(EINVAL, ErrorKind::invalid_argument,
                 state.describe() + ": no writable mapping in range that can be tracked" +
                     (state.untracked.empty() ? "" : " (" + state.untracked.front().reason + ")"));
  }
  if (auto ok = state.soft_dirty->arm(); !ok) return ok.error().with_context(state.describe());
  return {};
}

}  // namespace

Result<ProcessWriteWatch> ProcessWriteWatch::attach(pid_t pid, std::uint64_t base,
                                                    std::uint64_t len,
                                                    const ProcessWatchOptions& options) {
  auto engine = choose_engine(pid, options.engine);
  if (!engine) return engine.error();
  const Features& scanning = probe::scanning();
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
  state->engine = *engine;
  if (*engine == WatchEngine::soft_dirty) {
    if (auto ok = attach_soft_dirty(*state); !ok) return ok.error();
    return ProcessWriteWatch(std::move(state));
  }
  const Features& u = probe::userfaultfd();
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
  return state_->engine;
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
  if (s.soft_dirty) {
    if (auto ok = s.soft_dirty->reset(query->start, query->end); !ok) {
      return ok.error().with_context(s.describe() + ": reset");
    }
  }
  for (const PageRange& r :
       s.uffd ? s.armed_within(query->start, query->end) : std::vector<PageRange>{}) {
    auto ok = s.uffd->write_protect(reinterpret_cast<void*>(r.start), r.end - r.start, true);
    if (!ok) return ok.error().with_context(s.describe() + ": reset");
  }
  s.report_whole = subtract(s.report_whole, *query);
  return {};
}

}  // namespace pagescan
