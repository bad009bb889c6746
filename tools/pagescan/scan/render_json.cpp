// `pagescan scan --json`: the documented shape; fields are only ever added.
#include "cli/output.hpp"
#include "cli/vma_selection.hpp"
#include "scan/scan_report.hpp"

namespace pagescan::cli {

nlohmann::ordered_json category_list(Categories categories) {
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (Category c : kAllCategories) {
    if (categories.contains(c)) list.push_back(std::string(to_string(c)));
  }
  return list;
}

namespace {

// A region's VMA: where it is, its permissions and what backs it; a file by "path", the
// rest by "name" ("[heap]", "[anon]", "[vdso]").
nlohmann::ordered_json vma_json(const MappedRegion& vma) {
  nlohmann::ordered_json j = {{"start", hex(vma.start)},
                              {"end", hex(vma.end)},
                              {"perms", vma.perms},
                              {"offset", hex(vma.offset)},
                              {"backing", std::string(to_string(vma.backing))}};
  const bool file = !vma.path.empty() && vma.path.front() != '[';
  j[file ? "path" : "name"] = vma_name(vma);
  return j;
}

}  // namespace

nlohmann::ordered_json render_json(const ScanReport& r) {
  const ScanResult& s = r.result;
  nlohmann::ordered_json regions = nlohmann::ordered_json::array();
  for (std::size_t i = 0; i < s.regions.size(); ++i) {
    const PageRegion& region = s.regions[i];
    nlohmann::ordered_json row = {{"start", hex(region.start)},
                                  {"end", hex(region.end)},
                                  {"pages", region.pages(r.page_size)},
                                  {"categories", category_list(region.categories)}};
    if (r.with_vma) {
      row["vma"] = r.region_vma[i] == kNoVma ? nlohmann::ordered_json(nullptr)
                                             : vma_json(r.vmas[r.region_vma[i]]);
    }
    regions.push_back(std::move(row));
  }
  nlohmann::ordered_json j = {{"pid", r.pid},
                              {"backend", std::string(to_string(s.backend))},
                              {"page_size", r.page_size},
                              {"start", hex(r.start)},
                              {"end", hex(r.end)},
                              {"walk_end", hex(s.walk_end)},
                              {"complete", s.stop_reason == StopReason::complete},
                              {"stop_reason", std::string(to_string(s.stop_reason))},
                              {"regions", std::move(regions)},
                              {"totals", {{"regions", s.regions.size()}, {"pages", s.pages}}}};
  if (!s.approximate.empty()) j["approximate"] = category_list(s.approximate);
  return j;
}

}  // namespace pagescan::cli
