// The kernel's own accounting of a process's memory: the "Name: N kB" figures of
// /proc/PID/smaps (per VMA) and /proc/PID/smaps_rollup (the whole process), and how the
// non-present page-table entries of a range split into swap entries and PTE markers.
//
// A scan sees page-table entries; smaps counts pages the kernel accounts to a VMA. They
// differ where the page table says nothing: a swapped-out shmem page is pte_none (smaps'
// Swap counts it, from the shmem mapping), and a PTE marker (guard, uffd-wp) is a
// non-present entry that PAGEMAP_SCAN reports as SWAPPED but smaps never counts as swap.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

#include "pagescan/process.hpp"
#include "pagescan/result.hpp"

namespace pagescan {

// The kB lines of smaps_rollup, in the kernel's order (6.18). Per-VMA smaps prints the
// same lines except Pss_Anon, Pss_File and Pss_Shmem (rollup only). Older kernels lack
// some (Pss_Dirty before 6.0, KSM before 6.7): SmapsFigures::has() says which were shown.
enum class SmapsField : std::uint8_t {
  rss,
  pss,
  pss_dirty,
  pss_anon,
  pss_file,
  pss_shmem,
  shared_clean,
  shared_dirty,
  private_clean,
  private_dirty,
  referenced,
  anonymous,
  ksm,
  lazy_free,
  anon_huge_pages,
  shmem_pmd_mapped,
  file_pmd_mapped,
  shared_hugetlb,
  private_hugetlb,
  swap,
  swap_pss,
  locked,
};
inline constexpr std::size_t kSmapsFieldCount = 22;

// The kernel's name of the line: "Rss", "Pss_Dirty", "AnonHugePages", "SwapPss", ...
std::string_view smaps_name(SmapsField field);
// The field of a kernel line name; nullopt for lines that are not figures (Size,
// KernelPageSize, THPeligible, VmFlags, ...).
std::optional<SmapsField> smaps_field_named(std::string_view name);

// The figures of one smaps record, in bytes (the kernel prints kB).
struct SmapsFigures {
  std::array<std::uint64_t, kSmapsFieldCount> bytes{};
  std::uint32_t shown = 0;  // bit i: the kernel printed field i

  bool has(SmapsField f) const { return (shown >> static_cast<unsigned>(f)) & 1u; }
  std::uint64_t operator[](SmapsField f) const { return bytes[static_cast<std::size_t>(f)]; }
  void set(SmapsField f, std::uint64_t value) {
    bytes[static_cast<std::size_t>(f)] = value;
    shown |= 1u << static_cast<unsigned>(f);
  }
  // Adds every field of `other` (a field is shown when either shows it).
  void add(const SmapsFigures& other);
};

// The process's /proc/PID/smaps_rollup: the same walk as smaps over every VMA, summed by
// the kernel. Pss lines are summed before the kernel truncates them to kB, so the sum of
// the per-VMA Pss lines can fall short of the rollup's by less than 1 kB per VMA.
// Errors: no_such_process, permission (as read_memory_map()), unsupported (no
// smaps_rollup: before 4.14).
Result<SmapsFigures> read_smaps_rollup(const Process& process);

// The non-present, non-empty entries of a range, by what they are. PAGEMAP_SCAN and
// pagemap's bit 62 call all of them "swapped"; only the swap type in pagemap's frame field
// tells them apart, and the kernel fills that field only for an opener with CAP_SYS_ADMIN.
struct NonPresentEntries {
  // Swap entries: swap types below the PTE-marker type (31). Migration and device entries
  // have types there too; they are transient, so they count here.
  std::uint64_t swap = 0;
  std::uint64_t uffd_wp_markers = 0;  // PTE_MARKER_UFFD_WP (offset bit 0)
  std::uint64_t guard_markers = 0;    // PTE_MARKER_GUARD (offset bit 2; MADV_GUARD_INSTALL)
  std::uint64_t other_markers = 0;    // PTE_MARKER_POISONED and markers this code does not know
  std::uint64_t markers() const { return uffd_wp_markers + guard_markers + other_markers; }
};

// Counts the non-present entries of [start, end) (page-aligned) from /proc/PID/pagemap.
// Hugetlb VMAs show no swapped bit in pagemap, so they count nothing here (and a hugetlb
// page is never swapped out: their non-present entries are markers or migration).
// Errors: unsupported when the swap types are hidden (the caller lacks CAP_SYS_ADMIN in
// the initial user namespace: a swapped entry reads with a zero frame), no_such_process,
// kernel_failure (a pagemap read failed). Thread-safe.
Result<NonPresentEntries> count_non_present(const Process& process, std::uint64_t start,
                                            std::uint64_t end);

}  // namespace pagescan
