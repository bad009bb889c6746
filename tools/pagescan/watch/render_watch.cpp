// watch's output in its three formats (watch_report.hpp).
#include <fmt/core.h>

#include <nlohmann/json.hpp>

#include "cli/output.hpp"
#include "cli/vma_selection.hpp"
#include "watch/watch_report.hpp"

namespace pagescan::cli {

namespace {

nlohmann::ordered_json range_json(const PageRange& r) {
  nlohmann::ordered_json j;
  j["start"] = hex(r.start);
  j["end"] = hex(r.end);
  return j;
}

void print_json(const nlohmann::ordered_json& line) {
  // Paths and reasons are bytes, not necessarily UTF-8: replace what JSON cannot carry.
  fmt::print("{}\n", line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
}

std::string pages_text(std::uint64_t pages) {
  return fmt::format("{} page{}", pages, pages == 1 ? "" : "s");
}

}  // namespace

std::vector<std::string> mapping_rows(const std::vector<MappingWrites>& by_mapping,
                                      unsigned width) {
  std::vector<std::string> rows;
  for (const MappingWrites& m : by_mapping) {
    // The mapping's start tells apart mappings of one file; it goes on narrow screens.
    std::string row = fmt::format("  {}{:>12} {:>10}  ",
                                  width >= 60 ? fmt::format("{:>14} ", hex(m.vma.start)) : "",
                                  pages_text(m.pages), human_size(m.pages * page_size()));
    const std::size_t room = width > row.size() ? width - row.size() : 1;
    rows.push_back(row + short_vma_name(m.vma, room));
  }
  return rows;
}

void print_armed(const WatchPrinter& p, const WatchSet& set) {
  const std::vector<PageRange> armed = set.armed();
  const std::vector<UntrackedRange> untracked = set.untracked();
  if (p.format == "json") {
    nlohmann::ordered_json line;
    line["pid"] = set.pid();
    line["engine"] = std::string(to_string(set.engine()));
    line["armed"] = nlohmann::ordered_json::array();
    for (const PageRange& r : armed) line["armed"].push_back(range_json(r));
    line["untracked"] = nlohmann::ordered_json::array();
    for (const UntrackedRange& u : untracked) {
      nlohmann::ordered_json j = range_json(u.range);
      j["reason"] = u.reason;
      line["untracked"].push_back(j);
    }
    print_json(line);
  } else if (p.format == "csv") {
    fmt::print("round,start,end,pages,mapping\n");
  } else {
    std::uint64_t bytes = 0;
    for (const PageRange& r : armed) bytes += r.end - r.start;
    fmt::print("{}",
               wrap_words(fmt::format("pid {}: {} armed in {} range{} ({}); each round lists the "
                                      "pages written since the one before.",
                                      set.pid(), human_size(bytes), armed.size(),
                                      armed.size() == 1 ? "" : "s", to_string(set.engine())),
                          0, p.width) +
                   "\n");
    for (const UntrackedRange& u : untracked) {
      fmt::print("{}\n", wrap_words(fmt::format("  not tracked {}-{}: {}", hex(u.range.start),
                                                hex(u.range.end), u.reason),
                                    4, p.width));
    }
  }
  flush_round();
}

void print_round(const WatchPrinter& p, pid_t pid, std::uint64_t number, const Round& round) {
  const Harvest& harvest = round.harvest;
  const std::vector<MappingWrites>& by_mapping = round.by_mapping;
  if (p.format == "json") {
    nlohmann::ordered_json line;
    line["round"] = number;
    line["pid"] = pid;
    line["pages"] = harvest.pages;
    line["written"] = nlohmann::ordered_json::array();
    for (const PageRange& r : harvest.ranges) line["written"].push_back(range_json(r));
    print_json(line);
  } else if (p.format == "csv") {
    for (const MappingWrites& m : by_mapping) {
      for (const PageRange& r : m.ranges) {
        fmt::print("{},{},{},{},{}\n", number, hex(r.start), hex(r.end),
                   (r.end - r.start) / page_size(), csv_field(vma_name(m.vma)));
      }
    }
  } else if (harvest.pages == 0) {
    fmt::print("round {}: nothing written\n", number);
  } else {
    fmt::print("round {}: {} written ({}) in {} mapping{}\n", number, pages_text(harvest.pages),
               human_size(harvest.pages * page_size()), by_mapping.size(),
               by_mapping.size() == 1 ? "" : "s");
    for (const std::string& row : mapping_rows(by_mapping, p.width)) fmt::print("{}\n", row);
  }
  flush_round();
}

void print_ended(const WatchPrinter& p, pid_t pid, const std::string& ended) {
  if (p.format == "json") {
    nlohmann::ordered_json line;
    line["pid"] = pid;
    line["ended"] = ended;
    print_json(line);
  } else if (p.format == "table") {
    fmt::print("pid {}: watch ended ({})\n", pid, ended);
  }
  flush_round();
}

}  // namespace pagescan::cli
