// What `pagescan map` shows: each VMA of a process with its page counts per category,
// optional per-stretch counts for heat strips and the SVG picture, and the renderers.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pagescan/memory_map.hpp"
#include "pagescan/scan.hpp"

namespace pagescan::cli {

// The categories map counts, in column order.
inline constexpr std::size_t kMapColumns = 7;
inline constexpr std::array<Category, kMapColumns> kMapCategories = {
    Category::present, Category::swapped, Category::pfnzero, Category::huge,
    Category::file,    Category::written, Category::guard};
// Index of a category in kMapCategories, or kMapColumns when map does not count it.
std::size_t map_column(Category category);

// One state per page for the picture, first match wins: a guard marker also reads as
// SWAPPED and WRITTEN (kernel-pagemap-scan.md §4.1), the zero page as PRESENT, a THP as
// PRESENT (and FILE for a file THP), so the most specific state is taken first.
enum class PageState { guard, swapped, zero, huge, file, present, absent };
inline constexpr std::size_t kPageStateCount = 7;
PageState state_of(Categories categories);
// "guard", "swapped", "zero page", "huge", "file", "present (anon)", "not present".
std::string_view label(PageState state);

// Page counts of one VMA cut into at most `max_bins` stretches of (nearly) equal page
// counts: bin i covers pages [i*P/B, (i+1)*P/B) of the P pages in B bins. A VMA with
// fewer pages than max_bins gets one bin per page. Each bin counts pages per slot.
class Strip {
 public:
  Strip() = default;
  Strip(std::uint64_t pages, std::uint32_t max_bins, std::uint32_t slots);

  // Adds pages [first, end) (page indexes within the VMA) to `slot`.
  void add(std::uint64_t first, std::uint64_t end, std::uint32_t slot);

  std::uint32_t bins() const { return bins_; }
  std::uint64_t pages() const { return pages_; }
  std::uint64_t bin_start(std::uint32_t bin) const;  // first page of a bin
  std::uint64_t bin_pages(std::uint32_t bin) const { return bin_start(bin + 1) - bin_start(bin); }
  std::uint64_t count(std::uint32_t bin, std::uint32_t slot) const {
    return counts_[static_cast<std::size_t>(bin) * slots_ + slot];
  }

