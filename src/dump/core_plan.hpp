// What one pass of a dump works from, read from the target: its mappings (smaps, for
// VmFlags), the pages that hold data (one PAGEMAP_SCAN over the user address space:
// present or swapped, not the zero page), and from those the segments the core has.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "dump/core_layout.hpp"
#include "pagescan/process.hpp"
#include "pagescan/scan.hpp"
#include "pagescan/watch.hpp"
#include "proc/maps.hpp"

namespace pagescan::dump {

struct TargetPicture {
  std::vector<proc::Vma> vmas;    // sorted, [vsyscall] left out
  std::vector<PageRange> data;    // pages holding data, ascending, coalesced
  std::vector<PageRange> anon;    // the part of `data` that is not page cache
  std::vector<Segment> segments;  // one per VMA, offsets not placed
};

// The target's coredump_filter (/proc/PID/coredump_filter), or `override`.
Result<std::uint32_t> coredump_filter(pid_t pid, const std::optional<std::uint32_t>& override);

// Reads the picture. `starts_with_elf` reads the first bytes of a file mapping (only
// for candidates of the ELF-header rule). With `before` (the picture of the previous
// pass), `written` (the pages written since, from the watch) and `armed` (what the watch
// tracks), a pass reads maps instead of smaps when every mapping is as before (their
// VmFlags are taken from `before`; with `fresh_flags` smaps is read all the same) and
// scans only the written and untracked memory, which keeps page-table walks of unchanged
// memory out of the stop and out of later passes.
Result<TargetPicture> read_picture(const Process& process, std::uint32_t filter,
                                   std::uint64_t user_limit,
                                   const std::function<bool(std::uint64_t)>& starts_with_elf,
                                   const TargetPicture* before = nullptr,
                                   const std::vector<PageRange>& written = {},
                                   const std::vector<PageRange>& armed = {},
                                   bool fresh_flags = false);

// A generous guess of the notes' size for `threads` threads and these mappings, to
// reserve the header area before the real notes exist (read while frozen).
std::uint64_t estimate_notes_size(std::size_t threads, const std::vector<proc::Vma>& vmas);

// Range algebra on ascending, coalesced lists.
std::vector<PageRange> intersect(const std::vector<PageRange>& a, const std::vector<PageRange>& b);
std::vector<PageRange> subtract(const std::vector<PageRange>& a, const std::vector<PageRange>& b);
std::vector<PageRange> unite(std::vector<PageRange> a, const std::vector<PageRange>& b);
std::vector<PageRange> clip(const std::vector<PageRange>& a, std::uint64_t lo, std::uint64_t hi);
std::uint64_t total_bytes(const std::vector<PageRange>& a);

}  // namespace pagescan::dump
