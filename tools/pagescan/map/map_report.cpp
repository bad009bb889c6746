// Per-VMA page counts for `pagescan map`, from one streaming scan of the whole address space.
//
// One scan, not one per VMA: a process can have tens of thousands of VMAs, and a
// PAGEMAP_SCAN call per VMA would cost a syscall, an mmap-lock round trip and a VMA
// lookup each. With empty masks every page matches, so the scan reports every walked
// page exactly once, in address order, as regions tagged with the returned categories
// (kernel-pagemap-scan.md §3.3). Regions never span a gap, but merging crosses VMA
// boundaries (§3.3), so a region is split where the VMAs we read from smaps end. A VMA
// that appeared after the map was read has no row and its pages are ignored; one that
// vanished simply counts nothing.
#include <algorithm>

#include "cli/output.hpp"
#include "map/map_report.hpp"
#include "pagescan/features.hpp"

namespace pagescan::cli {

std::size_t map_column(Category category) {
  for (std::size_t i = 0; i < kMapColumns; ++i) {
    if (kMapCategories[i] == category) return i;
  }
  return kMapColumns;
}

PageState state_of(Categories c) {
  if (c.contains(Category::guard)) return PageState::guard;
  if (c.contains(Category::swapped)) return PageState::swapped;
  if (c.contains(Category::pfnzero)) return PageState::zero;
  if (c.contains(Category::huge) && c.contains(Category::present)) return PageState::huge;
  if (c.contains(Category::present)) {
    return c.contains(Category::file) ? PageState::file : PageState::present;
  }
  return PageState::absent;
}

std::string_view label(PageState state) {
  switch (state) {
    case PageState::guard:
      return "guard";
    case PageState::swapped:
      return "swapped";
    case PageState::zero:
      return "zero page";
    case PageState::huge:
      return "huge";
    case PageState::file:
      return "file";
    case PageState::present:
      return "present (anon)";
    case PageState::absent:
      return "not present";
  }
  return "?";
}

Strip::Strip(std::uint64_t pages, std::uint32_t max_bins, std::uint32_t slots)
    : pages_(pages),
      bins_(static_cast<std::uint32_t>(std::min<std::uint64_t>(pages, max_bins))),
      slots_(slots),
      counts_(static_cast<std::size_t>(bins_) * slots, 0) {}

std::uint64_t Strip::bin_start(std::uint32_t bin) const {
  return bins_ ? static_cast<std::uint64_t>(bin) * pages_ / bins_ : 0;
}

void Strip::add(std::uint64_t first, std::uint64_t end, std::uint32_t slot) {
  if (bins_ == 0 || first >= end) return;
  // The last bin whose start is <= first: floor(i*P/B) <= a  <=>  i <= ((a+1)*B - 1) / P.
  auto bin = static_cast<std::uint32_t>(((first + 1) * bins_ - 1) / pages_);
  for (; bin < bins_ && bin_start(bin) < end; ++bin) {
    std::uint64_t lo = std::max(first, bin_start(bin));
    std::uint64_t hi = std::min(end, bin_start(bin + 1));
    counts_[static_cast<std::size_t>(bin) * slots_ + slot] += hi - lo;
  }
}

Categories countable_categories(BackendChoice backend) {
  const Features& f = features();
  Categories supported = f.pagemap_scan && backend != BackendChoice::emulated
                             ? f.scan_categories
                             : Categories::all_known();
  Categories counted;
  for (Category c : kMapCategories) {
    if (supported.contains(c)) counted |= c;
  }
  return counted;
}

namespace {

// Adds the pages [lo, hi) of one region to the VMA it lies in.
void account(VmaCounts& v, std::uint64_t lo, std::uint64_t hi, Categories categories,
             const MapReport& report) {
  const std::uint64_t page = report.page_size;
  const std::uint64_t pages = (hi - lo) / page;
  for (std::size_t i = 0; i < kMapColumns; ++i) {
    if (categories.contains(kMapCategories[i])) v.pages[i] += pages;
  }
  const std::uint64_t first = (lo - v.vma.start) / page, end = (hi - v.vma.start) / page;
  if (report.heat_category && categories.contains(*report.heat_category)) {
    v.heat.add(first, end, 0);
  }
  v.picture.add(first, end, static_cast<std::uint32_t>(state_of(categories)));
}

// Splits a VMA's SWAPPED pages into swap entries and markers. PAGEMAP_SCAN reports both
// as SWAPPED (kernel-pagemap-scan.md §4.1); what tells them apart, cheapest first:
// - a hugetlb page is never swapped out: its non-present entries are markers (or a
//   passing migration);
// - outside a uffd-wp registered VMA the only markers are guard markers, which the scan
//   reports as SWAPPED+GUARD (unregistering clears uffd-wp markers, other-processes.md);
// - else pagemap's swap type (type 31: a PTE marker), which needs CAP_SYS_ADMIN.
void split_swapped(const Process& process, const MapReport& report, VmaCounts& v) {
  const std::size_t swapped = map_column(Category::swapped), guard = map_column(Category::guard);
  if (!v.scanned || !report.counted.contains(Category::swapped)) return;
  const std::uint64_t s = v.pages[swapped];
  std::optional<std::uint64_t> markers;
  if (s == 0) {
    markers = 0;
  } else if (v.vma.hugetlb) {
    markers = s;
  } else if (!v.vma.uffd_wp && report.counted.contains(Category::guard)) {
    markers = v.pages[guard];
  } else if (auto n = count_non_present(process, v.vma.start, v.vma.end)) {
    markers = std::min(s, n->markers());
  } else {
    v.split_unknown = v.vma.uffd_wp
                          ? "uffd-wp markers cannot be told from swap entries without "
                            "CAP_SYS_ADMIN (pagemap hides the swap type)"
                          : "this kernel's scan lacks GUARD and pagemap hides the swap type "
                            "without CAP_SYS_ADMIN";
    return;
  }
  v.markers = markers;
  v.swap_entries = s - *markers;
}

}  // namespace

Result<MapReport> build_map_report(const Process& process, const MapOptions& options) {
  const Features& f = features();
  auto map = read_memory_map(process);
  if (!map) return map.error();

  MapReport report;
  report.pid = process.pid();
  report.page_size = f.page_size;
  report.heat_category = options.heat_category;
  report.backend = f.pagemap_scan && options.scan.backend != BackendChoice::emulated
                       ? Backend::kernel
                       : Backend::emulated;
  std::uint64_t scan_start = 0, scan_end = 0;
  const std::uint64_t per_vma = options.picture_cell_budget / std::max<std::size_t>(map->size(), 1);
  const auto picture_bins = static_cast<std::uint32_t>(
      std::min<std::uint64_t>(options.picture_bins, std::max<std::uint64_t>(per_vma, 16)));
  for (MappedRegion& vma : *map) {
    VmaCounts v;
    if (vma.pfnmap) {
      v.scanned = false;
      v.not_scanned_reason = "VM_PFNMAP: PAGEMAP_SCAN does not walk it";
    } else if (vma.end > f.user_address_limit) {
      v.scanned = false;
      v.not_scanned_reason = "above the user address limit: PAGEMAP_SCAN cannot reach it";
    }
    if (v.scanned) {
      const std::uint64_t pages = vma.length() / f.page_size;
      if (options.heat_category) v.heat = Strip(pages, options.heat_bins, 1);
      if (options.picture) v.picture = Strip(pages, picture_bins, kPageStateCount);
      if (scan_end == 0) scan_start = vma.start;
      scan_end = vma.end;
    }
    v.vma = std::move(vma);
    report.vmas.push_back(std::move(v));
  }
  if (scan_end == 0) return report;  // nothing PAGEMAP_SCAN can walk

  Categories returning = options.counted;
  if (options.heat_category) returning |= *options.heat_category;
  std::vector<VmaCounts>& vmas = report.vmas;
  std::size_t next = 0;  // regions arrive in address order, so VMAs are visited in order
  auto sink = [&](std::span<const PageRegion> regions) {
    for (const PageRegion& r : regions) {
      std::uint64_t at = r.start;
      while (at < r.end) {
        while (next < vmas.size() && vmas[next].vma.end <= at) ++next;
        if (next == vmas.size() || vmas[next].vma.start >= r.end) break;
        VmaCounts& v = vmas[next];
        std::uint64_t lo = std::max(at, v.vma.start), hi = std::min(r.end, v.vma.end);
        if (v.scanned) account(v, lo, hi, r.categories, report);
        at = hi;
      }
    }
    return true;
  };
  auto summary = scan_each(process, ScanRequest::over(scan_start, scan_end).returning(returning),
                           sink, options.scan);
  if (!summary) return summary.error();
  report.backend = summary->backend;
  report.approximate = summary->approximate;
  report.counted = options.counted;
  for (VmaCounts& v : report.vmas) split_swapped(process, report, v);
  return report;
}

std::optional<std::uint64_t> shown_count(const MapReport& report, const VmaCounts& v,
                                         std::size_t column) {
  const Category c = kMapCategories[column];
  if (!v.scanned || !report.counted.contains(c)) return std::nullopt;
  // WRITTEN means "not uffd write-protected": outside a uffd-wp VMA every present page
  // reads as written (kernel-pagemap-scan.md §4.3), which says nothing about writes.
  if (c == Category::written && !v.vma.uffd_wp) return std::nullopt;
  return v.pages[column];
}

MapTotals totals_of(const MapReport& report, const std::vector<const VmaCounts*>& vmas) {
  MapTotals t;
  for (const VmaCounts* v : vmas) {
    ++t.vmas;
    t.bytes += v->vma.length();
    for (std::size_t i = 0; i < kMapColumns; ++i) {
      if (auto n = shown_count(report, *v, i)) t.pages[i] = t.pages[i].value_or(0) + *n;
    }
    if (v->markers) {
      t.markers = t.markers.value_or(0) + *v->markers;
      t.swap_entries = t.swap_entries.value_or(0) + *v->swap_entries;
    } else if (!v->split_unknown.empty()) {
      ++t.split_unknown_vmas;
    }
    t.smaps.add(v->vma.smaps);
  }
  if (t.split_unknown_vmas) t.markers = t.swap_entries = std::nullopt;
  return t;
}

std::string backing_text(const MappedRegion& vma) {
  std::string text;
  switch (vma.backing) {
    case Backing::shared_memory:
      text = vma.path.empty() ? "shm" : "shm " + vma.path;
      break;
    case Backing::anonymous:
      // Private MAP_HUGETLB memory shows as "/anon_hugepage (deleted)": it is anonymous.
      text = vma.path.empty() || vma.path.rfind("/anon_hugepage", 0) == 0 ? "anon" : vma.path;
      break;
    default:
      text = vma.path.empty() ? std::string(to_string(vma.backing)) : vma.path;
  }
  if (vma.hugetlb) text += " (hugetlb " + human_size(vma.kernel_page_size) + ")";
  return text;
}

}  // namespace pagescan::cli