 private:
  std::uint64_t pages_ = 0;
  std::uint32_t bins_ = 0;
  std::uint32_t slots_ = 0;
  std::vector<std::uint64_t> counts_;  // bins_ x slots_
};

struct VmaCounts {
  MappedRegion vma;
  // False for VMAs PAGEMAP_SCAN never walks (VM_PFNMAP, §3.2) or that lie above the
  // user address limit ([vsyscall]): their counts mean nothing.
  bool scanned = true;
  std::string not_scanned_reason;
  std::array<std::uint64_t, kMapColumns> pages{};  // per kMapCategories, in base pages
  // SWAPPED split into swap entries and PTE markers (guard, uffd-wp): nullopt when they
  // cannot be told apart here, `split_unknown` saying why.
  std::optional<std::uint64_t> swap_entries;
  std::optional<std::uint64_t> markers;
  std::string split_unknown;
  Strip heat;     // slot 0: pages in the heat category
  Strip picture;  // one slot per PageState
};

struct MapReport {
  pid_t pid = 0;
  std::uint64_t page_size = 4096;
  Backend backend = Backend::kernel;
  Categories counted;  // the categories the scan returned (the kernel may lack some)
  Categories approximate;
  std::optional<Category> heat_category;
  std::vector<VmaCounts> vmas;  // every VMA, in address order
};

struct MapOptions {
  Categories counted;  // which of kMapCategories to count
  std::optional<Category> heat_category;
  std::uint32_t heat_bins = 64;
  bool picture = false;
  // Cells per VMA in the picture: up to picture_bins, fewer when the process has so many
  // VMAs that picture_cell_budget would be exceeded (never below 16), so that the SVG of
  // a large process stays a few megabytes.
  std::uint32_t picture_bins = 256;
  std::uint64_t picture_cell_budget = 256'000;
  ScanOptions scan;
};

// The map categories a scan with this backend choice can count here: all of them with
// the emulator, those the kernel's PAGEMAP_SCAN accepts otherwise (each returned
// category can cost the kernel a lookup per page, and one it lacks would push the whole
// scan to the emulator).
Categories countable_categories(BackendChoice backend);

// Reads the memory map, then counts every VMA's pages from ONE streaming scan of the
// whole address space (empty masks: every page matches; return_mask = the counted
// categories). Regions never cross a gap but may span adjacent VMAs (§3.3), so each is
// split at VMA boundaries. Errors: those of read_memory_map() and scan_each().
Result<MapReport> build_map_report(const Process& process, const MapOptions& options);

// A count as shown: nullopt when it means nothing (VMA not scanned, category not
// returned by this kernel, WRITTEN outside a uffd-wp registered VMA (§4.3)).
std::optional<std::uint64_t> shown_count(const MapReport& report, const VmaCounts& vma,
                                         std::size_t column);

// Sums over some VMAs; a column is nullopt when no VMA gives a meaningful count for it.
struct MapTotals {
  std::uint64_t vmas = 0;
  std::uint64_t bytes = 0;
  std::array<std::optional<std::uint64_t>, kMapColumns> pages{};
  // Sums of the split; nullopt when some VMA's split is unknown (or none was counted).
  std::optional<std::uint64_t> swap_entries;
  std::optional<std::uint64_t> markers;
  std::uint64_t split_unknown_vmas = 0;
  SmapsFigures smaps;  // every VMA's figures summed (the kernel's smaps_rollup, but Pss_*)
};
MapTotals totals_of(const MapReport& report, const std::vector<const VmaCounts*>& vmas);

// A label for a row (the demo names its parts): a short name and what was done there.
struct RowNote {
  std::string name;  // "written"
  std::string text;  // "16 pages written"
};

// What the table, JSON and CSV show: the filtered and sorted rows of a report.
struct MapView {
  const MapReport* report = nullptr;
  std::vector<const VmaCounts*> rows;
  bool filtered = false;  // some VMAs are hidden by --min-size / --only
  // Empty, or one per row: the table shows them with the heat strip (or after the
  // backing without one).
  std::vector<RowNote> notes;
};

// "anon", "[heap]", "/usr/lib/libc.so.6", "shm /memfd:x", plus " (hugetlb 2.0 MiB)".
std::string backing_text(const MappedRegion& vma);

// Heat strip of a VMA: `width` cells, each the fraction of its pages in the heat
// category; a VMA with fewer pages than cells repeats each page's cell.
std::vector<double> heat_fractions(const Strip& strip, std::uint32_t width);
// The strip as characters: ' ' for none, full block (or '@') for all, levels between.
std::string heat_text(const std::vector<double>& fractions, bool ascii);

struct TableStyle {
  bool colour = false;
  bool heat = false;
  bool ascii = false;
  // Heat strip cells: exactly this many with heat_width_forced (--heat-width) or wide,
  // else at most this many, fewer when the screen is too narrow for them.
  std::uint32_t width = 64;
  // Narrow (the demo): the compact layout with the categories' columns first, "n/t" for
  // not tracked (explained under the table), the backing and offset on the heat line (or
  // a line of their own) and each note on a line of its own.
  bool narrow = false;
  std::uint32_t screen = 80;  // the columns compact and narrow tables fit (Shared::width)
  // One line per VMA with every column, as wide as it takes (map --wide). Otherwise
  // compact: columns with nothing to say left out, the rest by priority while they fit.
  bool wide = false;
  bool heat_width_forced = false;
};
void render_map_table(const MapView& view, const TableStyle& style, std::FILE* out);
// {"pid", "backend", "page_size", "categories", "vmas": [...], "totals", "shown_totals"}
// with per-VMA "counts" in pages (null where meaningless), "swapped_split" in pages,
// "smaps" in bytes under the kernel's line names, and "heat" with --heat.
nlohmann::ordered_json render_map_json(const MapView& view, std::optional<std::uint32_t> heat);
// One row per VMA: start,end,perms,offset,bytes,<counts in pages>,swap_entries,markers,
// rss_bytes,pss_bytes,swap_bytes,backing,path.
void render_map_csv(const MapView& view, std::FILE* out);
// The whole address space as an SVG document (every VMA, address order).
std::string render_svg(const MapReport& report);

}  // namespace pagescan::cli
