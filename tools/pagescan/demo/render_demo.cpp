// `pagescan demo` as text or JSON: the features, the workload's parts as `map --heat`
// rows (one VMA each, named after the part), and the write-tracking rounds.
#include <fmt/core.h>

#include "cli/output.hpp"
#include "demo/demo_report.hpp"
#include "features/features_report.hpp"

namespace pagescan::cli {

namespace {

void heading(const std::string& text, bool colour, std::FILE* out) {
  fmt::print(out, "\n{}== {}{}\n", colour ? "\x1b[1m" : "", text, colour ? "\x1b[0m" : "");
}

nlohmann::ordered_json spans_json(const std::vector<PageSpan>& spans) {
  nlohmann::ordered_json j = nlohmann::ordered_json::array();
  for (const PageSpan& s : spans) j.push_back({{"first", s.first}, {"end", s.end}});
  return j;
}

bool same_pages(const std::vector<PageSpan>& a, const std::vector<PageSpan>& b) {
  std::vector<bool> pa, pb;
  for (auto [spans, bits] : {std::pair{&a, &pa}, std::pair{&b, &pb}}) {
    for (const PageSpan& s : *spans) {
      if (bits->size() < s.end) bits->resize(s.end);
      for (std::uint64_t i = s.first; i < s.end; ++i) (*bits)[i] = true;
    }
  }
  pa.resize(std::max(pa.size(), pb.size()));
  pb.resize(pa.size());
  return pa == pb;
}

}  // namespace

MapView demo_view(const MapReport& map, const std::vector<DemoPart>& parts) {
  MapView view;
  view.report = &map;
  for (const DemoPart& p : parts) {
    if (!p.available) continue;
    bool first = true;
    for (const VmaCounts& v : map.vmas) {
      if (v.vma.start < p.end && p.start < v.vma.end) {
        // The mprotect engine splits its region into a VMA per run of equal protection.
        view.rows.push_back(&v);
        view.notes.push_back(
            RowNote{std::string(part_name(p.kind)),
                    first ? part_story(p, map.page_size) : "the same part (its VMA was split)"});
        first = false;
      }
    }
  }
  view.filtered = view.rows.size() != map.vmas.size();
  return view;
}

std::vector<std::string> demo_findings(const MapReport& map, const std::vector<DemoPart>& parts) {
  std::vector<std::string> findings;
  const DemoPart& thp = parts[static_cast<std::size_t>(PartKind::thp)];
  if (thp.available && map.counted.contains(Category::huge)) {
    std::uint64_t huge = 0;
    for (const VmaCounts& v : map.vmas) {
      if (v.vma.start < thp.end && thp.start < v.vma.end)
        huge += v.pages[map_column(Category::huge)];
    }
    if (huge == 0) {
      findings.push_back(
          "thp: the kernel backed it with small pages this time (no free 2 MiB block, or "
          "khugepaged will collapse it later): HUGE is 0");
    }
  }
  return findings;
}

void render_demo_intro(const Features& f, bool colour, std::FILE* out) {
  fmt::print(out,
             "pagescan demo: a child process with a known memory layout, looked at from this "
             "one.\n");
  heading("What this kernel offers (pagescan features)", colour, out);
  render_features_table(f, colour, out, kDemoColumns);
}

void render_demo_text(const DemoReport& r, const TableStyle& style, std::FILE* out) {
  heading(fmt::format("The workload, pid {}: its parts as `pagescan map {} --heat` shows them",
                      r.pid, r.pid),
          style.colour, out);
  for (const DemoPart& p : r.parts) {
    if (p.available) continue;
    const std::string lead = std::string(part_name(p.kind)) + ": not available: ";
    fmt::print(out, "{}{}\n", lead, wrap_words(p.why_not, lead.size(), kDemoColumns));
  }
  render_map_table(r.view, style, out);
  for (const std::string& f : r.findings) fmt::print(out, "note: {}\n", f);

  if (!r.tracking) {
    heading("Write tracking", style.colour, out);
    fmt::print(out, "tracked: not available: {}\n", wrap_words(r.tracking_why, 24, kDemoColumns));
  } else {
    const Tracking& t = *r.tracking;
    heading(fmt::format("Write tracking: a WriteWatch ({} engine) over the tracked part's {} "
                        "pages (page numbers)",
                        t.engine, t.pages),
            style.colour, out);
    fmt::print(out,
               "Each round writes some pages; collect() returns those written since the last "
               "one and re-arms them.\n");
    for (std::size_t i = 0; i < t.rounds.size(); ++i) {
      const TrackingRound& round = t.rounds[i];
      const bool same = same_pages(round.wrote, round.collected) && !round.more;
      // The collected pages are listed only where they differ from those written.
      std::string verdict = same ? "exactly the pages written" : spans_text(round.collected);
      if (round.more) verdict += "; more remain";
      if (!same) {
        verdict += t.engine == "everything" ? "; the 'everything' engine reports every page"
                                            : "; NOT the pages written";
      }
      fmt::print(out, "{}\n",
                 wrap_words(fmt::format("round {}: wrote {} pages ({}); collect() returned {} ({})",
                                        i + 1, span_pages(round.wrote), spans_text(round.wrote),
                                        span_pages(round.collected), verdict),
                            0, kDemoColumns));
    }
  }
  fmt::print(out,
             "\nNext: pagescan map <pid> --svg memory.svg · pagescan scan self --json · "
             "pagescan <command> --help\n");
}

nlohmann::ordered_json render_demo_json(const DemoReport& r) {
  nlohmann::ordered_json parts = nlohmann::ordered_json::array();
  const std::uint64_t page = r.features->page_size;
  for (const DemoPart& p : r.parts) {
    nlohmann::ordered_json j = {{"name", std::string(part_name(p.kind))},
                                {"available", p.available}};
    if (p.available) {
      j["start"] = hex(p.start);
      j["end"] = hex(p.end);
      j["pages"] = (p.end - p.start) / page;
      j["acted"] = p.acted;
      j["story"] = part_story(p, page);
      if (p.kind == PartKind::tracked) j["engine"] = p.engine;
    } else {
      j["reason"] = p.why_not;
    }
    parts.push_back(std::move(j));
  }
  nlohmann::ordered_json tracking;
  if (r.tracking) {
    nlohmann::ordered_json rounds = nlohmann::ordered_json::array();
    for (const TrackingRound& round : r.tracking->rounds) {
      rounds.push_back({{"wrote", spans_json(round.wrote)},
                        {"wrote_pages", span_pages(round.wrote)},
                        {"collected", spans_json(round.collected)},
                        {"collected_pages", span_pages(round.collected)},
                        {"more", round.more}});
    }
    tracking = {{"available", true},
                {"engine", r.tracking->engine},
                {"pages", r.tracking->pages},
                {"rounds", std::move(rounds)}};
  } else {
    tracking = {{"available", false}, {"reason", r.tracking_why}};
  }
  return {{"features", render_features_json(*r.features)},
          {"pid", r.pid},
          {"parts", std::move(parts)},
          {"map", render_map_json(r.view, r.heat_width)},
          {"tracking", std::move(tracking)},
          {"findings", r.findings}};
}

}  // namespace pagescan::cli
