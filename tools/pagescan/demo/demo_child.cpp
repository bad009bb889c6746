// The demo workload, in the forked child: each part of the known layout in a VMA of its
// own, reported to the parent, then the write-tracking rounds on request.
//
// Every part sits between PROT_NONE pages so no neighbouring mapping can merge with it:
// `pagescan map` then shows one row per part. What the kernel does to each part, and so
// what the scan shows, is in kernel-pagemap-scan.md: the zero page (§4.1 PFNZERO), THP
// and hugetlb (HUGE), guard markers (read as GUARD and SWAPPED), uffd-wp (WRITTEN §4.3).
#include "demo/demo_child.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>

#include "pagescan/features.hpp"
#include "pagescan/watch.hpp"

namespace pagescan::cli::demo {

namespace {

constexpr int kMadvGuardInstall = 102;  // Linux 6.13
constexpr std::size_t kPages = 16;
constexpr std::uint64_t kPagemapSwapped = 1ull << 62;

// The pages the workload writes in the tracked region: round 1 before the parent looks,
// round 2 after the first collect (page 3 again: re-armed pages are reported again).
constexpr PageSpan kRound1[] = {{1, 4}, {8, 9}, {20, 22}};
constexpr PageSpan kRound2[] = {{3, 4}, {30, 32}};

std::size_t page_size() {
  return static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

void set_why(WirePart& p, const char* what, int err) {
  std::snprintf(p.why, sizeof p.why, "%s: %s", what, std::strerror(err));
}

void set_part(WirePart& p, const void* start, std::size_t len, std::uint64_t acted) {
  p.available = 1;
  p.start = reinterpret_cast<std::uint64_t>(start);
  p.end = p.start + len;
  p.acted = acted;
}

// `len` bytes at an `align`-aligned address with a PROT_NONE page on each side, still
// PROT_NONE itself: the caller maps the part over it with MAP_FIXED.
char* reserve(std::size_t len, std::size_t align) {
  const std::size_t page = page_size();
  align = std::max(align, page);
  const std::size_t total = len + 2 * page + align;
  auto* base = static_cast<char*>(
      ::mmap(nullptr, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
  if (base == MAP_FAILED) return nullptr;
  auto at = (reinterpret_cast<std::uintptr_t>(base) + page + align - 1) & ~(align - 1);
  char* part = reinterpret_cast<char*>(at);
  char *lo = part - page, *hi = part + len + page;
  if (lo > base) ::munmap(base, static_cast<std::size_t>(lo - base));
  if (base + total > hi) ::munmap(hi, static_cast<std::size_t>(base + total - hi));
  return part;
}

// An anonymous private mapping of `len` bytes in a reservation of its own.
char* anon_part(std::size_t len, int prot, std::size_t align = 0, int extra_flags = 0) {
  char* at = reserve(len, align);
  if (!at) return nullptr;
  void* p = ::mmap(at, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | extra_flags, -1, 0);
  return p == MAP_FAILED ? nullptr : static_cast<char*>(p);
}

void write_pages(char* base, std::size_t first, std::size_t end) {
  for (std::size_t i = first; i < end; ++i) base[i * page_size()] = static_cast<char>(i + 1);
}

void build_written(WirePart& p) {
  char* m = anon_part(kPages * page_size(), PROT_READ | PROT_WRITE);
  if (!m) return set_why(p, "mmap", errno);
  ::madvise(m, kPages * page_size(), MADV_NOHUGEPAGE);  // 16 small pages, not part of a THP
  write_pages(m, 0, kPages);
  set_part(p, m, kPages * page_size(), kPages);
}

void build_zero(WirePart& p) {
  char* m = anon_part(kPages * page_size(), PROT_READ);
  if (!m) return set_why(p, "mmap", errno);
  // A read fault on private anonymous memory maps the shared zero page.
  for (std::size_t i = 0; i < kPages; ++i) (void)*static_cast<volatile char*>(m + i * page_size());
  set_part(p, m, kPages * page_size(), kPages);
}

void build_untouched(WirePart& p) {
  char* m = anon_part(kPages * page_size(), PROT_READ | PROT_WRITE);
  if (!m) return set_why(p, "mmap", errno);
  set_part(p, m, kPages * page_size(), 0);
}

void build_thp(WirePart& p, std::size_t huge) {
  char* m = anon_part(huge, PROT_READ | PROT_WRITE, huge);
  if (!m) return set_why(p, "mmap", errno);
  if (::madvise(m, huge, MADV_HUGEPAGE) != 0) return set_why(p, "madvise(MADV_HUGEPAGE)", errno);
  write_pages(m, 0, huge / page_size());
  set_part(p, m, huge, huge / page_size());
}

void build_hugetlb(WirePart& p, std::size_t huge) {
  // Not MAP_NORESERVE: the page is reserved at mmap time, so the write cannot SIGBUS.
  char* m = anon_part(huge, PROT_READ | PROT_WRITE, huge, MAP_HUGETLB);
  if (!m) return set_why(p, "mmap(MAP_HUGETLB)", errno);
  m[0] = 1;
  set_part(p, m, huge, huge / page_size());
}

void build_file(WirePart& p) {
  const std::size_t page = page_size();
  int fd = ::open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return set_why(p, "open /proc/self/exe", errno);
  struct stat st {};
  std::size_t pages = kPages;
  if (::fstat(fd, &st) == 0) pages = std::min(pages, static_cast<std::size_t>(st.st_size) / page);
  char* at = pages >= 2 ? reserve(pages * page, 0) : nullptr;
  void* m = at ? ::mmap(at, pages * page, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0) : MAP_FAILED;
  int err = errno;
  ::close(fd);
  if (m == MAP_FAILED) return set_why(p, "mmap of /proc/self/exe", err);
  auto* file = static_cast<char*>(m);
  for (std::size_t i = 0; i < pages / 2; ++i) (void)*static_cast<volatile char*>(file + i * page);
  // Fault-around also maps neighbours of a page read when they are in the page cache:
  // drop the second half's entries so exactly the pages read are present.
  ::madvise(file + pages / 2 * page, (pages - pages / 2) * page, MADV_DONTNEED);
  set_part(p, file, pages * page, pages / 2);
}

// How many of pages [first, end) of `base` the pagemap shows as swapped.
std::uint64_t swapped_pages(const char* base, std::size_t first, std::size_t end) {
  int fd = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  std::uint64_t n = 0;
  for (std::size_t i = first; i < end; ++i) {
    std::uint64_t entry = 0;
    auto offset = static_cast<off_t>(reinterpret_cast<std::uintptr_t>(base + i * page_size()) /
                                     page_size() * sizeof entry);
    if (::pread(fd, &entry, sizeof entry, offset) == sizeof entry && (entry & kPagemapSwapped)) ++n;
  }
  ::close(fd);
  return n;
}

void build_swapped(WirePart& p) {
  char* m = anon_part(kPages * page_size(), PROT_READ | PROT_WRITE);
  if (!m) return set_why(p, "mmap", errno);
  ::madvise(m, kPages * page_size(), MADV_NOHUGEPAGE);
  write_pages(m, 0, kPages);
  // Reclaim unmaps each page and leaves a swap entry before this call returns.
  if (::madvise(m + 4 * page_size(), 8 * page_size(), MADV_PAGEOUT) != 0) {
    return set_why(p, "madvise(MADV_PAGEOUT)", errno);
  }
  std::uint64_t out = swapped_pages(m, 4, 12);
  if (out == 0) {
    std::snprintf(p.why, sizeof p.why, "MADV_PAGEOUT swapped nothing out (is swap full?)");
    return;
  }
  set_part(p, m, kPages * page_size(), out);
}

void build_guard(WirePart& p) {
  char* m = anon_part(kPages * page_size(), PROT_READ | PROT_WRITE);
  if (!m) return set_why(p, "mmap", errno);
  ::madvise(m, kPages * page_size(), MADV_NOHUGEPAGE);
  write_pages(m, 0, kPages);
  if (::madvise(m + 4 * page_size(), 4 * page_size(), kMadvGuardInstall) != 0) {
    return set_why(p, "madvise(MADV_GUARD_INSTALL)", errno);
  }
  set_part(p, m, kPages * page_size(), 4);
}

template <std::size_t N>
void write_spans(char* base, const PageSpan (&spans)[N], WireSpans& record) {
  for (const PageSpan& s : spans) {
    write_pages(base, s.first, s.end);
    record.first[record.count] = s.first;
    record.end[record.count] = s.end;
    ++record.count;
  }
}

template <std::size_t N>
std::uint64_t pages_of(const PageSpan (&spans)[N]) {
  std::uint64_t n = 0;
  for (const PageSpan& s : spans) n += s.end - s.first;
  return n;
}

// Collects the whole region (re-arming what it returns) into `record`, as page indexes.
bool collect(WriteWatch& watch, char* base, WireRound& record, WireTracking& t) {
  const std::size_t len = kTrackedPages * page_size();
  auto harvest = watch.collect(base, len);
  if (!harvest) {
    std::snprintf(t.why, sizeof t.why, "collect: %s", harvest.error().message().c_str());
    return false;
  }
  const auto at = reinterpret_cast<std::uint64_t>(base);
  for (const PageRange& r : harvest->ranges) {
    if (record.collected.count == kMaxSpans) {
      record.more = 1;  // more ranges than a record holds: said, not hidden
      break;
    }
    WireSpans& c = record.collected;
    c.first[c.count] = (r.start - at) / page_size();
    c.end[c.count] = (r.end - at) / page_size();
    ++c.count;
  }
  record.more |= harvest->more ? 1 : 0;
  return true;
}

[[noreturn]] void serve(int report_fd, int control_fd, std::optional<WriteWatch>& watch,
                        char* tracked, WireRound first_writes) {
  for (;;) {
    char command = 0;
    ssize_t n = ::read(control_fd, &command, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) ::_exit(0);  // the parent is done (or gone)
    if (command != kTrackCommand) continue;
    WireTracking t;
    if (!watch) {
      std::snprintf(t.why, sizeof t.why, "no write-tracked region");
    } else {
      t.rounds[0].wrote = first_writes.wrote;
      if (collect(*watch, tracked, t.rounds[0], t)) {
        write_spans(tracked, kRound2, t.rounds[1].wrote);
        t.ok = collect(*watch, tracked, t.rounds[1], t) ? 1 : 0;
      }
      // The next request starts again from what is armed now.
      first_writes = WireRound{};
    }
    if (!write_all(report_fd, &t, sizeof t)) ::_exit(0);
  }
}

}  // namespace

bool write_all(int fd, const void* data, std::size_t size) {
  const auto* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

bool read_all(int fd, void* data, std::size_t size) {
  auto* p = static_cast<char*>(data);
  while (size > 0) {
    ssize_t n = ::read(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

void run_child(const DemoPlan& plan, pid_t parent, int report_fd, int control_fd) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(0);  // the parent died before the prctl
  const Features& f = features();
  WireLayout layout;
  auto part = [&](PartKind k) -> WirePart& { return layout.parts[static_cast<std::size_t>(k)]; };
  build_written(part(PartKind::written));
  build_zero(part(PartKind::zero));
  build_untouched(part(PartKind::untouched));
  if (plan.thp) build_thp(part(PartKind::thp), f.thp_pmd_size ? f.thp_pmd_size : 2u << 20);
  if (plan.hugetlb) build_hugetlb(part(PartKind::hugetlb), f.hugetlb_page_size);
  build_file(part(PartKind::file));
  if (plan.swap) build_swapped(part(PartKind::swapped));
  if (plan.guard) build_guard(part(PartKind::guard));

  // The tracked region: armed empty, then round 1's writes, which the parent's map shows
  // (as WRITTEN when the engine is uffd) before the first collect takes them.
  std::optional<WriteWatch> watch;
  WireRound first_writes;
  const std::size_t len = kTrackedPages * page_size();
  char* tracked = anon_part(len, PROT_READ | PROT_WRITE);
  WirePart& t = part(PartKind::tracked);
  if (!tracked) {
    set_why(t, "mmap", errno);
  } else if (auto w = WriteWatch::create(tracked, len); !w) {
    std::snprintf(t.why, sizeof t.why, "%s", w.error().message().c_str());
  } else {
    watch.emplace(std::move(*w));
    std::snprintf(layout.engine, sizeof layout.engine, "%s",
                  std::string(to_string(watch->engine())).c_str());
    write_spans(tracked, kRound1, first_writes.wrote);
    set_part(t, tracked, len, pages_of(kRound1));
  }

  if (!write_all(report_fd, &layout, sizeof layout)) ::_exit(0);
  serve(report_fd, control_fd, watch, tracked, first_writes);
}

}  // namespace pagescan::cli::demo
