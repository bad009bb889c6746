// Region snapshots: capture saves the non-zero pages and arms write tracking; restore
// puts back only the pages written since, then re-arms exactly those.
//
// Order matters in restore. Re-armed pages take a write-protect fault on the first write
// (uffd: a WP fault resolved by the kernel, which marks the page written again), so the
// written pages are collected *without* re-arming, copied back while still writable, and
// only then re-armed, range by range (UFFDIO_WRITEPROTECT per range is cheaper than a
// second scan). This is why the application must not write during restore: a write
// between the copy and the re-arm would be overwritten and then not tracked.
//
// The image is an anonymous MAP_NORESERVE mapping as large as the region in which only
// non-zero pages are ever written, so zero pages cost no memory and page i of the region
// is page i of the image. A bitmap says which pages are non-zero.
#include "pagescan/snapshot.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <vector>

#include "feature_probes.hpp"
#include "kernel/uapi.hpp"
#include "pagescan/features.hpp"
#include "pagescan/scan.hpp"
#include "proc/maps.hpp"
#include "watch/engine.hpp"
#include "watch/self_maps.hpp"

namespace pagescan {

namespace {

std::string describe(std::uint64_t start, std::uint64_t end) {
  char text[80];
  std::snprintf(text, sizeof text, "snapshot of [0x%" PRIx64 "-0x%" PRIx64 ")", start, end);
  return text;
}

// The span of the VMAs that hold [start, end) (from the first one's start to the last
// one's end), taken once the watch has split them at the region's edges: a region that
// is grown, shrunk, moved or partly unmapped after capture changes it or leaves a hole.
struct Extent {
  std::uint64_t start = 0, end = 0;
  bool shared_memfd = false;
};

Result<Extent> extent_of(std::uint64_t start, std::uint64_t end, bool check_kind) {
  auto vmas = proc::read_vmas(0, false);
  if (!vmas) return vmas.error();
  Extent ext;
  bool found = false, any_shared = false, any_private = false;
  std::uint64_t covered = start;  // [start, covered) is known to be mapped
  for (std::size_t i = 0; i < vmas->size(); ++i) {
    const proc::Vma& v = (*vmas)[i];
    if (v.end <= start || v.start >= end) continue;
    if (v.start > covered) break;  // a hole
    covered = v.end;
    if (check_kind) {
      bool memfd = v.shared() && v.path.rfind("/memfd:", 0) == 0;
      bool anon = v.private_anonymous();
      if (!memfd && !anon) {
        return Error(EINVAL, ErrorKind::invalid_argument,
                     describe(start, end) + ": '" + (v.path.empty() ? v.perms : v.path) +
                         "' is neither private anonymous memory nor a shared memfd");
      }
      (memfd ? any_shared : any_private) = true;
    }
    if (!found) ext.start = v.start;
    found = true;
    ext.end = v.end;
  }
  if (check_kind && any_shared && any_private) {
    return Error(EINVAL, ErrorKind::invalid_argument,
                 describe(start, end) + ": mixes private anonymous and shared memfd memory");
  }
  ext.shared_memfd = any_shared;
  if (!found || ext.start > start || covered < end) {
    return Error(EINVAL, ErrorKind::invalid_argument,
                 describe(start, end) + ": the range is not wholly mapped");
  }
  return ext;
}

const std::vector<char>& zero_page_content(std::size_t page) {
  static const std::vector<char> zeros(page, 0);
  return zeros;
}

bool page_is_zero(const char* p, std::size_t page) {
  return std::memcmp(p, zero_page_content(page).data(), page) == 0;
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// The bounds of the VMA holding `addr` (mapped) through PROCMAP_QUERY (6.11+): a lookup,
// not a read of /proc/self/maps, whose cost grows with the number of mappings (2.5 ms at
// 2000). Falls back to the maps file on older kernels. The fd follows fork(): one
// inherited from the parent would describe the parent's mappings.
PageRange vma_at(std::uint64_t addr) {
  const int fd = self_maps::fd();
  uapi::procmap_query q{};
  q.size = sizeof q;
  q.query_addr = addr;
  if (fd >= 0 && ::ioctl(fd, uapi::PROCMAP_QUERY, &q) == 0) return {q.vma_start, q.vma_end};
  auto e = extent_of(addr, addr + 1, false);
  return e ? PageRange{e->start, e->end} : PageRange{0, ~0ull};
}
std::uint64_t vma_start_at(std::uint64_t addr) {
  return vma_at(addr).start;
}
std::uint64_t vma_end_at(std::uint64_t addr) {
  return vma_at(addr).end;
}

// A self handle follows fork() by itself: it reopens /proc/self/pagemap when getpid()
// changed (include/pagescan/process.hpp), so a child scans its own memory.
Result<const Process*> self() {
  static const Result<Process> p = Process::self();
  if (!p) return p.error();
  return &*p;
}

// The number of leading pages of [start, start + pages * page) that are mapped: msync()
// fails with ENOMEM when any page of its range is unmapped, and a mapped prefix stays
// mapped as it grows shorter, so a binary search takes O(log pages) calls.
std::size_t mapped_prefix_pages(std::uint64_t start, std::size_t pages, std::uint64_t page) {
  auto mapped = [&](std::size_t n) {
    return ::msync(reinterpret_cast<void*>(start), n * page, MS_ASYNC) == 0;
  };
  if (mapped(pages)) return pages;
  std::size_t lo = 0, hi = pages;  // the first lo pages are mapped; the first hi are not
  while (hi - lo > 1) {
    const std::size_t mid = lo + (hi - lo) / 2;
    (mapped(mid) ? lo : hi) = mid;
  }
  return lo;
}

}  // namespace

struct RegionSnapshot::State {
  std::uint64_t start = 0, end = 0, page = 4096;
  Extent extent;
  // Whether the application's own mapping began / ended at the region's edges before
  // capture with free address space beyond: only then can mremap grow it across them.
  bool room_below = false, room_above = false;
  SnapshotOptions options;
  std::optional<WriteWatch> watch;
  char* image = nullptr;
  std::vector<std::uint64_t> nonzero;  // one bit per page
  std::size_t saved = 0;
  // PROT_NONE placeholder pages we mapped in the free page just below / above the region.
  std::uint64_t placeholder_below = 0, placeholder_above = 0;

