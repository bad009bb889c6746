// Keeps transparent huge pages off a watched range while it is watched, touching only the
// VMAs that could get PMD-mapped THPs there, and gives them their advice back afterwards.
#pragma once

#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "proc/maps.hpp"

namespace pagescan::watch {

// A PMD-mapped THP has one write-protect / soft-dirty state for 2 MiB (and one write to
// it re-arms 2 MiB at once under mprotect), so the engines keep THP off the range unless
// the caller asked for keep_huge_pages (docs/write-tracking.md, "Huge pages").
//
// A VMA can get PMD-mapped THPs when THP is not "never", the VMA is not hugetlb, it is
// advised MADV_HUGEPAGE (`hg`) or THP is "always" and it is not advised MADV_NOHUGEPAGE
// (`nh`), and it holds a whole PMD-aligned block overlapping the range. Only the parts of
// the range in such VMAs get MADV_NOHUGEPAGE, so a watch over a plain mapping (THP in
// madvise mode) leaves it untouched: no `nh`, no VMA split. On destruction those parts get
// MADV_HUGEPAGE back, where they still carry `nh`: `hg` was there before, and a neutral
// VMA under "always" has no way back to neutral (madvise can only set `hg` or `nh`), so it
// gets `hg`, which keeps it as eligible for THP as it was.
class ThpGuard {
 public:
  ThpGuard() = default;  // guards nothing

  // Advises MADV_NOHUGEPAGE where needed on [start, end). `vmas` are the process's VMAs
  // from smaps covering at least the range (proc::read_vmas_below(0, true, end)); those
  // outside the range are ignored. The other overload reads them itself. A madvise that
  // fails leaves that part as it was (with THP possible: coarser results, nothing lost).
  static ThpGuard disable(std::uint64_t start, std::uint64_t end,
                          const std::vector<proc::Vma>& vmas);
  static ThpGuard disable(std::uint64_t start, std::uint64_t end);

  // Whether `v` could get a PMD-mapped THP covering part of [lo, hi) (clipped to `v`)
  // under THP mode `thp_mode` ("always", "madvise", "never", "" when absent).
  static bool could_get_thp(const proc::Vma& v, std::uint64_t lo, std::uint64_t hi,
                            std::string_view thp_mode, std::uint64_t pmd_size);

  ThpGuard(ThpGuard&& other) noexcept : parts_(std::exchange(other.parts_, {})) {}
  ThpGuard& operator=(ThpGuard&& other) noexcept;
  ThpGuard(const ThpGuard&) = delete;
  ThpGuard& operator=(const ThpGuard&) = delete;
  ~ThpGuard() { restore(); }

  // Gives the advice back now (once).
  void restore();
  // Forgets the range without touching it: it is not ours any more (another watch owns
  // its registration now).
  void dismiss() { parts_.clear(); }
  // Whether any part of the range was advised MADV_NOHUGEPAGE.
  bool active() const { return !parts_.empty(); }

 private:
  struct Part {
    std::uint64_t start;
    std::uint64_t end;
  };
  std::vector<Part> parts_;  // advised MADV_NOHUGEPAGE by us, ascending
};

}  // namespace pagescan::watch
