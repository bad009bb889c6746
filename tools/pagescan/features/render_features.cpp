// `pagescan features` as a table or JSON.
#include <fmt/core.h>

#include <utility>
#include <vector>

#include "cli/output.hpp"
#include "features/features_report.hpp"
#include "scan/scan_report.hpp"

namespace pagescan::cli {

namespace {

std::string sizes_text(const std::vector<std::uint64_t>& sizes) {
  std::string text;
  for (std::uint64_t s : sizes) text += (text.empty() ? "" : ", ") + human_size(s);
  return text;
}

}  // namespace

void render_features_table(const Features& f, const Choices& choices, bool colour, std::FILE* out,
                           std::size_t max_columns) {
  // "<name padded to 28> yes <detail>": the detail starts at column 33. On a screen too
  // narrow for a readable column of details there (under kNarrow), each detail goes on
  // lines of its own under the name, indented by 4.
  constexpr std::size_t kNarrow = 33 + 32, kIndent = 4;
  const bool narrow = max_columns != 0 && max_columns < kNarrow;
  auto detail_text = [&](const std::string& detail, std::size_t column) {
    if (detail.empty()) return std::string();
    if (!narrow) return " " + wrap_words(detail, column, max_columns);
    return "\n" + std::string(kIndent, ' ') + wrap_words(detail, kIndent, max_columns);
  };
  auto row = [&](const char* name, bool ok, const std::string& detail) {
    const char* on = !colour ? "" : ok ? "\x1b[32m" : "\x1b[33m";
    // Padded to the detail column only when a detail follows on the same line.
    const bool padded = !detail.empty() && !narrow;
    fmt::print(out, "{:<28} {}{:<{}}{}{}\n", name, on, ok ? "yes" : "no", padded ? 3 : 0,
               colour ? "\x1b[0m" : "", detail_text(detail, 33));
  };
  fmt::print(
      out, "{}\n",
      wrap_words(fmt::format("kernel {}, page size {}", f.kernel_release, human_size(f.page_size)),
                 0, max_columns));
  row("PAGEMAP_SCAN", f.pagemap_scan,
      f.pagemap_scan ? "categories: " + to_string(f.scan_categories)
                     : fmt::format("needs Linux 6.7 (errno {})", f.pagemap_scan_errno));
  row("userfaultfd WP_ASYNC", f.uffd_wp_async, f.userfaultfd_detail);
  row("userfaultfd WP_UNPOPULATED", f.uffd_wp_unpopulated, "");
  row("soft-dirty", f.soft_dirty, f.soft_dirty_detail);
  row("guard regions", f.guard_regions, "MADV_GUARD_INSTALL (Linux 6.13)");
  std::string thp = f.thp_mode.empty() ? "absent" : "mode " + f.thp_mode;
  if (!f.thp_sizes.empty()) thp += "; sizes " + sizes_text(f.thp_sizes);
  row("transparent huge pages", !f.thp_mode.empty() && f.thp_mode != "never", thp);
  row("hugetlb pages", f.hugetlb_pages_total > 0,
      f.hugetlb_page_size == 0
          ? "absent"
          : fmt::format("{} of {} in the pool, {} free (vm.nr_hugepages)", f.hugetlb_pages_total,
                        human_size(f.hugetlb_page_size), f.hugetlb_pages_free));
  row("swap", f.swap_total_bytes > 0,
      f.swap_total_bytes ? human_size(f.swap_total_bytes) : "no swap is active");
  row("PFNs visible", f.pfns_visible,
      f.pfns_visible ? "pagemap shows page frame numbers"
                     : "pagemap hides page frame numbers (needs CAP_SYS_ADMIN)");
  // Measured, not assumed: whether read-only memory can be pfnzero at all.
  row("zero page on read faults", f.zero_page, f.zero_page_detail);
  row("huge zero page", f.huge_zero_page, f.huge_zero_page_detail);
  for (const auto& [name, choice] : {std::pair{"scan backend", &choices.backend},
                                     std::pair{"write-tracking engine", &choices.engine}}) {
    fmt::print(out, "{:<{}}{}\n", name, narrow ? 0 : 28,
               detail_text(choice->name + ": " + choice->reason, 29));
  }
}

nlohmann::ordered_json render_features_json(const Features& f, const Choices& choices) {
  const Choice &backend = choices.backend, &engine = choices.engine;
  return {{"kernel", f.kernel_release},
          {"page_size", f.page_size},
          {"pagemap_scan", f.pagemap_scan},
          {"pagemap_scan_errno", f.pagemap_scan_errno},
          {"scan_categories", category_list(f.scan_categories)},
          {"user_address_limit", hex(f.user_address_limit)},
          {"userfaultfd", f.userfaultfd},
          {"userfaultfd_detail", f.userfaultfd_detail},
          {"uffd_wp_async", f.uffd_wp_async},
          {"uffd_wp_unpopulated", f.uffd_wp_unpopulated},
          {"soft_dirty", f.soft_dirty},
          {"soft_dirty_detail", f.soft_dirty_detail},
          {"guard_regions", f.guard_regions},
          {"thp_mode", f.thp_mode},
          {"thp_pmd_size", f.thp_pmd_size},
          {"thp_sizes", f.thp_sizes},
          {"hugetlb_page_size", f.hugetlb_page_size},
          {"hugetlb_pages_total", f.hugetlb_pages_total},
          {"hugetlb_pages_free", f.hugetlb_pages_free},
          {"swap_bytes", f.swap_total_bytes},
          {"pfns_visible", f.pfns_visible},
          {"thp_use_zero_page", f.thp_use_zero_page},
          {"zero_page", f.zero_page},
          {"zero_page_detail", f.zero_page_detail},
          {"huge_zero_page", f.huge_zero_page},
          {"huge_zero_page_detail", f.huge_zero_page_detail},
          {"backend", {{"name", backend.name}, {"reason", backend.reason}}},
          {"watch_engine", {{"name", engine.name}, {"reason", engine.reason}}}};
}

}  // namespace pagescan::cli
