// The census's bookkeeping (page_census.cpp): the counted mappings as sorted spans, and
// the tally that turns each kernel call's regions into bytes per (mapping, state).
#pragma once

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "pagescan/page_census.hpp"
#include "proc/backing.hpp"
#include "proc/maps.hpp"

namespace pagescan::census {

struct KindSpan {
  std::uint64_t start, end;
  MappingKind kind;
  // FILE must be asked: a private mapping of a file, whose pages are page cache or,
  // once written, anonymous copies. Elsewhere it is known from the mapping (private
  // anonymous: never; shared: always), and not asking for it spares the kernel a look
  // at every present page's struct page: the scan then reads page-table entries only.
  bool file_matters;
  bool all_file;  // a shared mapping: every page is page cache (file or shmem)
};

// The counted VMAs as (start, end, kind), sorted and disjoint, clipped to `ranges` when
// not empty. Kernel mappings and VM_PFNMAP mappings are left out.
std::vector<KindSpan> counted_spans(
    const std::vector<proc::Vma>& vmas, const proc::TmpfsDevices& tmpfs,
    std::span<const std::pair<std::uint64_t, std::uint64_t>> ranges);

// The state of a page the kernel reported with categories `c` (the first state of
// page_census.hpp's order that they say). `all_file`: a shared mapping, whose pages are
// all page cache, so FILE was not asked for.
PageState state_of(Categories c, bool all_file);

// What a call did not report is known from what the call asked for: the pages it left
// are untouched when it reported the occupied entries (present or swapped), and plain
// present pages (present, or file in a shared mapping) when it reported the rest.
enum class Left { untouched, plain_present };

// Adds calls' regions to a census, split at the spans (the kernel merges equal pages
// across adjacent VMAs). Calls come in ascending address order, and a call's regions
// are ascending, disjoint and inside the call's range.
class Tally {
 public:
  // Every span's bytes start untouched.
  Tally(const std::vector<KindSpan>& spans, PageCensus& census);
  // A call covered [from, to) and left what it did not report as `left`; the bytes of
  // the spans in [from, to) (the rest is unmapped, or mappings the census leaves out).
  std::uint64_t cover(std::uint64_t from, std::uint64_t to, Left left);
  // One of its regions: its pages move from what the call left to their state.
  void add(const PageRegion& region, Left left);

 private:
  template <typename Fn>
  void each_overlap(std::uint64_t start, std::uint64_t end, Fn&& fn);
  PageState left_state(const KindSpan& span, Left left) const;

  const std::vector<KindSpan>& spans_;
  PageCensus& census_;
  std::size_t next_ = 0;  // the first span that may end after the calls' position
};

}  // namespace pagescan::census
