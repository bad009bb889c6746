// What `pagescan scan` shows: the request and the complete scan's answer.
#pragma once

#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "pagescan/scan.hpp"

namespace pagescan::cli {

struct ScanReport {
  pid_t pid = 0;
  std::uint64_t page_size = 4096;
  std::uint64_t start = 0;
  std::uint64_t end = 0;
  ScanResult result;
};

// One row per region, then a totals line (and, when the scan stopped early, where); the
// header in bold when `colour`.
void render_table(const ScanReport& report, bool colour, std::FILE* out);
// {"pid", "backend", "page_size", "start", "end", "walk_end", "complete", "stop_reason",
//  "regions": [{"start", "end", "pages", "categories"}], "totals": {"regions", "pages"}}
// plus "approximate" only when non-empty. Fields are only ever added.
nlohmann::ordered_json render_json(const ScanReport& report);
// "start,end,pages,bytes,categories" with categories joined by '|'.
void render_csv(const ScanReport& report, std::FILE* out);

// Category names of a set, in bit order.
nlohmann::ordered_json category_list(Categories categories);

}  // namespace pagescan::cli
