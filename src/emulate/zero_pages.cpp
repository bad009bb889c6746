// Learning the PFNs of the zero page and the huge zero page in-process.
#include "emulate/zero_pages.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kernel/uapi.hpp"

namespace pagescan::emulate {

namespace {

std::uint64_t entry_of(int fd, const void* addr, std::uint64_t page) {
  std::uint64_t e = 0;
  off_t off = static_cast<off_t>(reinterpret_cast<std::uintptr_t>(addr) / page * 8);
  if (::pread(fd, &e, 8, off) != 8) return 0;
  return e;
}

ZeroPages learn() {
  ZeroPages z;
  const std::uint64_t page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  int fd = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return z;
  void* one = ::mmap(nullptr, page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (one != MAP_FAILED) {
    (void)*static_cast<volatile char*>(one);
    std::uint64_t e = entry_of(fd, one, page);
    if ((e & uapi::PM_PRESENT) && (e & uapi::PM_PFN_MASK)) {
      z.pfns_visible = true;
      z.zero_pfn = e & uapi::PM_PFN_MASK;
    }
    ::munmap(one, page);
  }
  // The huge zero page: only with visible PFNs is there anything to learn.
  const std::uint64_t pmd = page * (page / 8);
  if (z.pfns_visible) {
    void* raw =
        ::mmap(nullptr, 2 * pmd, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (raw != MAP_FAILED) {
      auto base = (reinterpret_cast<std::uintptr_t>(raw) + pmd - 1) & ~(pmd - 1);
      auto* area = reinterpret_cast<char*>(base);
      if (::madvise(area, pmd, MADV_HUGEPAGE) == 0) {
        (void)*static_cast<volatile char*>(area);
        std::uint64_t e = entry_of(fd, area, page);
        // The huge zero page reads as present, file (not anon) in a private anon VMA.
        if ((e & uapi::PM_PRESENT) && (e & uapi::PM_FILE) && (e & uapi::PM_PFN_MASK)) {
          z.huge_zero_pfn = e & uapi::PM_PFN_MASK;
          z.huge_zero_pages = pmd / page;
        }
      }
      ::munmap(raw, 2 * pmd);
    }
  }
  ::close(fd);
  return z;
}

}  // namespace

const ZeroPages& zero_pages() {
  static const ZeroPages z = learn();
  return z;
}

}  // namespace pagescan::emulate
