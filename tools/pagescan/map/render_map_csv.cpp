// `pagescan map --format csv`: one row per VMA, counts in pages, empty where meaningless.
#include <fmt/core.h>

#include "cli/output.hpp"
#include "map/map_report.hpp"

namespace pagescan::cli {

void render_map_csv(const MapView& view, std::FILE* out) {
  const MapReport& r = *view.report;
  fmt::print(out, "start,end,perms,offset,bytes");
  for (Category c : kMapCategories) fmt::print(out, ",{}", to_string(c));
  fmt::print(out, ",backing,path\n");
  for (const VmaCounts* v : view.rows) {
    const MappedRegion& m = v->vma;
    fmt::print(out, "{},{},{},{},{}", hex(m.start), hex(m.end), csv_field(m.perms), m.offset,
               m.length());
    for (std::size_t i = 0; i < kMapColumns; ++i) {
      auto n = shown_count(r, *v, i);
      fmt::print(out, ",{}", n ? std::to_string(*n) : "");
    }
    fmt::print(out, ",{},{}\n", to_string(m.backing), csv_field(m.path));
  }
}

}  // namespace pagescan::cli
