// What the demo says about each part: what the workload did there (its own report) and
// what the scan then measured there (the map's counts over the part's VMAs), never what
// a part is expected to show. A kernel that maps a private page on read faults gets "none
// is pfnzero" for the zero part, because that is what its scan counted.
#include <fmt/core.h>

#include "cli/output.hpp"
#include "demo/demo_report.hpp"

namespace pagescan::cli {

std::optional<std::uint64_t> PartCounts::of(Category category) const {
  const std::size_t column = map_column(category);
  return column < kMapColumns ? pages[column] : std::nullopt;
}

PartCounts measured_counts(const MapReport& map, const DemoPart& part) {
  std::vector<const VmaCounts*> vmas;
  for (const VmaCounts& v : map.vmas) {
    if (v.vma.start < part.end && part.start < v.vma.end) vmas.push_back(&v);
  }
  PartCounts counts;
  counts.pages = totals_of(map, vmas).pages;
  counts.approximate = map.approximate;
  return counts;
}

namespace {

// "8", or "8 (estimated)" where the emulator could only estimate the category.
std::string count_text(const PartCounts& counts, Category category) {
  const std::uint64_t n = counts.of(category).value_or(0);
  return std::to_string(n) + (counts.approximate.contains(category) ? " (estimated)" : "");
}

std::string zero_story(const DemoPart& p, const PartCounts& counts) {
  const std::string read = std::to_string(p.acted) + " pages only read";
  const auto pfnzero = counts.of(Category::pfnzero);
  if (!pfnzero) return read + "; pfnzero is not counted here";
  if (*pfnzero == 0) return read + "; each got a private page: none is pfnzero";
  if (*pfnzero >= p.acted) return read + ": each maps the shared zero page";
  return read + ": " + count_text(counts, Category::pfnzero) + " map the shared zero page";
}

std::string guard_story(const DemoPart& p, const PartCounts& counts, std::uint64_t pages) {
  const std::string did = fmt::format("{} pages written, {} guarded", pages, p.acted);
  const auto guard = counts.of(Category::guard), swapped = counts.of(Category::swapped);
  if (!guard) return did + "; GUARD is not counted here";
  // A guard marker is a non-present entry, so it reads as SWAPPED too
  // (kernel-pagemap-scan.md §4.1): said only when the counts show it.
  if (swapped && *swapped == *guard) {
    return did + fmt::format(": {} show as GUARD and as SWAPPED", *guard);
  }
  return did + fmt::format(": {} GUARD, {} SWAPPED", *guard, swapped.value_or(0));
}

std::string tracked_story(const DemoPart& p, const PartCounts& counts, std::uint64_t pages) {
  std::string story = fmt::format("{} pages tracked ({}), {} written", pages, p.engine, p.acted);
  // WP_UNPOPULATED leaves a uffd-wp marker in each untouched entry, which reads as
  // SWAPPED (kernel-pagemap-scan.md §4.1).
  if (const auto swapped = counts.of(Category::swapped); swapped && *swapped) {
    story += fmt::format("; {} SWAPPED", *swapped);
    if (p.engine == "uffd") story += ": uffd-wp markers";
  }
  return story;
}

}  // namespace

std::string part_story(const DemoPart& p, const PartCounts& counts, std::uint64_t page_size) {
  const std::uint64_t pages = (p.end - p.start) / page_size;
  const std::string size = human_size(p.end - p.start);
  const std::string present = count_text(counts, Category::present);
  switch (p.kind) {
    case PartKind::written:
      return fmt::format("{} pages written; {} present", p.acted, present);
    case PartKind::zero:
      return zero_story(p, counts);
    case PartKind::untouched:
      return fmt::format("{} pages never touched; {} present", pages, present);
    case PartKind::thp: {
      const std::string asked = "a " + size + " THP asked for (MADV_HUGEPAGE), written";
      const auto huge = counts.of(Category::huge);
      if (!huge) return asked + "; HUGE is not counted here";
      if (*huge == pages) return asked + ": one huge page";
      return asked + ": " + (*huge ? std::to_string(*huge) + " pages" : "none") + " huge";
    }
    case PartKind::hugetlb:
      return "a " + size + " hugetlb page (MAP_HUGETLB), written; " + present + " pages present";
    case PartKind::file:
      return fmt::format("{} of {} pages of the pagescan binary read; {} present", p.acted, pages,
                         present);
    case PartKind::swapped:
      return fmt::format("{} pages written, {} paged out (MADV_PAGEOUT); {} SWAPPED", pages,
                         p.acted, count_text(counts, Category::swapped));
    case PartKind::guard:
      return guard_story(p, counts, pages);
    case PartKind::tracked:
      return tracked_story(p, counts, pages);
  }
  return {};
}

}  // namespace pagescan::cli
