// `pagescan map --format csv`: one row per VMA, counts in pages (empty where meaningless),
// the SWAPPED split in pages and the kernel's Rss, Pss and Swap (smaps) in bytes.
#include <fmt/core.h>

#include "cli/output.hpp"
#include "map/map_report.hpp"

namespace pagescan::cli {

void render_map_csv(const MapView& view, std::FILE* out) {
  const MapReport& r = *view.report;
  fmt::print(out, "start,end,perms,offset,bytes");
  for (Category c : kMapCategories) fmt::print(out, ",{}", to_string(c));
  fmt::print(out, ",swap_entries,markers,rss_bytes,pss_bytes,swap_bytes,backing,path\n");
  for (const VmaCounts* v : view.rows) {
    const MappedRegion& m = v->vma;
    fmt::print(out, "{},{},{},{},{}", hex(m.start), hex(m.end), csv_field(m.perms), hex(m.offset),
               m.length());
    for (std::size_t i = 0; i < kMapColumns; ++i) {
      auto n = shown_count(r, *v, i);
      fmt::print(out, ",{}", n ? std::to_string(*n) : "");
    }
    auto text = [](const std::optional<std::uint64_t>& n) { return n ? std::to_string(*n) : ""; };
    fmt::print(out, ",{},{},{},{},{}", text(v->swap_entries), text(v->markers),
               m.smaps[SmapsField::rss], m.smaps[SmapsField::pss], m.smaps[SmapsField::swap]);
    fmt::print(out, ",{},{}\n", to_string(m.backing), csv_field(m.path));
  }
}

}  // namespace pagescan::cli
