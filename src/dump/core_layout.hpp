// Where everything goes in a core file: the ELF header, the program headers and the
// notes in a header area at the start, then each segment's contents at a page-aligned
// offset, so that pages without data are real filesystem holes.
//
// Offsets are stable across the dumps of one dumper: a segment whose mapping is the same
// as in the previous layout (same range, file and dump extent) keeps its offset, and new
// ones go after the end of the previous file. What was copied for a mapping then stays
// valid in place: pre-copy passes rewrite only what changed, and an incremental core is
// the previous file plus what changed. The header area gets room to spare for notes
// that grow (threads, mappings); when they outgrow it, everything is laid out afresh.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dump/core_filter.hpp"
#include "pagescan/watch.hpp"
#include "proc/maps.hpp"

namespace pagescan::dump {

struct Segment {
  std::uint64_t start = 0, end = 0;  // p_vaddr, p_vaddr + p_memsz
  std::uint32_t flags = 0;           // PF_R | PF_W | PF_X from the permissions
  DumpExtent extent = DumpExtent::none;
  bool shared = false;       // MAP_SHARED: others may write it, no write tracking holds
  std::uint64_t inode = 0;   // with start, end, offset and extent: the same mapping
  std::uint64_t pgoff = 0;   // the mapping's file offset (bytes)
  std::uint64_t offset = 0;  // p_offset (0 when nothing is in the file)
  bool fresh = true;         // placed anew: nothing of it in the file yet
  // When not fresh: the parts (addresses) with nothing in the file yet, the rest being
  // the same mapping as before or moved from the previous segments that covered it.
  std::vector<PageRange> new_parts;
  bool whole_range = false;  // its contents are every page (contents_are_whole_range)

  std::uint64_t file_size(std::uint64_t page) const {
    return extent == DumpExtent::whole ? end - start : extent == DumpExtent::first_page ? page : 0;
  }
  // Whether the file bytes of `o` (a previous segment) for addresses both cover can be
  // moved into this one: both anonymous private memory, dumped whole, read from pagemap.
  bool takes_from(const Segment& o) const {
    return extent == DumpExtent::whole && o.extent == DumpExtent::whole && inode == 0 &&
           o.inode == 0 && !shared && !o.shared && !whole_range && !o.whole_range &&
           o.start < end && start < o.end;
  }
  bool same_mapping(const Segment& o) const {
    return start == o.start && end == o.end && inode == o.inode && pgoff == o.pgoff &&
           extent == o.extent;
  }
};

// Part of a previous segment whose addresses are in a new one (a VMA that grew, shrank,
// split or merged with a neighbour): its file bytes move to the new segment's offset.
struct Relocation {
  std::uint64_t from = 0, to = 0, length = 0;  // file offsets, bytes
};

struct CoreLayout {
  std::vector<Segment> segments;  // ascending by address
  std::uint64_t header_area = 0;  // bytes reserved from offset 0 (page multiple)
  std::uint64_t file_end = 0;     // the file's size
  // Segments of the previous layout not in this one: their file ranges to free.
  std::vector<Segment> dropped;
  // Copies to make before anything else (then `dropped` can be freed).
  std::vector<Relocation> relocations;
};

// Places `segments` (ascending, offsets not set) given the notes' size and the previous
// layout (nullptr: the first).
CoreLayout place(std::vector<Segment> segments, std::uint64_t notes_size, std::uint64_t page,
                 const CoreLayout* previous);

// The ELF header and program headers (PT_NOTE first, then one PT_LOAD per segment).
std::string elf_headers(const CoreLayout& layout, std::uint64_t notes_size, std::uint64_t page);

// Where the notes start: right after the program headers.
std::uint64_t notes_offset(const CoreLayout& layout);

}  // namespace pagescan::dump
