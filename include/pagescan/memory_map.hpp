// A process's memory map: its VMAs with what backs them, for tools that show memory VMA
// by VMA (pagescan map) and for callers choosing ranges to scan.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pagescan/process.hpp"
#include "pagescan/result.hpp"
#include "pagescan/smaps.hpp"

namespace pagescan {

enum class Backing {
  anonymous,      // private anonymous memory
  heap,           // [heap]
  stack,          // [stack]
  file,           // a file mapping (private or shared)
  shared_memory,  // shared anonymous, memfd, SysV shm, /dev/shm, any file on tmpfs
  special,        // [vdso], [vvar], [vsyscall] and other kernel-provided mappings
};
// "anon", "heap", "stack", "file", "shm", "special".
std::string_view to_string(Backing backing);

struct MappedRegion {
  std::uint64_t start = 0;
  std::uint64_t end = 0;
  std::string perms;  // "rw-p"
  std::uint64_t offset = 0;
  std::string path;  // as /proc/PID/maps shows it ("" for anonymous)
  Backing backing = Backing::anonymous;
  std::uint64_t kernel_page_size = 0;  // hugetlb VMAs: the huge page size
  bool hugetlb = false;
  bool pfnmap = false;   // VM_PFNMAP: PAGEMAP_SCAN never walks it
  bool uffd_wp = false;  // registered for userfaultfd write-protect: WRITTEN is meaningful
  SmapsFigures smaps;    // the kernel's own figures for the VMA (Rss, Pss, Swap, ...)
  std::uint64_t length() const { return end - start; }
};

// The VMAs of the process, in address order, from its smaps (a running thread's once the
// main thread has exited: Process::proc_dir()). Errors: no_such_process (also when no
// thread runs any more), permission.
Result<std::vector<MappedRegion>> read_memory_map(const Process& process);

}  // namespace pagescan