  ~State() {
    if (image) ::munmap(image - page, end - start + 2 * page);
    if (placeholder_below) ::munmap(reinterpret_cast<void*>(placeholder_below), page);
    if (placeholder_above) ::munmap(reinterpret_cast<void*>(placeholder_above), page);
  }
  std::size_t pages() const { return (end - start) / page; }
  bool is_nonzero(std::size_t i) const { return nonzero[i / 64] >> (i % 64) & 1; }
  char* at(std::size_t i) const { return reinterpret_cast<char*>(start + i * page); }
  char* saved_at(std::size_t i) const { return image + i * page; }

  // Saves page i if its content is not zero.
  void save(std::size_t i) {
    if (page_is_zero(at(i), page)) return;
    std::memcpy(saved_at(i), at(i), page);
    nonzero[i / 64] |= 1ull << (i % 64);
    ++saved;
  }
};

RegionSnapshot::RegionSnapshot(std::unique_ptr<State> state) : state_(std::move(state)) {}
RegionSnapshot::RegionSnapshot(RegionSnapshot&&) noexcept = default;
RegionSnapshot& RegionSnapshot::operator=(RegionSnapshot&&) noexcept = default;
RegionSnapshot::~RegionSnapshot() = default;

Result<RegionSnapshot> RegionSnapshot::capture(void* base, std::size_t len,
                                               const SnapshotOptions& options) {
  auto s = std::make_unique<State>();
  s->page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  auto addr = reinterpret_cast<std::uint64_t>(base);
  s->start = addr & ~(s->page - 1);
  s->end = (addr + len + s->page - 1) & ~(s->page - 1);
  if (len == 0) {
    return Error(EINVAL, ErrorKind::invalid_argument,
                 "snapshot of " + std::to_string(len) + " bytes: expected a length > 0");
  }
  if (auto past = watch::past_address_space("snapshot", addr, len, s->page); !past) {
    return past.error();
  }
  auto kind = extent_of(s->start, s->end, true);
  if (!kind) return kind.error();
  s->room_below = kind->start == s->start && s->start >= s->page &&
                  ::msync(reinterpret_cast<void*>(s->start - s->page), s->page, MS_ASYNC) != 0;
  s->room_above =
      kind->end == s->end && ::msync(reinterpret_cast<void*>(s->end), s->page, MS_ASYNC) != 0;
  // Hold the free page on each side with a PROT_NONE placeholder: a new mapping placed
  // there later would merge with the region's VMA when no engine split it at the edges
  // (everything, soft-dirty, or a page the mprotect engine made writable), and restore
  // would take that for growth; mremap can no longer grow the region in place either.
  auto hold = [&](std::uint64_t at) -> std::uint64_t {
    void* p = ::mmap(reinterpret_cast<void*>(at), s->page, PROT_NONE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
    if (p == MAP_FAILED) return 0;
    if (p != reinterpret_cast<void*>(at)) {  // kernels before 4.17 ignore the flag
      ::munmap(p, s->page);
      return 0;
    }
    return at;
  };
  if (s->room_below) s->placeholder_below = hold(s->start - s->page);
  if (s->room_above) s->placeholder_above = hold(s->end);
  // Another thread may have mapped the page since we looked: then a live neighbour is
  // there, the region cannot grow across it, and a merge with it is no growth.
  s->room_below = s->placeholder_below != 0;
  s->room_above = s->placeholder_above != 0;
  s->options = options;

  // Find the populated pages before arming: once the uffd engine has armed the region
  // with WP_UNPOPULATED, every never-touched page holds a uffd-wp marker, which
  // PAGEMAP_SCAN reports as SWAPPED (kernel-pagemap-scan.md §4.1), and reading those would
  // fault the zero page into the whole region.
  std::vector<PageRegion> populated;
  {
    auto request = ScanRequest::over(s->start, s->end)
                       .any_of(Category::present | Category::swapped)
                       .none_of(Category::pfnzero);
    auto process = self();
    if (!process) return process.error().with_context(describe(s->start, s->end));
    // The caller's PAGESCAN_BACKEND is for its own scans; this one needs an answer, from
    // the kernel where it can give one.
    ScanOptions how;
    how.backend = probe::scanning().pagemap_scan ? BackendChoice::kernel : BackendChoice::emulated;
    auto found = scan(**process, request, how);
    if (!found) return found.error().with_context(describe(s->start, s->end));
    populated = std::move(found->regions);
  }
  // Arm, then copy: a write during the copy is tracked, so restore fixes it.
  auto watch = WriteWatch::create(base, len, options.watch);
  if (!watch) return watch.error().with_context(describe(s->start, s->end));
  s->watch.emplace(std::move(*watch));
  auto extent = extent_of(s->start, s->end, true);
  if (!extent) return extent.error();
  s->extent = *extent;

  // A PROT_NONE guard page on each side keeps the image's VMA from merging with the
  // region's (both anonymous MAP_NORESERVE), which restore would take for growth.
  void* image = ::mmap(nullptr, s->end - s->start + 2 * s->page, PROT_NONE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (image == MAP_FAILED) {
    return Error::from_errno(errno, ErrorKind::kernel_failure,
                             describe(s->start, s->end) + ": allocating the image");
  }
  s->image = static_cast<char*>(image) + s->page;
  if (::mprotect(s->image, s->end - s->start, PROT_READ | PROT_WRITE) != 0) {
    return Error::from_errno(errno, ErrorKind::kernel_failure,
                             describe(s->start, s->end) + ": allocating the image");
  }
  s->nonzero.assign((s->pages() + 63) / 64, 0);

  if (s->extent.shared_memfd) {
    // A swapped-out shmem page is an empty PTE (kernel-pagemap-scan.md §4.1): the page
    // tables cannot say which pages hold data, so every page is read.
    for (std::size_t i = 0; i < s->pages(); ++i) s->save(i);
  } else {
    // Only pages with private content can be non-zero: present or swapped, not the
    // zero page. Reading anything else would only fault in the zero page.
    for (const PageRegion& r : populated) {
      for (std::uint64_t a = r.start; a < r.end; a += s->page) s->save((a - s->start) / s->page);
    }
  }
  return RegionSnapshot(std::move(s));
}

Result<RestoreStats> RegionSnapshot::restore() {
  State& s = *state_;
  // Refuse when the region is no longer wholly mapped (unmapped in part, shrunk, moved),
  // or when the application's mapping, which ended at an edge of the region before
  // capture with free address space beyond, now reaches across it (mremap grew it into
  // that space). The rest is not the region's business: adjacent VMAs of the same kind
  // merge and split as neighbours come and go, and an engine that unprotects a written
  // page (mprotect) can merge it with one.
  if (::msync(base(), length(), MS_ASYNC) != 0 ||
      (s.room_below && vma_start_at(s.start) < s.start) ||
      (s.room_above && vma_end_at(s.end - s.page) > s.end)) {
    // ENOENT / invalid_argument: what every engine answers for a region unmapped or
    // replaced since it was armed (docs/errors.md 4.21).
    return Error(ENOENT, ErrorKind::invalid_argument,
                 describe(s.start, s.end) +
                     ": the region was unmapped, moved, grown or shrunk since capture; "
                     "nothing was restored");
  }
  // A part unmapped and mapped afresh is wholly mapped but no longer armed: its pages
  // would be missed (mprotect) or reported written and then refused re-arming (uffd)
  // after memory was changed. Refuse before writing anything.
  if (auto intact = s.watch->check_intact(); !intact) {
    if (intact.error().kind() != ErrorKind::invalid_argument) {
      return intact.error().with_context(describe(s.start, s.end) + ": restore");
    }
    return Error(ENOENT, ErrorKind::invalid_argument,
                 describe(s.start, s.end) +
                     ": part of the region was replaced since capture; nothing was restored");
  }
  RestoreStats stats;
  auto t0 = std::chrono::steady_clock::now();
  auto harvest = s.watch->collect(base(), length(), CollectOptions{0, false});
  if (!harvest) return harvest.error().with_context(describe(s.start, s.end) + ": restore");
  stats.scan_seconds = seconds_since(t0);

  auto t1 = std::chrono::steady_clock::now();
  const std::size_t resident_pages = s.options.keep_resident_bytes / s.page;
  const bool per_range = harvest->ranges.size() <= 32 && harvest->pages <= 512;
  for (const PageRange& r : harvest->ranges) {
    std::size_t first = (r.start - s.start) / s.page, last = (r.end - s.start) / s.page;
    stats.pages_examined += last - first;
    for (std::size_t i = first; i < last;) {
      bool nz = s.is_nonzero(i);
      std::size_t j = i + 1;
      while (j < last && s.is_nonzero(j) == nz) ++j;
      std::size_t n = j - i;
      if (nz) {
        std::memcpy(s.at(i), s.saved_at(i), n * s.page);
        stats.pages_copied += n;
      } else {
        // Zero runs: memset keeps the pages resident; MADV_DONTNEED drops them (they read
        // back as zero) for one syscall plus later refaults. Shared memfd pages are
        // always zeroed: MADV_DONTNEED would only unmap them, not clear the file.
        std::size_t keep = n;
        if (!s.extent.shared_memfd) {
          if (s.options.keep_resident_bytes == SIZE_MAX) {
            keep = n >= s.options.dontneed_min_pages ? 0 : n;
          } else {
            keep = i < resident_pages ? std::min(n, resident_pages - i) : 0;
          }
        }
        if (keep) {
          std::memset(s.at(i), 0, keep * s.page);
          stats.pages_zeroed += keep;
        }
        if (n > keep) {
          if (::madvise(s.at(i + keep), (n - keep) * s.page, MADV_DONTNEED) != 0) {
            std::memset(s.at(i + keep), 0, (n - keep) * s.page);
            stats.pages_zeroed += n - keep;
          } else {
            stats.pages_dropped += n - keep;
          }
        }
      }
      i = j;
    }
    if (per_range) {
      auto rearm = s.watch->reset(reinterpret_cast<void*>(r.start), r.end - r.start);
      if (!rearm) return rearm.error().with_context(describe(s.start, s.end) + ": re-arming");
    }
  }
  if (!per_range) {
    // Many ranges: one get-and-protect scan over their span re-arms them all in a single
    // call, cheaper than an ioctl per range.
    const PageRange& first = harvest->ranges.front();
    const PageRange& last = harvest->ranges.back();
    auto rearm = s.watch->collect(reinterpret_cast<void*>(first.start), last.end - first.start,
                                  CollectOptions{0, true});
    if (!rearm) return rearm.error().with_context(describe(s.start, s.end) + ": re-arming");
  }
  stats.copy_seconds = seconds_since(t1);
  return stats;
}

Result<void> RegionSnapshot::prepare_for_kernel_write(void* base, std::size_t len) {
  return state_->watch->prepare_for_kernel_write(base, len);
}

std::optional<std::size_t> RegionSnapshot::first_difference() const {
  const State& s = *state_;
  const char* zeros = zero_page_content(s.page).data();
  // Reading an unmapped page would fault. A page no longer mapped (the region was
  // unmapped in part or shrunk since capture) no longer holds what was captured, so it
  // counts as differing: compare up to the first one and report it unless an earlier
  // page differs. One msync() on the normal path, next to reading every page.
  const std::size_t readable = mapped_prefix_pages(s.start, s.pages(), s.page);
  for (std::size_t i = 0; i < readable; ++i) {
    const char* expected = s.is_nonzero(i) ? s.saved_at(i) : zeros;
    if (std::memcmp(s.at(i), expected, s.page) != 0) return i;
  }
  if (readable < s.pages()) return readable;
  return std::nullopt;
}

void* RegionSnapshot::base() const {
  return reinterpret_cast<void*>(state_->start);
}
std::size_t RegionSnapshot::length() const {
  return state_->end - state_->start;
}
WatchEngine RegionSnapshot::engine() const {
  return state_->watch->engine();
}
std::size_t RegionSnapshot::saved_pages() const {
  return state_->saved;
}

}  // namespace pagescan
