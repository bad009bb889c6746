// Building blocks of the differential-test scenarios (scenarios.hpp): a Layout places
// labelled mappings one after another in a fresh slot with MAP_FIXED_NOREPLACE, and
// small helpers touch pages, register them with a uffd, install guards and page them out.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "proc/maps.hpp"
#include "support/scenarios.hpp"

namespace pagescan::test::layout {

inline constexpr std::uint64_t kPmd = kThpSize;

// The calling process's VMA holding `addr` (from smaps), if any.
std::optional<proc::Vma> vma_at(const void* addr);

// Writes (a distinct byte per page) or reads pages [first, first + count) of `p`.
void touch_write(char* p, std::size_t first, std::size_t count, char base = 1);
void touch_read(char* p, std::size_t first, std::size_t count);

// Registers [addr, addr + len) for uffd write-protect with the scenario's async uffd
// (created on first use), protecting it too when `protect`. False (and the scenario
// skipped with the reason) on failure.
bool uffd_register(Scenario& s, void* addr, std::size_t len, bool protect);
// MADV_GUARD_INSTALL over pages [first, first + count).
bool guard(char* p, std::size_t first, std::size_t count);
// MADV_PAGEOUT over pages [first, first + count); true when every page left memory
// (`anon`: the swap bit 62 is set; shmem: no longer present). `why` says what stayed.
bool page_out(char* p, std::size_t first, std::size_t count, bool anon, std::string& why);

// Places mappings one after another in a fresh 1 GiB slot, recording each as a part.
// Every placing call returns nullptr on failure, with the reason in last_error().
class Layout {
 public:
  explicit Layout(Scenario& s);

  const std::string& last_error() const { return error_; }
  void gap(std::size_t pages);      // leave pages unmapped
  void align(std::uint64_t bytes);  // leave unmapped up to the next multiple of `bytes`

  char* map(const std::string& label, std::size_t len, int prot, int flags, int fd = -1);
  // Private anonymous pages, MADV_NOHUGEPAGE (never THP, whatever the system's mode).
  char* anon(const std::string& label, std::size_t pages, int prot = PROT_READ | PROT_WRITE);
  // A temporary regular file (on disk, not tmpfs) of `pages` pages of 'f'.
  char* file(const std::string& label, std::size_t pages, bool shared,
             int prot = PROT_READ | PROT_WRITE);
  // A memfd of `pages` pages; the first `filled` pages hold data written with pwrite().
  char* memfd(const std::string& label, std::size_t pages, bool shared, std::size_t filled = 0);
  // MAP_HUGETLB, PMD-aligned, `count` default-size huge pages.
  char* hugetlb(const std::string& label, std::size_t count, bool shared);
  // A MADV_HUGEPAGE area of `blocks` PMD blocks; the blocks in `touch` are written once
  // (each becomes a THP) and the area must end up with exactly that many PMD mappings.
  // MADV_NOHUGEPAGE afterwards keeps khugepaged from changing it while it is scanned.
  char* thp(const std::string& label, std::size_t blocks, const std::vector<std::size_t>& touch);
  // `blocks` PMD blocks mapped PROT_READ with MADV_HUGEPAGE, the first read once: the
  // huge zero page (kernel-pagemap-scan.md §7 zeropfn_tests). Needs use_zero_page=1.
  char* huge_zero(const std::string& label, std::size_t blocks);
  // A SysV shm segment attached at the cursor (removed at its last detach).
  char* shm(const std::string& label, std::size_t pages);

  // Ends the window with a trailing gap and records window and slot in the scenario.
  void finish();
  // Records a failed optional part of a larger layout: its address range stays a gap.
  void omit(const std::string& what);

 private:
  Scenario& s_;
  std::uint64_t slot_;
  std::uint64_t window_start_;
  std::uint64_t cursor_;
  std::string error_;
};

}  // namespace pagescan::test::layout
