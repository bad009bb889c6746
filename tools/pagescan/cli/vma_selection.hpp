// Naming VMAs for people: `--vma NAME|ADDR` (scan, map) chooses one mapping's range, and
// each VMA gets a name a row can show ("[heap]", "[anon]", "/usr/lib/libc.so.6", shortened
// to fit a column by keeping the file name).
//
// The rule for NAME, first that applies:
//   - a number (it starts with a digit: 0x7f12a000, 4096): the VMA containing that address;
//   - "[...]" or a path with a '/': the VMAs whose path is exactly that;
//   - a bare word that names a kernel mapping in brackets (heap, stack, vdso, vvar,
//     vsyscall, anon:NAME): the VMAs whose path is "[word]";
//   - otherwise a file name: the VMAs whose path's file name is NAME or starts with NAME
//     followed by '.' or '-' ("libc" is libc.so.6 and libc-2.31.so, never libcap.so.2).
// A name must pick out one file and its VMAs must lie together (no other VMA between the
// first and the last; gaps are fine): the selection is from the first one's start to the
// last one's end. Otherwise the error lists what matched, so the person can be precise.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/arguments.hpp"
#include "pagescan/memory_map.hpp"

namespace pagescan::cli {

// --vma as typed, its form checked before the process is opened.
struct VmaSelector {
  std::string text;                      // as typed, for messages
  std::optional<std::uint64_t> address;  // a number: the VMA containing it
};
// Errors: "bad --vma '': expected a VMA name (heap, stack, vdso, a file name such as libc
// or a path) or an address in one", and parse_number's for a malformed number.
Parsed<VmaSelector> parse_vma_selector(std::string_view text);

// The VMAs chosen, as indexes [first, last] into the map, and the range they span.
struct VmaSelection {
  std::size_t first = 0;
  std::size_t last = 0;
  AddressRange range;
};
// Chooses in `vmas` (address order, as read_memory_map gives them). Usage errors (the
// value does not fit this process), naming the value and what this process has:
//   "bad --vma '0x1000': no VMA of pid 42 contains 0x1000"
//   "bad --vma 'libz': no VMA of pid 42 is named so (it has [heap], [stack], libc.so.6, …)"
//   "bad --vma 'lib': it matches 2 files (libc.so.6, libm.so.6): give more of the name"
//   "bad --vma '[anon:x]': its VMAs lie apart (at 0x1000 and 0x9000, other VMAs between):
//    give an address in the one you want"
Parsed<VmaSelection> select_vmas(const VmaSelector& selector, const std::vector<MappedRegion>& vmas,
                                 pid_t pid);

// "--vma 'heap' contradicts --range '0x1000-0x2000' (both choose the range: give one)".
UsageError vma_contradicts_range(const std::string& vma, const std::string& range);

// What a row calls a VMA: its path as /proc/PID/maps shows it, "[anon]" for anonymous memory.
std::string vma_name(const MappedRegion& vma);
// vma_name() in at most `columns` display columns (shorten_path: the file name kept).
std::string short_vma_name(const MappedRegion& vma, std::size_t columns);

}  // namespace pagescan::cli
