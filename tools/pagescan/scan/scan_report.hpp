// What `pagescan scan` shows: the request and the complete scan's answer.
#pragma once

#include <cstdio>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pagescan/memory_map.hpp"
#include "pagescan/scan.hpp"

namespace pagescan::cli {

struct ScanReport {
  pid_t pid = 0;
  std::uint64_t page_size = 4096;
  std::uint64_t start = 0;
  std::uint64_t end = 0;
  ScanResult result;
  // The process's VMAs, when something needed them (--vma, --with-vma, the note on
  // untracked written pages); empty otherwise.
  std::vector<MappedRegion> vmas;
  // --with-vma: the regions are split at VMA boundaries and region_vma[i] is the VMA of
  // result.regions[i] in `vmas` (kNoVma for one that appeared after the map was read).
  bool with_vma = false;
  std::vector<std::size_t> region_vma;
  // Pages reported WRITTEN in VMAs nobody tracks (not uffd-wp registered), where the
  // kernel sets WRITTEN on every page (kernel-pagemap-scan.md §4.3). nullopt: unknown.
  std::optional<std::uint64_t> untracked_written_pages;
};

inline constexpr std::size_t kNoVma = std::numeric_limits<std::size_t>::max();

// Splits report.result.regions where the VMAs in report.vmas end (PAGEMAP_SCAN merges
// regions across adjacent VMAs, §3.3) and fills region_vma.
void split_regions_at_vmas(ScanReport& report);
// The pages of WRITTEN regions that lie in VMAs of report.vmas not registered for
// userfaultfd write-protect.
std::uint64_t count_untracked_written(const ScanReport& report);

// One row per region, then a totals line (and, when the scan stopped early, where); the
// header in bold when `colour`.
// Columns sized to the data; categories (and with --with-vma the VMA's name, shortened)
// fit `width` columns. Under the totals, a note when WRITTEN was reported on untracked pages.
void render_table(const ScanReport& report, bool colour, unsigned width, std::FILE* out);
// {"pid", "backend", "page_size", "start", "end", "walk_end", "complete", "stop_reason",
//  "regions": [{"start", "end", "pages", "categories"}], "totals": {"regions", "pages"}}
// plus "approximate" only when non-empty; with --with-vma each region has "vma":
// {"start", "end", "perms", "offset", "backing", and "path" (a file) or "name" ("[heap]",
// "[anon]")}, null when unknown. Addresses and offsets are hex strings. Fields are only
// ever added.
nlohmann::ordered_json render_json(const ScanReport& report);
// "start,end,pages,bytes,categories" with categories joined by '|'; with --with-vma a
// last column "vma" (the path, or "[heap]", "[anon]"...).
void render_csv(const ScanReport& report, std::FILE* out);

// Category names of a set, in bit order.
nlohmann::ordered_json category_list(Categories categories);

}  // namespace pagescan::cli
