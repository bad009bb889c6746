// `pagescan scan` as a table: one row per region and a totals line.
#include <fmt/core.h>

#include "cli/output.hpp"
#include "scan/scan_report.hpp"

namespace pagescan::cli {

void render_table(const ScanReport& r, bool colour, std::FILE* out) {
  const ScanResult& s = r.result;
  fmt::print(out, "pid {} · {} backend · [{}-{}) · page size {}\n", r.pid, to_string(s.backend),
             hex(r.start), hex(r.end), human_size(r.page_size));
  if (!s.approximate.empty()) {
    fmt::print(out, "approximate (emulated without full information): {}\n",
               to_string(s.approximate));
  }
  fmt::print(out, "{}{:<18} {:<18} {:>10} {:>10}  {}{}\n", colour ? "\x1b[1m" : "", "START", "END",
             "PAGES", "SIZE", "CATEGORIES", colour ? "\x1b[0m" : "");
  for (const PageRegion& region : s.regions) {
    std::string cats = to_string(region.categories);
    fmt::print(out, "{:<18} {:<18} {:>10} {:>10}  {}\n", hex(region.start), hex(region.end),
               region.pages(r.page_size), human_size(region.length()), cats.empty() ? "-" : cats);
  }
  fmt::print(out, "total: {} region{}, {} page{} ({})", s.regions.size(),
             s.regions.size() == 1 ? "" : "s", s.pages, s.pages == 1 ? "" : "s",
             human_size(s.pages * r.page_size));
  if (s.stop_reason == StopReason::complete) {
    fmt::print(out, "; complete\n");
  } else {
    fmt::print(out, "; stopped at max-pages; resume at {}\n", hex(s.walk_end));
  }
}

}  // namespace pagescan::cli
