// `pagescan scan --json`: the documented shape; fields are only ever added.
#include "cli/output.hpp"
#include "scan/scan_report.hpp"

namespace pagescan::cli {

nlohmann::ordered_json category_list(Categories categories) {
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (Category c : kAllCategories) {
    if (categories.contains(c)) list.push_back(std::string(to_string(c)));
  }
  return list;
}

nlohmann::ordered_json render_json(const ScanReport& r) {
  const ScanResult& s = r.result;
  nlohmann::ordered_json regions = nlohmann::ordered_json::array();
  for (const PageRegion& region : s.regions) {
    regions.push_back({{"start", hex(region.start)},
                       {"end", hex(region.end)},
                       {"pages", region.pages(r.page_size)},
                       {"categories", category_list(region.categories)}});
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
