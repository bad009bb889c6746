// Parsing /proc/PID/maps and /proc/PID/smaps into VMAs.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pagescan/result.hpp"
#include "pagescan/smaps.hpp"

namespace pagescan::proc {

struct Vma {
  std::uint64_t start = 0;
  std::uint64_t end = 0;
  std::string perms;  // "rw-p"
  std::uint64_t offset = 0;
  std::uint64_t inode = 0;
  std::uint32_t dev_major = 0, dev_minor = 0;  // the file's device ("00:1a" in maps)
  std::string path;                            // "" for anonymous, "[heap]", "/usr/lib/..."

  // smaps only (0 / empty when read from maps).
  std::uint64_t kernel_page_size = 0;  // bytes
  std::uint64_t rss = 0;               // bytes resident
  std::uint64_t swap = 0;              // bytes swapped out
  std::uint64_t anon_huge_pages = 0;   // bytes mapped by PMD (AnonHugePages)
  std::uint64_t shmem_pmd_mapped = 0;  // bytes
  std::uint64_t file_pmd_mapped = 0;   // bytes
  std::vector<std::string> vm_flags;   // two-letter VmFlags codes
  SmapsFigures figures;                // every "Name: N kB" figure line

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
// The read_vmas* functions below return a sorted, disjoint listing: the file is read in
// several read(2) calls, each under its own mmap lock, so on a changing target a VMA that
// grew down or moved between two of them is listed again below the previous entry's end.
// Each entry is clipped to start at the previous entry's end; one left empty is dropped.
std::vector<Vma> sorted_disjoint(std::vector<Vma> listed);

Result<std::vector<Vma>> read_vmas(pid_t pid, bool with_details);
// The same from a given /proc directory of `pid` (Process::proc_dir(): a live thread's
// once the main thread has exited, when the process's own smaps lists nothing).
Result<std::vector<Vma>> read_vmas_in(const std::string& dir, pid_t pid, bool with_details);

// The same, but only the VMAs that start below `end`: the file is read no further than
// the first record of a VMA at or above it, so the kernel never formats (for smaps: never
// walks the page tables of) the VMAs past the range a scan needs.
Result<std::vector<Vma>> read_vmas_below(pid_t pid, bool with_details, std::uint64_t end);

// Reads maps or smaps one record at a time through one open fd, so that memory holds one
// read's text, not the file, and a reader that stops early spares the kernel the records
// it would have formatted next (for smaps: their page-table walks). Each read(2) takes the
// target's mmap lock on its own and resumes at the address where the last one stopped,
// so the records are not one moment's picture: a VMA that grew or moved between two
// reads can be listed again starting below the end of the record before it. Callers that
// need a sorted, disjoint list clip (emulate/vma_window.hpp).
class VmaReader {
 public:
  VmaReader() = default;
  ~VmaReader() { close(); }
  VmaReader(VmaReader&& other) noexcept { *this = std::move(other); }
  VmaReader& operator=(VmaReader&& other) noexcept;
  VmaReader(const VmaReader&) = delete;
  VmaReader& operator=(const VmaReader&) = delete;

  // Opens /proc/PID/smaps (maps when `with_details` is false) of `pid` (0: self).
  static Result<VmaReader> open(pid_t pid, bool with_details);
  // The same from a given /proc directory of `pid` (a thread's /proc/PID/task/TID once the
  // main thread has exited: the process's own smaps then lists nothing).
  static Result<VmaReader> open_in(const std::string& dir, pid_t pid, bool with_details);

  bool is_open() const { return fd_ >= 0; }
  bool with_details() const { return details_; }
  // Reads the next record into `vma` (every field reset first). Returns true, or false at
  // the end of the file. An smaps record ends at its last line, VmFlags, so nothing past
  // it is asked of the kernel but what the same read(2) formatted ahead.
  Result<bool> next(Vma& vma);
  void close();

 private:
  // The next line (without its newline), valid until the next call; false at the end.
  Result<bool> next_line(std::string_view& line);
  Error malformed(std::string_view line) const;

  int fd_ = -1;
  bool details_ = false;
  pid_t pid_ = 0;
  std::string path_;
  std::string buf_;      // text read and not yet consumed, from pos_
  std::size_t pos_ = 0;  // the first unconsumed byte of buf_
  bool eof_ = false;
  std::size_t line_no_ = 0;
  Vma pending_;  // a header read ahead (it ended the record before it)
  bool has_pending_ = false;
  bool started_ = false;  // a header has been read
};

}  // namespace pagescan::proc
