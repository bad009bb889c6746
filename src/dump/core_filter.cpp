// The kernel's choice of what a core holds of each mapping (see core_filter.hpp).
#include "dump/core_filter.hpp"

#include <sys/stat.h>

#include <cinttypes>
#include <cstdio>

namespace pagescan::dump {

// The kernel asks whether the mapped file has links (i_nlink == 0: shmem from
// MAP_SHARED|MAP_ANONYMOUS, memfd, SysV shm, a deleted file). /proc/PID/map_files gives
// the file itself; without it (not root), the " (deleted)" mark and /dev/zero say so.
bool file_unlinked(pid_t pid, const proc::Vma& vma) {
  char path[96];
  std::snprintf(path, sizeof path, "/proc/%d/map_files/%" PRIx64 "-%" PRIx64, pid, vma.start,
                vma.end);
  struct stat st {};
  if (::stat(path, &st) == 0) return st.st_nlink == 0;
  const std::string_view p = vma.path;
  return p.ends_with(" (deleted)") || p.starts_with("/dev/zero") || p.starts_with("/SYSV") ||
         p.starts_with("/memfd:");
}

bool contents_are_whole_range(pid_t pid, const proc::Vma& vma) {
  if (vma.special()) return true;
  if (vma.inode == 0) return false;
  return !vma.shared() || !file_unlinked(pid, vma);
}

bool left_out(const proc::Vma& vma) {
  return vma.path == "[vsyscall]";
}

DumpExtent dump_extent(pid_t pid, const proc::Vma& vma, std::uint32_t filter,
                       const MappingFacts& facts,
                       const std::function<bool(std::uint64_t address)>& starts_with_elf) {
  const bool file_backed = vma.inode != 0 || (!vma.path.empty() && vma.path.front() == '/');
  // always_dump_vma(): mappings with a name of the kernel's ([vdso], [vvar], [uprobes]).
  if (vma.special()) return DumpExtent::whole;
  if (vma.has_flag("dd")) return DumpExtent::none;
  if (vma.hugetlb()) {
    return (filter & (vma.shared() ? kHugetlbShared : kHugetlbPrivate)) ? DumpExtent::whole
                                                                        : DumpExtent::none;
  }
  if (vma.has_flag("io")) return DumpExtent::none;
  if (vma.shared()) {
    const std::uint32_t bit = file_unlinked(pid, vma) ? kAnonShared : kMappedShared;
    return (filter & bit) ? DumpExtent::whole : DumpExtent::none;
  }
  if (facts.anon_data && (filter & kAnonPrivate)) return DumpExtent::whole;
  if (!file_backed) return DumpExtent::none;
  if (filter & kMappedPrivate) return DumpExtent::whole;
  if ((filter & kElfHeaders) && vma.offset == 0 && !vma.perms.empty() && vma.perms[0] == 'r' &&
      starts_with_elf(vma.start)) {
    return DumpExtent::first_page;
  }
  return DumpExtent::none;
}

}  // namespace pagescan::dump
