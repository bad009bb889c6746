// How the census groups its spans into runs, each scanned as one address range with one
// request (page_census.cpp). A call costs about 2 µs before it walks anything, so a small
// process (dozens of mappings, libraries alternating with their .bss) should not pay a
// call or more per mapping. Spans join a run when:
//   - they ask the same: FILE where a private file mapping needs it, not elsewhere; or a
//     small span that does not need FILE joins a run that asks it (FILE costs a look at
//     the struct page of each present page, about 50 ns: less than a call for 32 pages);
//   - and nothing lies between them that the walk would pay for: they touch, or (for a
//     census of the whole process, where every counted mapping is a span) the gap holds
//     no mapping bigger than a small span (the kernel skips unmapped address space in
//     O(1), and kernel mappings such as [vdso] are a few pages).
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "census/census_tally.hpp"

namespace pagescan::census {

// Spans no larger than this may ride along in a run that asks FILE.
inline constexpr std::uint64_t kSmallSpanBytes = 128u << 10;

struct Run {
  std::size_t first = 0, last = 0;  // spans [first, last)
  bool ask_file = false;
};

// The runs over `spans` (sorted, disjoint). `join_gaps`: the spans are every counted
// mapping of the process. `uncounted`: the mappings that are not spans, sorted, as
// [start, end) ranges; a gap holding one bigger than kSmallSpanBytes is never joined.
std::vector<Run> plan_runs(const std::vector<KindSpan>& spans, bool join_gaps,
                           const std::vector<std::pair<std::uint64_t, std::uint64_t>>& uncounted);

// The address at which a call from `from` (inside the run, or in one of its gaps) covers
// `budget` bytes of the run's spans: gaps cost nothing, so steps count mapped bytes.
std::uint64_t stop_after(const std::vector<KindSpan>& spans, const Run& run, std::uint64_t from,
                         std::uint64_t budget);

}  // namespace pagescan::census
