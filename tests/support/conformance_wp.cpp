// Memory kinds and WRITTEN scan/reset calls for the write-protect ports of pagemap_ioctl.c.
#include "support/conformance_wp.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

namespace pagescan::test {

namespace {

constexpr std::size_t kHugetlbBytes = 2u << 20;
constexpr std::size_t kSmallPages = 10;
constexpr std::size_t kLargePages = 512 * 10;

std::string errno_text(const char* what) {
  return std::string(what) + ": " + std::strerror(errno);
}

// SysV shared memory with SHM_HUGETLB, as the selftest's gethugetlb_mem() with a shmid.
// The segment is removed at once, so the last detach (munmap by Mapping) frees it.
std::optional<Mapping> sysv_hugetlb(std::string& why_not) {
  int id = ::shmget(IPC_PRIVATE, kHugetlbBytes, SHM_HUGETLB | IPC_CREAT | SHM_R | SHM_W);
  if (id < 0) {
    why_not = errno_text("shmget(SHM_HUGETLB)");
    return std::nullopt;
  }
  void* p = ::shmat(id, nullptr, 0);
  int attach_errno = errno;
  ::shmctl(id, IPC_RMID, nullptr);
  if (p == reinterpret_cast<void*>(-1)) {
    errno = attach_errno;
    why_not = errno_text("shmat");
    return std::nullopt;
  }
  return Mapping(p, kHugetlbBytes);
}

// A memfd of `length` bytes mapped with `map_flags`; for MFD_HUGETLB the file is sized in
// huge pages. `fill` writes content through the fd first (the selftest writes 'c's).
std::optional<Mapping> memfd_mapping(unsigned memfd_flags, std::size_t length, int map_flags,
                                     bool fill, std::string& why_not) {
  int fd = ::memfd_create("pagescan-conformance-wp", MFD_CLOEXEC | memfd_flags);
  if (fd < 0) {
    why_not = errno_text("memfd_create");
    return std::nullopt;
  }
  if (::ftruncate(fd, static_cast<off_t>(length)) != 0) {
    why_not = errno_text("ftruncate");
    ::close(fd);
    return std::nullopt;
  }
  if (fill) {
    std::string content(length, 'c');
    if (::pwrite(fd, content.data(), length, 0) != static_cast<ssize_t>(length)) {
      why_not = errno_text("write to the memfd");
      ::close(fd);
      return std::nullopt;
    }
  }
  void* p = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, map_flags, fd, 0);
  int map_errno = errno;
  ::close(fd);  // the mapping keeps the file
  if (p == MAP_FAILED) {
    errno = map_errno;
    why_not = errno_text("mmap of the memfd");
    return std::nullopt;
  }
  return Mapping(p, length);
}

}  // namespace

std::string_view test_name(MemoryKind kind) {
  switch (kind) {
    case MemoryKind::page:
      return "Page";
    case MemoryKind::large_page:
      return "LargePage";
    case MemoryKind::huge_page:
      return "HugePage";
    case MemoryKind::hugetlb_shmem:
      return "HugetlbShmem";
    case MemoryKind::hugetlb_mem:
      return "HugetlbMem";
    case MemoryKind::hugetlb_memfd:
      return "HugetlbMemfdShmem";
    case MemoryKind::file_memory:
      return "FileMemory";
    case MemoryKind::file_anonymous_memory:
      return "FileAnonymousMemory";
  }
  return "?";
}

std::string_view selftest_prefix(MemoryKind kind) {
  switch (kind) {
    case MemoryKind::page:
      return "Page testing:";
    case MemoryKind::large_page:
      return "Large Page testing:";
    case MemoryKind::huge_page:
      return "Huge page testing:";
    case MemoryKind::hugetlb_shmem:
    case MemoryKind::hugetlb_memfd:
      return "Hugetlb shmem testing:";
    case MemoryKind::hugetlb_mem:
      return "Hugetlb mem testing:";
    case MemoryKind::file_memory:
      return "File memory testing:";
    case MemoryKind::file_anonymous_memory:
      return "File anonymous memory testing:";
  }
  return "?";
}

bool is_hugetlb(MemoryKind kind) {
  return kind == MemoryKind::hugetlb_shmem || kind == MemoryKind::hugetlb_mem ||
         kind == MemoryKind::hugetlb_memfd;
}

