// The page census (pagescan/page_census.hpp): the VMAs from /proc/PID/maps, then
// PAGEMAP_SCAN calls over runs of their spans (census_runs.hpp) in steps of at most
// max_grown_range_bytes of mapped bytes, each asking for the occupied entries (sparse)
// or for every page but the plain present ones (dense), whichever the call before found
// fewer; the tally (census_tally.hpp) splits each region's bytes at the VMAs it covers,
// and counts what a call did not report as untouched or present accordingly.
#include "pagescan/page_census.hpp"

#include <time.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <vector>

#include "backend.hpp"
#include "census/census_runs.hpp"
#include "census/census_tally.hpp"
#include "feature_probes.hpp"
#include "kernel/pagemap_scan.hpp"
#include "proc/backing.hpp"
#include "proc/maps.hpp"

namespace pagescan {

std::string_view to_string(MappingKind kind) {
  switch (kind) {
    case MappingKind::heap:
      return "heap";
    case MappingKind::stack:
      return "stack";
    case MappingKind::anon:
      return "anon";
    case MappingKind::file:
      return "file";
    case MappingKind::shmem:
      return "shmem";
  }
  return "?";
}

std::string_view to_string(PageState state) {
  switch (state) {
    case PageState::present:
      return "present";
    case PageState::swapped:
      return "swapped";
    case PageState::zero:
      return "zero";
    case PageState::huge:
      return "huge";
    case PageState::file:
      return "file";
    case PageState::untouched:
      return "untouched";
    case PageState::guard:
      return "guard";
  }
  return "?";
}

std::uint64_t PageCensus::total(PageState state) const {
  std::uint64_t sum = 0;
  for (MappingKind kind : kAllMappingKinds) sum += at(kind, state);
  return sum;
}

void PageCensus::add(const PageCensus& other) {
  for (std::size_t k = 0; k < kMappingKindCount; ++k) {
    for (std::size_t s = 0; s < kPageStateCount; ++s) bytes[k][s] += other.bytes[k][s];
  }
  kernel_calls += other.kernel_calls;
  dense_calls += other.dense_calls;
  longest_call_ns = std::max(longest_call_ns, other.longest_call_ns);
  longest_call_cpu_ns = std::max(longest_call_cpu_ns, other.longest_call_cpu_ns);
}

namespace {

constexpr Categories kWanted = Category::file | Category::present | Category::swapped |
                               Category::pfnzero | Category::huge | Category::guard;

std::uint64_t thread_cpu_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

}  // namespace

Result<PageCensus> take_census(const Process& process, const CensusOptions& options) {
  const std::string context = "census of " + process.describe();
  auto dir = process.proc_dir();
  if (!dir) return dir.error().with_context(context);
  auto vmas = proc::read_vmas_in(*dir, process.is_self() ? 0 : process.pid(), false);
  if (!vmas) return vmas.error().with_context(context);
  // A tmpfs file lies on an anonymous device (major 0): with no file mapping on one, the
  // mountinfo (hundreds of lines on a container host) need not be read.
  const bool maybe_tmpfs = std::any_of(vmas->begin(), vmas->end(), [](const proc::Vma& v) {
    return v.inode != 0 && v.dev_major == 0;
  });
  const std::vector<census::KindSpan> spans = census::counted_spans(
      *vmas, maybe_tmpfs ? proc::tmpfs_devices(*dir) : proc::TmpfsDevices{}, options.ranges);

  // Only the categories this kernel's PAGEMAP_SCAN accepts, so the kernel answers (a
  // kernel before 6.16 cannot tell guard markers, which then count as swapped) rather
  // than the emulator; without the ioctl the emulator answers them all.
  Categories wanted = kWanted;
  const Features& f = probe::scanning();
  if (f.pagemap_scan) wanted = wanted & f.scan_categories;
  const std::uint64_t base_step = std::max<std::uint64_t>(options.max_range_bytes, 1u << 21);
  const std::uint64_t top_step = std::max(options.max_grown_range_bytes, base_step);
  constexpr std::uint64_t kCheapCallNs = 25'000;
  // The kernel's cost is in the entries it reports (each goes through its output code:
  // about 10 ns on the bench machine), not in those it passes over (about 2 ns), so a
  // call asks for the fewer: the occupied entries (present or swapped) where memory is
  // sparse, every page but the plain present ones where it is dense. Either way the
  // census is the same; what a call leaves unreported is untouched, or plain present.
  const auto request = [wanted](std::uint64_t start, std::uint64_t end, bool file_matters,
                                bool dense) {
    const Categories returned = file_matters ? wanted : wanted & ~Categories(Category::file);
    ScanRequest r = ScanRequest::over(start, end).returning(returned);
    if (!dense) return r.any_of(Category::present | Category::swapped);
    // Not present (empty, swapped, guard), or present but not plain: the zero page, a
    // huge page, a page-cache page where that is not known from the mapping.
    return r.any_of(returned & (Category::pfnzero | Category::huge | Category::file),
                    Category::present);
  };

  PageCensus census;
  census::Tally tally(spans, census);
  auto fd = process.pagemap_fd();
  if (!fd) return fd.error().with_context(context);
  // The calls are issued here rather than through scan_each(), which checks that the
  // target is alive (a read of /proc/PID/stat) after every request: with a request per
  // 64 MiB step that check cost more than the walks of a THP-backed process. A census
  // needs no merged regions, only each page once: a call whose buffer filled is resumed
  // at the end of its last region, and the target is checked once, at the end.
  std::vector<PageRegion> buffer(options.chunk_regions ? options.chunk_regions : 512);
  // Without, with FILE asked; each for the sparse and the dense request.
  std::optional<detail::ScanBackend> backends[2][2];
  // One kernel call over [from, stop): the page after which to go on (its end, or the end
  // of its last region when the buffer or max_pages cut it short), its wall time, and
  // whether it reported more than half the pages it covered.
  struct Call {
    std::uint64_t resume;
    bool cut;
    std::uint64_t wall_ns;
    bool mostly_reported;
  };
  const auto call = [&](std::uint64_t from, std::uint64_t stop, bool file_matters,
                        bool dense) -> Result<Call> {
    RawScanArgs args = to_raw_args(request(from, stop, file_matters, dense));
    args.max_pages = options.max_pages;
    auto& backend = backends[file_matters ? 1 : 0][dense ? 1 : 0];
    if (!backend) {
      auto chosen = detail::ScanBackend::choose(process, args, options.backend, f);
      if (!chosen) return chosen.error();
      backend = std::move(*chosen);
    }
    if (auto ok = validate(args, backend->limits()); !ok) {
      return ok.error().with_context(kernel::describe_scan(process, from, stop));
    }
    census.backend = backend->kind();
    census.approximate |= backend->approximate();
    args.vec = reinterpret_cast<std::uint64_t>(buffer.data());
    args.vec_len = buffer.size();
    const auto began = std::chrono::steady_clock::now();
    const std::uint64_t began_cpu = options.call_cpu_times ? thread_cpu_ns() : 0;
    const long n = backend->call(process, *fd, args);
    if (options.call_cpu_times) {
      census.longest_call_cpu_ns =
          std::max(census.longest_call_cpu_ns, thread_cpu_ns() - began_cpu);
    }
    const auto wall_ns =
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                       std::chrono::steady_clock::now() - began)
                                       .count());
    census.longest_call_ns = std::max(census.longest_call_ns, wall_ns);
    ++census.kernel_calls;
    census.dense_calls += dense ? 1 : 0;
    if (n < 0) {
      // A target that exited says so, whatever errno its torn-down mm gave.
      if (auto alive = process.check_alive(); !alive) return alive.error();
      return kernel::scan_failure(static_cast<int>(-n), process, args);
    }
    const auto count = static_cast<std::size_t>(n);
    std::uint64_t pages = 0;
    for (std::size_t i = 0; i < count; ++i) pages += buffer[i].pages(f.page_size);
    // Complete unless the buffer filled or the page budget ran out (walk_end may be
    // stale: docs/scanner.md); then go on after the last page reported.
    const bool cut = count == buffer.size() || (options.max_pages && pages >= options.max_pages);
    const std::uint64_t resume = cut && count ? buffer[count - 1].end : stop;
    const census::Left left = dense ? census::Left::plain_present : census::Left::untouched;
    const std::uint64_t covered = tally.cover(from, resume, left) / f.page_size;
    for (std::size_t i = 0; i < count; ++i) tally.add(buffer[i], left);
    return Call{resume, cut, wall_ns, 2 * pages > covered};
  };
  bool dense = options.walk == CensusWalk::dense;
  // In a census of the whole process the runs cross gaps, and need the mappings that are
  // not spans (those the census leaves out) to know which gaps are free to cross.
  const bool whole_process = options.ranges.empty();
  std::vector<std::pair<std::uint64_t, std::uint64_t>> uncounted;
  if (whole_process) {
    for (const proc::Vma& v : *vmas) {
      auto at = std::lower_bound(
          spans.begin(), spans.end(), v.start,
          [](const census::KindSpan& span, std::uint64_t start) { return span.start < start; });
      if (at == spans.end() || at->start != v.start) uncounted.emplace_back(v.start, v.end);
    }
  }
  for (const census::Run& run : census::plan_runs(spans, whole_process, uncounted)) {
    const std::uint64_t end = spans[run.last - 1].end;
    // The first call of a run covers one PMD: it tells the memory's density (which walk is
    // cheaper) for a few microseconds, where a first step of max_range_bytes could report
    // max_pages pages (about 0.2 ms) before the walk turns dense.
    std::uint64_t step = std::min<std::uint64_t>(base_step, 2u << 20);
    for (std::uint64_t from = spans[run.first].start; from < end;) {
      const std::uint64_t stop = census::stop_after(spans, run, from, step);
      auto done = call(from, stop, run.ask_file, dense);
      if (!done) return done.error().with_context(context);
      from = std::max(done->resume, from + f.page_size);
      step = !done->cut && done->wall_ns < kCheapCallNs ? std::min(2 * step, top_step) : base_step;
      // The next call asks for the fewer entries if this one's memory goes on.
      if (options.walk == CensusWalk::adaptive && done->mostly_reported) dense = !dense;
    }
  }
  if (auto alive = process.check_alive(); !alive) return alive.error().with_context(context);
  return census;
}

}  // namespace pagescan
