// `pagescan demo` as text or JSON: the features, the workload's parts as `map --heat`
// rows (one VMA each, named after the part), and the write-tracking rounds.
#include <fmt/core.h>

#include "cli/output.hpp"
#include "demo/demo_report.hpp"
#include "features/features_report.hpp"

namespace pagescan::cli {

namespace {

void heading(const std::string& text, bool colour, unsigned width, std::FILE* out) {
  fmt::print(out, "\n{}== {}{}\n", colour ? "\x1b[1m" : "", wrap_words(text, 3, width),
             colour ? "\x1b[0m" : "");
}

// A paragraph of the demo's own text, wrapped at the screen width; continuation lines are
// indented by `indent` (the first line is kept as short as they are).
void say(const std::string& text, unsigned width, std::FILE* out, std::size_t indent = 2) {
  fmt::print(out, "{}\n", wrap_words(text, indent, width));
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
        view.notes.push_back(RowNote{std::string(part_name(p.kind)),
                                     first ? part_story(p, measured_counts(map, p), map.page_size)
                                           : "the same part (its VMA was split)"});
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
  if (thp.available) {
    if (measured_counts(map, thp).of(Category::huge) == 0u) {
      findings.push_back(
          "thp: HUGE is 0: the kernel backed the region with small pages this time (it may "
          "still collapse them into a huge page later)");
    }
  }
  return findings;
}

void render_demo_intro(const Features& f, const Choices& choices, bool colour, unsigned width,
                       std::FILE* out) {
  say("pagescan demo: a child process with a known memory layout, looked at from this one.", width,
      out, 0);
  heading("What this kernel offers (pagescan features)", colour, width, out);
  render_features_table(f, choices, colour, out, width);
}

namespace {

// "round 1: wrote 6 pages (1-3, 8, 20-21); collect() returned exactly these 6": the
// collected pages are listed only where they differ from those written.
std::string round_text(std::size_t number, const TrackingRound& round, const Tracking& t) {
  const std::string wrote = fmt::format("round {}: wrote {} pages ({}); collect() returned ",
                                        number, span_pages(round.wrote), spans_text(round.wrote));
  if (same_pages(round.wrote, round.collected) && !round.more) {
    return wrote + fmt::format("exactly these {}", span_pages(round.collected));
  }
  std::string verdict =
      fmt::format("{} ({})", span_pages(round.collected), spans_text(round.collected));
  if (round.more) verdict += "; more remain";
  const bool every = span_pages(round.collected) == t.pages;
  verdict += every && t.engine == "everything" ? ": every page, as the 'everything' engine does"
                                               : ": NOT the pages written";
  return wrote + verdict;
}

void render_tracking(const DemoReport& r, bool colour, unsigned width, std::FILE* out) {
  if (!r.tracking) {
    heading("Write tracking", colour, width, out);
    say("tracked: not available: " + r.tracking_why, width, out);
    return;
  }
  const Tracking& t = *r.tracking;
  heading(fmt::format("Write tracking: a WriteWatch ({} engine) over the tracked part's {} pages",
                      t.engine, t.pages),
          colour, width, out);
  say("Each round writes some pages (numbered from 0), then calls collect(), which is to "
      "return the pages written since the last collect() and re-arm them:",
      width, out, 0);
  for (std::size_t i = 0; i < t.rounds.size(); ++i) {
    say(round_text(i + 1, t.rounds[i], t), width, out);
  }
}

}  // namespace

void render_demo_text(const DemoReport& r, const TableStyle& style, unsigned width,
                      std::FILE* out) {
  heading(fmt::format("The workload, pid {}: its parts as `pagescan map {} --heat` shows them",
                      r.pid, r.pid),
          style.colour, width, out);
  for (const DemoPart& p : r.parts) {
    if (p.available) continue;
    say(std::string(part_name(p.kind)) + ": not available: " + p.why_not, width, out);
  }
  render_map_table(r.view, style, out);
  for (const std::string& f : r.findings) say("note: " + f, width, out);
  render_tracking(r, style.colour, width, out);
  fmt::print(out,
             "\nNext: pagescan map PID --svg memory.svg\n"
             "      pagescan scan self --json\n"
             "      pagescan COMMAND --help\n");
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
      j["story"] = part_story(p, measured_counts(*r.view.report, p), page);
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
  return {{"features", render_features_json(*r.features, r.choices)},
          {"pid", r.pid},
          {"parts", std::move(parts)},
          {"map", render_map_json(r.view, r.heat_width)},
          {"tracking", std::move(tracking)},
          {"findings", r.findings}};
}

}  // namespace pagescan::cli