std::optional<Mapping> make_memory(MemoryKind kind, std::string& why_not) {
  switch (kind) {
    case MemoryKind::page:
      return Mapping::anonymous(kSmallPages);
    case MemoryKind::large_page:
      return Mapping::anonymous(kLargePages);
    case MemoryKind::huge_page: {
      Mapping m = Mapping::aligned(kThpSize, kThpSize);
      if (!m.data()) {
        why_not = "no THP-aligned mapping";
        return std::nullopt;
      }
      if (!make_thp(m)) {
        why_not =
            "an aligned MADV_HUGEPAGE region did not become a PMD-mapped THP (no free huge "
            "page, or THP disabled: see /sys/kernel/mm/transparent_hugepage/enabled)";
        return std::nullopt;
      }
      return m;
    }
    case MemoryKind::hugetlb_shmem:
      return sysv_hugetlb(why_not);
    case MemoryKind::hugetlb_mem: {
      auto m = Mapping::hugetlb(kHugetlbBytes);
      if (!m) why_not = errno_text("mmap(MAP_HUGETLB | MAP_PRIVATE)");
      return m;
    }
    case MemoryKind::hugetlb_memfd:
      return memfd_mapping(MFD_HUGETLB, kHugetlbBytes, MAP_SHARED, false, why_not);
    case MemoryKind::file_memory:
      return Mapping::file(kSmallPages, /*shared=*/false);
    case MemoryKind::file_anonymous_memory:
      return memfd_mapping(0, kSmallPages * page_size(), MAP_PRIVATE, true, why_not);
  }
  why_not = "unknown memory kind";
  return std::nullopt;
}

std::size_t written_granule_pages(MemoryKind kind, const Mapping& m) {
  return is_hugetlb(kind) ? std::min(m.pages(), kHugetlbBytes / page_size()) : 1;
}

PageRegion written_region(MemoryKind kind, const Mapping& m, std::size_t first, std::size_t count,
                          Categories categories) {
  std::size_t g = written_granule_pages(kind, m);
  std::size_t begin = first / g * g;
  std::size_t end = (first + count + g - 1) / g * g;
  return region_of(m, begin, std::min(end, m.pages()) - begin, categories);
}

ScanRequest written_in(std::uint64_t start, std::uint64_t end, Categories returned) {
  return ScanRequest::over(start, end).all_of(kWrittenSet).returning(returned);
}

ScanRequest reset_written_in(std::uint64_t start, std::uint64_t end, std::uint64_t max_pages,
                             Categories returned) {
  return written_in(start, end, returned)
      .limit_pages(max_pages)
      .with_write_protect()
      .with_check_wp_async();
}

ScanResult scan_or_fail(const ScanRequest& request) {
  auto r = scan(self_process(), request);
  if (!r) {
    ADD_FAILURE() << "scan() failed: " << r.error().message();
    return {};
  }
  return std::move(*r);
}

RawScanArgs written_args(std::uint64_t start, std::uint64_t end, std::uint64_t vec_len,
                         std::uint64_t flags, std::uint64_t max_pages, Categories returned) {
  RawScanArgs a;
  a.flags = flags;
  a.start = start;
  a.end = end;
  a.vec_len = vec_len;
  a.vec = vec_len ? 1 : 0;  // raw_call() supplies the buffer
  a.max_pages = max_pages;
  a.category_mask = kWritten;
  a.return_mask = returned.bits();
  return a;
}

RawAnswer raw_call(RawScanArgs args) {
  // One spare entry: a call must not write even one entry past vec_len (§3.4).
  std::vector<PageRegion> vec(static_cast<std::size_t>(args.vec_len) + 1, kSentinel);
  if (args.vec) args.vec = addr(vec.data());
  RawAnswer answer;
  auto n = scan_raw(self_process(), args);
  if (!n) {
    ADD_FAILURE() << "scan_raw() failed: " << n.error().message();
    return answer;
  }
  for (std::size_t i = *n; i < vec.size(); ++i) {
    if (!(vec[i] == kSentinel)) ADD_FAILURE() << "vec[" << i << "] past the count was written";
  }
  answer.count = *n;
  answer.walk_end = args.walk_end;
  answer.regions = written_part(vec, std::min<std::size_t>(*n, vec.size()));
  return answer;
}

}  // namespace pagescan::test
