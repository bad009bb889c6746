// The page census (pagescan/page_census.hpp): the VMAs from /proc/PID/maps, then
// scan_each over their spans in requests of at most max_range_bytes, each region's bytes
// split at the VMAs it covers (the kernel merges equal pages across adjacent VMAs).
#include "pagescan/page_census.hpp"

#include <algorithm>
#include <chrono>
#include <vector>

#include "feature_probes.hpp"
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
  scans += other.scans;
  longest_call_ns = std::max(longest_call_ns, other.longest_call_ns);
}

namespace {

constexpr Categories kWanted = Category::file | Category::present | Category::swapped |
                               Category::pfnzero | Category::huge | Category::guard;

// The first state of the header's order that the categories say.
PageState state_of(Categories c) {
  if (c.contains(Category::guard)) return PageState::guard;
  if (c.contains(Category::swapped)) return PageState::swapped;
  if (!c.contains(Category::present)) return PageState::untouched;
  if (c.contains(Category::pfnzero)) return PageState::zero;
  if (c.contains(Category::huge)) return PageState::huge;
  if (c.contains(Category::file)) return PageState::file;
  return PageState::present;
}

std::optional<MappingKind> kind_of(Backing backing) {
  switch (backing) {
    case Backing::heap:
      return MappingKind::heap;
    case Backing::stack:
      return MappingKind::stack;
    case Backing::anonymous:
      return MappingKind::anon;
    case Backing::file:
      return MappingKind::file;
    case Backing::shared_memory:
      return MappingKind::shmem;
    case Backing::special:
      return std::nullopt;
  }
  return std::nullopt;
}

struct KindSpan {
  std::uint64_t start, end;
  MappingKind kind;
};

// The counted VMAs as (start, end, kind), sorted and disjoint, clipped to `ranges` when
// given.
std::vector<KindSpan> counted_spans(const std::vector<proc::Vma>& vmas,
                                    const proc::TmpfsDevices& tmpfs, const CensusOptions& options) {
  std::vector<KindSpan> out;
  for (const proc::Vma& v : vmas) {
    if (v.pfnmap()) continue;  // never walked (maps lacks VmFlags: [vvar] is special anyway)
    auto kind = kind_of(proc::classify(v, tmpfs));
    if (!kind) continue;
    if (options.ranges.empty()) {
      out.push_back({v.start, v.end, *kind});
      continue;
    }
    for (const auto& [start, end] : options.ranges) {
      const std::uint64_t s = std::max(start, v.start), e = std::min(end, v.end);
      if (s < e) out.push_back({s, e, *kind});
    }
  }
  return out;
}

// Adds regions to the census, split at the spans (both ascending).
class Tally {
 public:
  Tally(const std::vector<KindSpan>& spans, PageCensus& census) : spans_(spans), census_(census) {}
  void add(const PageRegion& r) {
    while (next_ < spans_.size() && spans_[next_].end <= r.start) ++next_;
    const PageState state = state_of(r.categories);
    for (std::size_t i = next_; i < spans_.size() && spans_[i].start < r.end; ++i) {
      const std::uint64_t s = std::max(r.start, spans_[i].start);
      const std::uint64_t e = std::min(r.end, spans_[i].end);
      if (s < e) census_.at(spans_[i].kind, state) += e - s;
    }
  }

 private:
  const std::vector<KindSpan>& spans_;
  PageCensus& census_;
  std::size_t next_ = 0;
};

}  // namespace

Result<PageCensus> take_census(const Process& process, const CensusOptions& options) {
  const std::string context = "census of " + process.describe();
  auto dir = process.proc_dir();
  if (!dir) return dir.error().with_context(context);
  auto vmas = proc::read_vmas_in(*dir, process.is_self() ? 0 : process.pid(), false);
  if (!vmas) return vmas.error().with_context(context);
  const std::vector<KindSpan> spans = counted_spans(*vmas, proc::tmpfs_devices(*dir), options);

  // Only the categories this kernel's PAGEMAP_SCAN accepts, so the kernel answers (a
  // kernel before 6.16 cannot tell guard markers, which then count as swapped) rather
  // than the emulator; without the ioctl the emulator answers them all.
  Categories wanted = kWanted;
  const Features& f = probe::scanning();
  if (f.pagemap_scan) wanted = wanted & f.scan_categories;
  const std::uint64_t step = std::max<std::uint64_t>(options.max_range_bytes, 1u << 21);

  PageCensus census;
  Tally tally(spans, census);
  ScanOptions scan_options{options.chunk_regions, options.backend};
  using Clock = std::chrono::steady_clock;
  Clock::time_point call_began;
  const auto lap = [&census, &call_began] {
    const auto now = Clock::now();
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now - call_began).count();
    census.longest_call_ns = std::max(census.longest_call_ns, static_cast<std::uint64_t>(ns));
  };
  // scan_each hands over each kernel call's regions as they come: the time from the call's
  // start to its chunk is the call's (plus the copy of its regions, microseconds).
  const auto sink = [&](std::span<const PageRegion> regions) {
    lap();
    for (const PageRegion& r : regions) tally.add(r);
    call_began = Clock::now();
    return true;
  };
  // Adjacent spans are scanned as one address range, cut into steps.
  for (std::size_t i = 0; i < spans.size();) {
    const std::uint64_t start = spans[i].start;
    std::uint64_t end = spans[i].end;
    for (++i; i < spans.size() && spans[i].start == end; ++i) end = spans[i].end;
    for (std::uint64_t at = start; at < end;) {
      const std::uint64_t stop = end - at > step ? at + step : end;
      call_began = Clock::now();
      auto summary =
          scan_each(process, ScanRequest::over(at, stop).returning(wanted), sink, scan_options);
      if (!summary) return summary.error().with_context(context);
      // A last call that matched nothing delivers no chunk.
      if (summary->region_count == 0) lap();
      census.backend = summary->backend;
      census.approximate |= summary->approximate;
      census.kernel_calls += summary->kernel_calls;
      ++census.scans;
      at = stop;
    }
  }
  if (auto alive = process.check_alive(); !alive) return alive.error().with_context(context);
  return census;
}

}  // namespace pagescan
