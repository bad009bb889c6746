// Placing a core's parts in its file (see core_layout.hpp).
#include "dump/core_layout.hpp"

#include <elf.h>

#include <algorithm>
#include <cstring>

namespace pagescan::dump {

namespace {

std::uint64_t round_up(std::uint64_t n, std::uint64_t to) {
  return (n + to - 1) / to * to;
}

std::uint64_t headers_size(std::size_t segments) {
  return sizeof(Elf64_Ehdr) + (segments + 1) * sizeof(Elf64_Phdr);
}

}  // namespace

std::uint64_t notes_offset(const CoreLayout& layout) {
  return headers_size(layout.segments.size());
}

CoreLayout place(std::vector<Segment> segments, std::uint64_t notes_size, std::uint64_t page,
                 const CoreLayout* previous) {
  CoreLayout layout;
  const std::uint64_t needed = headers_size(segments.size()) + notes_size;
  const bool reuse = previous && needed <= previous->header_area;
  // Room for the notes and program headers to double, plus 64 KiB, before a relayout.
  layout.header_area = reuse ? previous->header_area : round_up(2 * needed + (64 << 10), page);
  std::uint64_t end = reuse ? std::max(previous->file_end, layout.header_area) : layout.header_area;
  std::vector<bool> kept(reuse ? previous->segments.size() : 0, false);
  for (Segment& s : segments) {
    s.fresh = true;
    if (s.file_size(page) == 0) continue;
    if (reuse) {
      // Both lists ascend: a binary search by start finds the candidate.
      const auto& old = previous->segments;
      auto it = std::lower_bound(old.begin(), old.end(), s.start,
                                 [](const Segment& o, std::uint64_t a) { return o.start < a; });
      if (it != old.end() && it->same_mapping(s) && it->file_size(page) > 0) {
        s.offset = it->offset;
        s.fresh = false;
        kept[static_cast<std::size_t>(it - old.begin())] = true;
        continue;
      }
    }
    s.offset = end;
    end += round_up(s.file_size(page), page);
    if (!reuse) continue;
    // Moved in from the previous segments its addresses overlap (a VMA that changed
    // extent): the file keeps being a copy of what the pre-copy or the last core read.
    std::uint64_t at = s.start;
    const auto& old = previous->segments;
    auto it = std::lower_bound(old.begin(), old.end(), s.start,
                               [](const Segment& o, std::uint64_t a) { return o.end <= a; });
    for (; it != old.end() && it->start < s.end; ++it) {
      if (!s.takes_from(*it)) continue;
      const std::uint64_t lo = std::max(s.start, it->start), hi = std::min(s.end, it->end);
      layout.relocations.push_back(
          Relocation{it->offset + (lo - it->start), s.offset + (lo - s.start), hi - lo});
      if (lo > at) s.new_parts.push_back(PageRange{at, lo});
      at = hi;
      s.fresh = false;
    }
    if (!s.fresh && at < s.end) s.new_parts.push_back(PageRange{at, s.end});
  }
  if (reuse) {
    for (std::size_t i = 0; i < kept.size(); ++i) {
      const Segment& o = previous->segments[i];
      if (!kept[i] && o.file_size(page) > 0) layout.dropped.push_back(o);
    }
  }
  // The file ends where its last segment ends; a freed tail is cut off.
  std::uint64_t last = layout.header_area;
  for (const Segment& s : segments) {
    if (s.file_size(page) > 0) last = std::max(last, s.offset + round_up(s.file_size(page), page));
  }
  layout.file_end = last;
  layout.segments = std::move(segments);
  return layout;
}

std::string elf_headers(const CoreLayout& layout, std::uint64_t notes_size, std::uint64_t page) {
  Elf64_Ehdr eh{};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_ident[EI_OSABI] = ELFOSABI_NONE;
  eh.e_type = ET_CORE;
  eh.e_machine = EM_X86_64;
  eh.e_version = EV_CURRENT;
  eh.e_phoff = sizeof(Elf64_Ehdr);
  eh.e_ehsize = sizeof(Elf64_Ehdr);
  eh.e_phentsize = sizeof(Elf64_Phdr);
  eh.e_phnum = static_cast<Elf64_Half>(layout.segments.size() + 1);
  std::string out(reinterpret_cast<const char*>(&eh), sizeof eh);
  Elf64_Phdr note{};
  note.p_type = PT_NOTE;
  note.p_offset = notes_offset(layout);
  note.p_filesz = notes_size;
  note.p_align = 4;
  out.append(reinterpret_cast<const char*>(&note), sizeof note);
  for (const Segment& s : layout.segments) {
    Elf64_Phdr ph{};
    ph.p_type = PT_LOAD;
    ph.p_flags = s.flags;
    ph.p_offset = s.file_size(page) ? s.offset : 0;
    ph.p_vaddr = s.start;
    ph.p_filesz = s.file_size(page);
    ph.p_memsz = s.end - s.start;
    ph.p_align = page;
    out.append(reinterpret_cast<const char*>(&ph), sizeof ph);
  }
  return out;
}

}  // namespace pagescan::dump
