// `pagescan map --json`: VMAs with counts in pages (null where meaningless), the split of
// SWAPPED, the kernel's smaps figures in bytes, and totals. Fields are only ever added
// (but "offset" became a hex string like every address).
#include <cmath>

#include "cli/output.hpp"
#include "map/map_report.hpp"
#include "scan/scan_report.hpp"

namespace pagescan::cli {

namespace {

nlohmann::ordered_json count_or_null(const std::optional<std::uint64_t>& n) {
  return n ? nlohmann::ordered_json(*n) : nlohmann::ordered_json(nullptr);
}

nlohmann::ordered_json counts(const std::array<std::optional<std::uint64_t>, kMapColumns>& n) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (std::size_t i = 0; i < kMapColumns; ++i) {
    j[std::string(to_string(kMapCategories[i]))] = count_or_null(n[i]);
  }
  return j;
}

// The kernel's figures under its own line names, in bytes: the lines it printed.
nlohmann::ordered_json smaps(const SmapsFigures& f) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (std::size_t i = 0; i < kSmapsFieldCount; ++i) {
    auto field = static_cast<SmapsField>(i);
    if (f.has(field)) j[std::string(smaps_name(field))] = f[field];
  }
  return j;
}

nlohmann::ordered_json split(const std::optional<std::uint64_t>& swap_entries,
                             const std::optional<std::uint64_t>& markers) {
  return {{"swap_entries", count_or_null(swap_entries)}, {"markers", count_or_null(markers)}};
}

nlohmann::ordered_json totals(const MapTotals& t) {
  nlohmann::ordered_json j = {{"vmas", t.vmas},
                              {"bytes", t.bytes},
                              {"counts", counts(t.pages)},
                              {"swapped_split", split(t.swap_entries, t.markers)},
                              {"smaps", smaps(t.smaps)}};
  if (t.split_unknown_vmas) j["swapped_split"]["unknown_vmas"] = t.split_unknown_vmas;
  return j;
}

nlohmann::ordered_json vma_json(const MapReport& r, const VmaCounts& v,
                                std::optional<std::uint32_t> heat) {
  std::array<std::optional<std::uint64_t>, kMapColumns> n;
  for (std::size_t i = 0; i < kMapColumns; ++i) n[i] = shown_count(r, v, i);
  const MappedRegion& m = v.vma;
  nlohmann::ordered_json j = {{"start", hex(m.start)},
                              {"end", hex(m.end)},
                              {"perms", m.perms},
                              {"offset", hex(m.offset)},
                              {"bytes", m.length()},
                              {"pages", m.length() / r.page_size},
                              {"backing", std::string(to_string(m.backing))},
                              {"path", m.path},
                              {"hugetlb", m.hugetlb},
                              {"uffd_wp", m.uffd_wp},
                              {"scanned", v.scanned},
                              {"counts", counts(n)},
                              {"swapped_split", split(v.swap_entries, v.markers)},
                              {"smaps", smaps(m.smaps)}};
  if (!v.split_unknown.empty()) j["swapped_split"]["unknown_because"] = v.split_unknown;
  if (!v.scanned) j["not_scanned_reason"] = v.not_scanned_reason;
  if (heat) {
    bool meaningful =
        v.scanned && !(*r.heat_category == Category::written && !m.uffd_wp) && v.heat.bins();
    nlohmann::ordered_json cells = nlohmann::ordered_json::array();
    if (meaningful) {
      // Three decimals: a heat strip is a picture, not a count.
      for (double f : heat_fractions(v.heat, *heat)) cells.push_back(std::round(f * 1000) / 1000);
    }
    j["heat"] = meaningful ? cells : nlohmann::ordered_json(nullptr);
  }
  return j;
}

}  // namespace

nlohmann::ordered_json render_map_json(const MapView& view, std::optional<std::uint32_t> heat) {
  const MapReport& r = *view.report;
  nlohmann::ordered_json vmas = nlohmann::ordered_json::array();
  for (const VmaCounts* v : view.rows) vmas.push_back(vma_json(r, *v, heat));
  std::vector<const VmaCounts*> all;
  for (const VmaCounts& v : r.vmas) all.push_back(&v);
  nlohmann::ordered_json j = {{"pid", r.pid},
                              {"backend", std::string(to_string(r.backend))},
                              {"page_size", r.page_size},
                              {"categories", category_list(r.counted)}};
  if (heat) j["heat"] = {{"category", std::string(to_string(*r.heat_category))}, {"width", *heat}};
  j["vmas"] = std::move(vmas);
  j["totals"] = totals(totals_of(r, all));
  j["shown_totals"] = totals(totals_of(r, view.rows));
  if (!r.approximate.empty()) j["approximate"] = category_list(r.approximate);
  return j;
}

}  // namespace pagescan::cli
