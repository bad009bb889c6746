// `pagescan scan --format csv`: one row per region.
#include <fmt/core.h>

#include "cli/output.hpp"
#include "scan/scan_report.hpp"

namespace pagescan::cli {

void render_csv(const ScanReport& r, std::FILE* out) {
  fmt::print(out, "start,end,pages,bytes,categories\n");
  for (const PageRegion& region : r.result.regions) {
    std::string cats = to_string(region.categories);
    for (char& ch : cats) {
      if (ch == ',') ch = '|';
    }
    fmt::print(out, "{},{},{},{},{}\n", hex(region.start), hex(region.end),
               region.pages(r.page_size), region.length(), cats);
  }
}

}  // namespace pagescan::cli
