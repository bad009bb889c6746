// How `pagescan watch` prints: the armed line, one block (table), line (JSON Lines) or
// rows (CSV) per round, and the ended line.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "watch/watch_session.hpp"

namespace pagescan::cli {

struct WatchPrinter {
  std::string format;  // table, json or csv
  unsigned width = 80;
};

void print_armed(const WatchPrinter& p, const WatchSet& set);
// The table and CSV name mappings: `round` must be split (collect_round with a process).
void print_round(const WatchPrinter& p, pid_t pid, std::uint64_t number, const Round& round);
void print_ended(const WatchPrinter& p, pid_t pid, const std::string& ended);

// Table rows of one round, each at most `width` columns: "  <start> <pages> <bytes>  <path>".
std::vector<std::string> mapping_rows(const std::vector<MappingWrites>& by_mapping, unsigned width);

}  // namespace pagescan::cli
