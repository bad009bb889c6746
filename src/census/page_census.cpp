// The page census (pagescan/page_census.hpp): the VMAs from /proc/PID/maps, then
// scan_each over their spans in requests of at most max_range_bytes for the present and
// swapped pages, each region's bytes split at the VMAs it covers (the kernel merges equal
// pages across adjacent VMAs); what no region covers is untouched.
#include "pagescan/page_census.hpp"

#include <time.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <vector>

#include "backend.hpp"
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
  longest_call_ns = std::max(longest_call_ns, other.longest_call_ns);
  longest_call_cpu_ns = std::max(longest_call_cpu_ns, other.longest_call_cpu_ns);
}

namespace {

constexpr Categories kWanted = Category::file | Category::present | Category::swapped |
                               Category::pfnzero | Category::huge | Category::guard;

// The first state of the header's order that the categories say. `all_file`: every page of
// the mapping is a page-cache page (a shared mapping), so FILE was not asked for.
PageState state_of(Categories c, bool all_file) {
  if (c.contains(Category::guard)) return PageState::guard;
  if (c.contains(Category::swapped)) return PageState::swapped;
  if (!c.contains(Category::present)) return PageState::untouched;
  if (c.contains(Category::pfnzero)) return PageState::zero;
  if (c.contains(Category::huge)) return PageState::huge;
  if (all_file || c.contains(Category::file)) return PageState::file;
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

std::uint64_t thread_cpu_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

struct KindSpan {
  std::uint64_t start, end;
  MappingKind kind;
  // FILE must be asked: a private mapping of a file, whose pages are page cache or,
  // once written, anonymous copies. Elsewhere it is known from the mapping (private
  // anonymous: never; shared: always), and not asking for it spares the kernel a look
  // at every present page's struct page: the scan then reads page-table entries only.
  bool file_matters;
  bool all_file;  // a shared mapping: every page is page cache (file or shmem)
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
    const bool file_matters = !v.shared() && v.inode != 0, all_file = v.shared();
    if (options.ranges.empty()) {
      out.push_back({v.start, v.end, *kind, file_matters, all_file});
      continue;
    }
    for (const auto& [start, end] : options.ranges) {
      const std::uint64_t s = std::max(start, v.start), e = std::min(end, v.end);
      if (s < e) out.push_back({s, e, *kind, file_matters, all_file});
    }
  }
  return out;
}

// Adds regions to the census, split at the spans (both ascending).
class Tally {
 public:
  Tally(const std::vector<KindSpan>& spans, PageCensus& census) : spans_(spans), census_(census) {}
  // Every page starts untouched; a reported (present or swapped) page moves to its state.
  // Reported regions are disjoint and clipped to the spans, so no page moves twice.
  void start() {
    for (const KindSpan& span : spans_) {
      census_.at(span.kind, PageState::untouched) += span.end - span.start;
    }
  }
  void add(const PageRegion& r) {
    while (next_ < spans_.size() && spans_[next_].end <= r.start) ++next_;
    for (std::size_t i = next_; i < spans_.size() && spans_[i].start < r.end; ++i) {
      const std::uint64_t s = std::max(r.start, spans_[i].start);
      const std::uint64_t e = std::min(r.end, spans_[i].end);
      if (s >= e) continue;
      census_.at(spans_[i].kind, state_of(r.categories, spans_[i].all_file)) += e - s;
      census_.at(spans_[i].kind, PageState::untouched) -= e - s;
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
  // A tmpfs file lies on an anonymous device (major 0): with no file mapping on one, the
  // mountinfo (hundreds of lines on a container host) need not be read.
  const bool maybe_tmpfs = std::any_of(vmas->begin(), vmas->end(), [](const proc::Vma& v) {
    return v.inode != 0 && v.dev_major == 0;
  });
  const std::vector<KindSpan> spans =
      counted_spans(*vmas, maybe_tmpfs ? proc::tmpfs_devices(*dir) : proc::TmpfsDevices{}, options);

  // Only the categories this kernel's PAGEMAP_SCAN accepts, so the kernel answers (a
  // kernel before 6.16 cannot tell guard markers, which then count as swapped) rather
  // than the emulator; without the ioctl the emulator answers them all.
  Categories wanted = kWanted;
  const Features& f = probe::scanning();
  if (f.pagemap_scan) wanted = wanted & f.scan_categories;
  const std::uint64_t base_step = std::max<std::uint64_t>(options.max_range_bytes, 1u << 21);
  const std::uint64_t top_step = std::max(options.max_grown_range_bytes, base_step);
  constexpr std::uint64_t kCheapCallNs = 25'000;
  // Only non-empty entries are reported: the kernel skips an empty PTE without building
  // an output region for it (about 6x less CPU on a sparse reservation than reporting
  // the holes too), and the untouched bytes are what is left of each span.
  const auto request = [wanted](std::uint64_t start, std::uint64_t end, bool file_matters) {
    return ScanRequest::over(start, end)
        .any_of(Category::present | Category::swapped)
        .returning(file_matters ? wanted : wanted & ~Categories(Category::file));
  };

  PageCensus census;
  Tally tally(spans, census);
  tally.start();
  auto fd = process.pagemap_fd();
  if (!fd) return fd.error().with_context(context);
  // The calls are issued here rather than through scan_each(), which checks that the
  // target is alive (a read of /proc/PID/stat) after every request: with a request per
  // 64 MiB step that check cost more than the walks of a THP-backed process. A census
  // needs no merged regions, only each page once: a call whose buffer filled is resumed
  // at the end of its last region, and the target is checked once, at the end.
  std::vector<PageRegion> buffer(options.chunk_regions ? options.chunk_regions : 512);
  std::optional<detail::ScanBackend> backends[2];  // without, with FILE asked
  // One kernel call over [from, stop): the pages after which to go on (its end, or the end
  // of its last region when the buffer or max_pages cut it short) and its CPU time.
  struct Call {
    std::uint64_t resume;
    bool cut;
    std::uint64_t cpu_ns;
  };
  const auto call = [&](std::uint64_t from, std::uint64_t stop, bool file_matters) -> Result<Call> {
    RawScanArgs args = to_raw_args(request(from, stop, file_matters));
    args.max_pages = options.max_pages;
    auto& backend = backends[file_matters ? 1 : 0];
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
    const std::uint64_t began_cpu = thread_cpu_ns();
    const long n = backend->call(process, *fd, args);
    const std::uint64_t cpu_ns = thread_cpu_ns() - began_cpu;
    census.longest_call_cpu_ns = std::max(census.longest_call_cpu_ns, cpu_ns);
    census.longest_call_ns =
        std::max(census.longest_call_ns,
                 static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                std::chrono::steady_clock::now() - began)
                                                .count()));
    ++census.kernel_calls;
    if (n < 0) {
      // A target that exited says so, whatever errno its torn-down mm gave.
      if (auto alive = process.check_alive(); !alive) return alive.error();
      return kernel::scan_failure(static_cast<int>(-n), process, args);
    }
    const auto count = static_cast<std::size_t>(n);
    std::uint64_t pages = 0;
    for (std::size_t i = 0; i < count; ++i) {
      tally.add(buffer[i]);
      pages += buffer[i].pages(f.page_size);
    }
    // Complete unless the buffer filled or the page budget ran out (walk_end may be
    // stale: docs/scanner.md); then go on after the last page reported.
    const bool cut = count == buffer.size() || (options.max_pages && pages >= options.max_pages);
    return Call{cut && count ? buffer[count - 1].end : stop, cut, cpu_ns};
  };
  // Adjacent spans that ask the same are scanned as one address range, in steps.
  for (std::size_t i = 0; i < spans.size();) {
    const std::uint64_t start = spans[i].start;
    const bool file_matters = spans[i].file_matters;
    std::uint64_t end = spans[i].end;
    for (++i; i < spans.size() && spans[i].start == end && spans[i].file_matters == file_matters;
         ++i) {
      end = spans[i].end;
    }
    std::uint64_t step = base_step;
    for (std::uint64_t from = start; from < end;) {
      const std::uint64_t stop = end - from > step ? from + step : end;
      auto done = call(from, stop, file_matters);
      if (!done) return done.error().with_context(context);
      from = std::max(done->resume, from + f.page_size);
      step = !done->cut && done->cpu_ns < kCheapCallNs ? std::min(2 * step, top_step) : base_step;
    }
  }
  if (auto alive = process.check_alive(); !alive) return alive.error().with_context(context);
  return census;
}

}  // namespace pagescan
