// `pagescan scan --format csv`: one row per region.
#include <fmt/core.h>

#include "cli/output.hpp"
#include "cli/vma_selection.hpp"
#include "scan/scan_report.hpp"

namespace pagescan::cli {

void render_csv(const ScanReport& r, std::FILE* out) {
  fmt::print(out, "start,end,pages,bytes,categories{}\n", r.with_vma ? ",vma" : "");
  for (std::size_t i = 0; i < r.result.regions.size(); ++i) {
    const PageRegion& region = r.result.regions[i];
    std::string cats = to_string(region.categories);
    for (char& ch : cats) {
      if (ch == ',') ch = '|';
    }
    fmt::print(out, "{},{},{},{},{}", hex(region.start), hex(region.end), region.pages(r.page_size),
               region.length(), cats);
    if (r.with_vma) {
      fmt::print(out, ",{}",
                 r.region_vma[i] == kNoVma ? "" : csv_field(vma_name(r.vmas[r.region_vma[i]])));
    }
    fmt::print(out, "\n");
  }
}

}  // namespace pagescan::cli
