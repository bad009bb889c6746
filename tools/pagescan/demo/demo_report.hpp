// What `pagescan demo` shows: the features, the workload's parts as `map --heat` rows,
// and the write-tracking rounds, as text or JSON.
#pragma once

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "demo/demo_workload.hpp"
#include "map/map_report.hpp"
#include "pagescan/features.hpp"

namespace pagescan::cli {

struct DemoReport {
  const Features* features = nullptr;
  pid_t pid = 0;
  std::vector<DemoPart> parts;  // every kind, available or not
  MapView view;                 // the parts' VMAs, noted with the parts' names
  std::uint32_t heat_width = 32;
  std::optional<Tracking> tracking;
  std::string tracking_why;           // when there is no tracking
  std::vector<std::string> findings;  // where the scan differs from what was asked for
};

// The parts' VMAs of a map report, in part order, each noted with its part.
MapView demo_view(const MapReport& map, const std::vector<DemoPart>& parts);
// What the scan shows against what the workload asked for, where they differ in a way
// the kernel allows (a THP request the kernel did not honour).
std::vector<std::string> demo_findings(const MapReport& map, const std::vector<DemoPart>& parts);

// The demo's text fits this many columns (a terminal of 100; most lines fit 80).
inline constexpr std::size_t kDemoColumns = 100;

// The features section (printed first, before the workload starts).
void render_demo_intro(const Features& f, bool colour, std::FILE* out);
// The workload and tracking sections.
void render_demo_text(const DemoReport& report, const TableStyle& style, std::FILE* out);
// {"features", "pid", "parts": [...], "map": <map --json>, "tracking": {...}, "findings"}.
nlohmann::ordered_json render_demo_json(const DemoReport& report);

}  // namespace pagescan::cli
