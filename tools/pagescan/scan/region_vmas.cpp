// Which VMA each scanned region lies in. PAGEMAP_SCAN merges adjacent pages with the same
// categories into one region even across a VMA boundary (kernel-pagemap-scan.md §3.3),
// though never across a gap; the VMAs come from smaps, read before the scan. Regions
// and VMAs are both in address order, so one pass over each suffices.
#include <algorithm>

#include "scan/scan_report.hpp"

namespace pagescan::cli {

namespace {

// Calls fn(lo, hi, vma index or kNoVma, region) for each piece of each region cut at VMA
// boundaries; a piece no VMA covers (one mapped after the map was read) gets kNoVma.
template <class Fn>
void for_each_piece(const std::vector<PageRegion>& regions, const std::vector<MappedRegion>& vmas,
                    Fn fn) {
  std::size_t v = 0;
  for (const PageRegion& region : regions) {
    std::uint64_t at = region.start;
    while (at < region.end) {
      while (v < vmas.size() && vmas[v].end <= at) ++v;
      if (v == vmas.size() || vmas[v].start >= region.end) {
        fn(at, region.end, kNoVma, region);
        break;
      }
      if (vmas[v].start > at) {  // not covered up to the VMA's start
        fn(at, vmas[v].start, kNoVma, region);
        at = vmas[v].start;
      }
      const std::uint64_t hi = std::min(region.end, vmas[v].end);
      fn(at, hi, v, region);
      at = hi;
    }
  }
}

}  // namespace

void split_regions_at_vmas(ScanReport& report) {
  std::vector<PageRegion> pieces;
  std::vector<std::size_t> owners;
  for_each_piece(report.result.regions, report.vmas,
                 [&](std::uint64_t lo, std::uint64_t hi, std::size_t vma, const PageRegion& r) {
                   PageRegion piece = r;
                   piece.start = lo;
                   piece.end = hi;
                   pieces.push_back(piece);
                   owners.push_back(vma);
                 });
  report.result.regions = std::move(pieces);
  report.region_vma = std::move(owners);
  report.with_vma = true;
}

std::uint64_t count_untracked_written(const ScanReport& report) {
  std::uint64_t pages = 0;
  for_each_piece(report.result.regions, report.vmas,
                 [&](std::uint64_t lo, std::uint64_t hi, std::size_t vma, const PageRegion& r) {
                   if (vma != kNoVma && !report.vmas[vma].uffd_wp &&
                       r.categories.contains(Category::written)) {
                     pages += (hi - lo) / report.page_size;
                   }
                 });
  return pages;
}

}  // namespace pagescan::cli
