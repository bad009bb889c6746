// Parsing /proc/PID/maps and /proc/PID/smaps into VMAs.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pagescan/result.hpp"

namespace pagescan::proc {

struct Vma {
  std::uint64_t start = 0;
  std::uint64_t end = 0;
  std::string perms;  // "rw-p"
  std::uint64_t offset = 0;
  std::uint64_t inode = 0;
  std::string path;  // "" for anonymous, "[heap]", "/usr/lib/..."

  // smaps only (0 / empty when read from maps).
  std::uint64_t kernel_page_size = 0;  // bytes
  std::uint64_t rss = 0;               // bytes resident
  std::uint64_t swap = 0;              // bytes swapped out
  std::uint64_t anon_huge_pages = 0;   // bytes mapped by PMD (AnonHugePages)
  std::uint64_t shmem_pmd_mapped = 0;  // bytes
  std::uint64_t file_pmd_mapped = 0;   // bytes
  std::vector<std::string> vm_flags;   // two-letter VmFlags codes

  bool shared() const { return perms.size() > 3 && perms[3] == 's'; }
  bool has_flag(std::string_view code) const;
  // VM_PFNMAP ("pf"): never walked by PAGEMAP_SCAN.
  bool pfnmap() const { return has_flag("pf"); }
  // VM_HUGETLB ("ht").
  bool hugetlb() const { return has_flag("ht"); }
  // Registered with userfaultfd in write-protect mode ("uw").
  bool uffd_wp() const { return has_flag("uw"); }
  // VM_SOFTDIRTY ("sd").
  bool soft_dirty() const { return has_flag("sd"); }
  // Private anonymous memory (no file, not shared; [heap], [stack] included).
  bool private_anonymous() const { return !shared() && inode == 0 && !special(); }
  // [vdso], [vvar], [vsyscall] and the like, but not [heap] / [stack].
  bool special() const;
  std::uint64_t pmd_mapped_bytes() const {
    return anon_huge_pages + shmem_pmd_mapped + file_pmd_mapped;
  }
};

// Parses maps or smaps text. Errors name the line that could not be read.
Result<std::vector<Vma>> parse_maps(std::string_view text);

// Reads /proc/PID/smaps (or maps when `with_details` is false) of `pid` (0: self).
Result<std::vector<Vma>> read_vmas(pid_t pid, bool with_details);

// The same, but only the VMAs that start below `end`: the file is read no further than
// the first record of a VMA at or above it, so the kernel never formats (for smaps: never
// walks the page tables of) the VMAs past the range a scan needs.
Result<std::vector<Vma>> read_vmas_below(pid_t pid, bool with_details, std::uint64_t end);

}  // namespace pagescan::proc
