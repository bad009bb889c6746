// A page census of a process: bytes per mapping kind (heap, stack, anon, file, shmem) and
// page state (present, swapped, zero, huge, file, untouched, guard), from one streaming
// PAGEMAP_SCAN pass over its address space, issued in bounded chunks so that no single
// kernel call holds the target's mmap lock for long. For fleet metrics (`pagescan
// exporter`); it never reads smaps. Each call asks the kernel for the fewer entries: the
// present and swapped ones where memory is sparse (what they leave is untouched), every
// page but the plain present ones where it is dense (what they leave is present); see
// CensusWalk. It asks whether a page is a page-cache page only in private file mappings,
// where it cannot be known from the mapping: elsewhere the walk reads page-table entries
// only, never a struct page, which is what makes it cheaper than smaps
// (docs/benchmarks.md, "Page census").
//
// Every page of every mapping is counted once, in the first state of this order that
// applies, so a mapping kind's states add up to its mapped bytes:
//   guard      a MADV_GUARD_INSTALL marker (counted as swapped on kernels before 6.16,
//              whose PAGEMAP_SCAN cannot tell them)
//   swapped    any other non-present, non-empty entry: swapped out, migrating, a uffd-wp
//              marker
//   zero       the shared zero page or the huge zero page (resident, all zero)
//   huge       a PMD-mapped transparent huge page or a hugetlb page
//   file       a page-cache page: file, shmem, memfd (a written private file page is
//              anonymous and counts as present)
//   present    any other mapped page: anonymous memory that was written
//   untouched  mapped but empty in the page table: anonymous memory never written (a
//              reservation), or a file or shmem page this process has not faulted in.
//              A swapped-out shmem page is here too: its page-table entry is empty, and
//              only smaps (Swap) could tell it, which the census does not read.
// Kernel mappings ([vdso], [vvar], [vsyscall]) and VM_PFNMAP mappings are not counted.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <utility>

#include "pagescan/process.hpp"
#include "pagescan/result.hpp"
#include "pagescan/scan.hpp"

namespace pagescan {

enum class MappingKind { heap, stack, anon, file, shmem };
inline constexpr std::size_t kMappingKindCount = 5;
inline constexpr std::array<MappingKind, kMappingKindCount> kAllMappingKinds = {
    MappingKind::heap, MappingKind::stack, MappingKind::anon, MappingKind::file,
    MappingKind::shmem};
// "heap", "stack", "anon", "file", "shmem".
std::string_view to_string(MappingKind kind);

enum class PageState { present, swapped, zero, huge, file, untouched, guard };
inline constexpr std::size_t kPageStateCount = 7;
inline constexpr std::array<PageState, kPageStateCount> kAllPageStates = {
    PageState::present, PageState::swapped,   PageState::zero, PageState::huge,
    PageState::file,    PageState::untouched, PageState::guard};
// "present", "swapped", "zero", "huge", "file", "untouched", "guard".
std::string_view to_string(PageState state);

struct PageCensus {
  // bytes[kind][state].
  std::array<std::array<std::uint64_t, kPageStateCount>, kMappingKindCount> bytes{};
  Backend backend = Backend::kernel;
  // Emulated backend only: categories whose answer may differ from the kernel's.
  Categories approximate;
  std::uint64_t kernel_calls = 0;  // PAGEMAP_SCAN calls issued
  // Calls that reported every page but the plain present ones (CensusWalk::dense).
  std::uint64_t dense_calls = 0;
  // The longest single kernel call, in nanoseconds: from a call's start (a request's, or
  // the end of the previous chunk's processing) to its chunk of regions arriving.
  std::uint64_t longest_call_ns = 0;
  // With CensusOptions::call_cpu_times, the longest call's cost in this thread's CPU time:
  // the call without the time the machine gave other work meanwhile (the target's lock is
  // held for the wall time all the same). 0 otherwise.
  std::uint64_t longest_call_cpu_ns = 0;

  std::uint64_t at(MappingKind kind, PageState state) const {
    return bytes[static_cast<std::size_t>(kind)][static_cast<std::size_t>(state)];
  }
  std::uint64_t& at(MappingKind kind, PageState state) {
    return bytes[static_cast<std::size_t>(kind)][static_cast<std::size_t>(state)];
  }
  // Every kind's bytes in `state`.
  std::uint64_t total(PageState state) const;
  // Adds `other`'s bytes and call counts (the longest call is the longer of the two).
  void add(const PageCensus& other);
};

// What each kernel call asks for. The census is the same either way; the cost is not. The
// kernel spends most of a call on the entries it reports (about 10 ns each on the bench
// machine, docs/benchmarks.md) and little on those it passes over (about 2 ns).
enum class CensusWalk {
  // Each call asks for the fewer entries, judged by the call before it: when more than
  // half of the pages a call covered were reported, the next call uses the other request.
  adaptive,
  // Present and swapped entries are reported; what is left is untouched. Cheap where most
  // of the address space is empty: reservations, sanitizer shadow.
  sparse,
  // Every page but plain present ones (present, not the zero page, not huge, and not page
  // cache in a private file mapping) is reported, including empty entries; what is left is
  // present. Cheap where most pages are written: heaps, arenas, caches.
  dense,
};

// How much one kernel call may walk. A call's cost is the page-table entries it visits:
// those it reports (bounded by max_pages), and those it passes over (bounded by the
// mapped bytes the call covers). Holes without page tables are skipped per PMD or PUD,
// nearly free, when the call does not report them, and unmapped address space costs
// nothing. Mappings are scanned in runs (mappings that ask the same, with nothing costly
// between them: a small process's dozens of mappings take a few calls, not one each).
// The first call of a run covers 2 MiB of its mappings (it tells the memory's density
// for a few microseconds), and each call after it twice the last call's (up to
// max_grown_range_bytes) when that call took under 25 µs and stopped at its end, else
// max_range_bytes (wall time: a preempted call only keeps the steps short). An ASan
// shadow reservation of 20 TiB then costs about 20 000 calls instead of 330 000, while
// any call stays within 1 GiB of empty entries passed over (about 0.5 ms) and max_pages
// reported ones (about 0.3 ms at the default).
struct CensusOptions {
  std::uint64_t max_range_bytes = 64ull << 20;
  std::uint64_t max_grown_range_bytes = 1ull << 30;
  std::uint64_t max_pages = 16384;  // reported pages per call (0: no limit)
  // Regions per kernel call (0: the library's default, 512).
  std::size_t chunk_regions = 0;
  BackendChoice backend = BackendChoice::automatic;
  CensusWalk walk = CensusWalk::adaptive;
  // Also time each call in CPU time (longest_call_cpu_ns): two more system calls a call
  // (a thread's CPU clock is not in the vDSO), for benchmarks.
  bool call_cpu_times = false;
  // When not empty, only these address ranges are counted ([start, end) pairs, sorted
  // and disjoint): a census of part of a process.
  std::span<const std::pair<std::uint64_t, std::uint64_t>> ranges;
};

// The census of `process`: its VMAs from /proc/PID/maps (no smaps), then the scan.
// Errors: no_such_process (exited, also mid-census), permission, unsupported (no
// PAGEMAP_SCAN and the emulator refused), kernel_failure.
Result<PageCensus> take_census(const Process& process, const CensusOptions& options = {});

}  // namespace pagescan
