// Lists of page ranges, ascending and coalesced, as the remote watch keeps them (armed,
// pending, reported).
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "pagescan/watch.hpp"

namespace pagescan::remote {

// Adds [lo, hi) to an ascending, coalesced list.
inline void add_range(std::vector<PageRange>& ranges, std::uint64_t lo, std::uint64_t hi) {
  if (lo >= hi) return;
  // In order (a harvest arrives ascending): only the last range can touch it. Without
  // this, building a Harvest of n ranges re-sorted and copied the list n times, O(n^2):
  // 2.1 s for 26 000 scattered pages (docs/benchmarks.md, remote write tracking).
  if (ranges.empty() || lo >= ranges.back().start) {
    if (!ranges.empty() && lo <= ranges.back().end) {
      ranges.back().end = std::max(ranges.back().end, hi);
    } else {
      ranges.push_back(PageRange{lo, hi});
    }
    return;
  }
  ranges.push_back(PageRange{lo, hi});
  std::sort(ranges.begin(), ranges.end(),
            [](const PageRange& a, const PageRange& b) { return a.start < b.start; });
  std::vector<PageRange> merged;
  for (const PageRange& r : ranges) {
    if (!merged.empty() && r.start <= merged.back().end) {
      merged.back().end = std::max(merged.back().end, r.end);
    } else {
      merged.push_back(r);
    }
  }
  ranges = std::move(merged);
}

// The parts of [lo, hi) not covered by `covered` (ascending, coalesced).
inline std::vector<PageRange> uncovered(std::uint64_t lo, std::uint64_t hi,
                                        const std::vector<PageRange>& covered) {
  std::vector<PageRange> gaps;
  std::uint64_t at = lo;
  for (const PageRange& c : covered) {
    if (c.end <= at) continue;
    if (c.start >= hi) break;
    if (c.start > at) gaps.push_back(PageRange{at, std::min(c.start, hi)});
    at = std::max(at, c.end);
    if (at >= hi) break;
  }
  if (at < hi) gaps.push_back(PageRange{at, hi});
  return gaps;
}

// `ranges` without `cut`.
inline std::vector<PageRange> subtract(const std::vector<PageRange>& ranges, const PageRange& cut) {
  std::vector<PageRange> out;
  for (const PageRange& r : ranges) {
    for (const PageRange& piece : uncovered(r.start, r.end, {cut})) out.push_back(piece);
  }
  return out;
}

// The parts of `ranges` inside [lo, hi).
inline std::vector<PageRange> clipped(const std::vector<PageRange>& ranges, std::uint64_t lo,
                                      std::uint64_t hi) {
  std::vector<PageRange> out;
  for (const PageRange& r : ranges) {
    if (r.end > lo && r.start < hi)
      out.push_back(PageRange{std::max(r.start, lo), std::min(r.end, hi)});
  }
  return out;
}

// The parts of `ranges` inside any of `within` (both ascending, coalesced).
inline std::vector<PageRange> intersect(const std::vector<PageRange>& ranges,
                                        const std::vector<PageRange>& within) {
  std::vector<PageRange> out;
  for (const PageRange& w : within) {
    for (const PageRange& r : clipped(ranges, w.start, w.end)) out.push_back(r);
  }
  return out;
}

}  // namespace pagescan::remote
