// What `pagescan demo` shows: the features, the workload's parts as `map --heat` rows,
// and the write-tracking rounds, as text or JSON.
#pragma once

#include <array>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "demo/demo_workload.hpp"
#include "features/features_report.hpp"
#include "map/map_report.hpp"
#include "pagescan/features.hpp"

namespace pagescan::cli {

// A part's page counts in the map, summed over the VMAs it overlaps; nullopt where the map
// has no meaningful count (a category not counted, WRITTEN outside uffd-wp).
struct PartCounts {
  std::array<std::optional<std::uint64_t>, kMapColumns> pages{};
  Categories approximate;  // the map's: categories the emulator could only estimate
  std::optional<std::uint64_t> of(Category category) const;
};
PartCounts measured_counts(const MapReport& map, const DemoPart& part);

// What the workload did in the part and what the scan measured there, in words: "16 pages
// written; 16 present", "16 pages only read: each maps the shared zero page". Every claim
// follows from the workload's own report or from `counts`.
std::string part_story(const DemoPart& part, const PartCounts& counts, std::uint64_t page_size);

struct DemoReport {
  const Features* features = nullptr;
  Choices choices;  // the backend and engine the library uses here
  pid_t pid = 0;
  std::vector<DemoPart> parts;  // every kind, available or not
  MapView view;                 // the parts' VMAs, noted with the parts' names
  std::uint32_t heat_width = 32;
  std::optional<Tracking> tracking;
  std::string tracking_why;           // when there is no tracking
  std::vector<std::string> findings;  // where the scan differs from what was asked for
};

// The parts' VMAs of a map report, in part order, each noted with its part's story.
MapView demo_view(const MapReport& map, const std::vector<DemoPart>& parts);
// What the scan shows against what the workload asked for, where they differ in a way
// the kernel allows (a THP request the kernel did not honour).
std::vector<std::string> demo_findings(const MapReport& map, const std::vector<DemoPart>& parts);

// The features section (printed first, before the workload starts), no line longer than
// `width` columns.
void render_demo_intro(const Features& f, const Choices& choices, bool colour, unsigned width,
                       std::FILE* out);
// The workload and tracking sections; the demo's own text is wrapped at `width` (the
// table's layout is the map renderer's, from `style`).
void render_demo_text(const DemoReport& report, const TableStyle& style, unsigned width,
                      std::FILE* out);
// {"features", "pid", "parts": [...], "map": <map --json>, "tracking": {...}, "findings"}.
nlohmann::ordered_json render_demo_json(const DemoReport& report);

}  // namespace pagescan::cli
