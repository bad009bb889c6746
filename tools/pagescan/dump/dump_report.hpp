// What `pagescan dump` prints per core: one line (wrapped at the screen width) or, with
// --json, one JSON object per line; and, with --every, how the series ended.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "pagescan/core_dump.hpp"

namespace pagescan::cli {

struct DumpPrinter {
  std::string format;  // "table" or "json"
  unsigned width = 80;
};

// "core.3: 412 mappings, 2.1 GiB data, 7.9 GiB holes, target stopped 18 ms, 3 pre-copy
// passes", plus for a core made from the previous one what this dump copied.
std::string dump_line(const DumpReport& report);

void print_dump(const DumpPrinter& printer, pid_t pid, std::uint64_t number,
                const DumpReport& report);

// --every: the series ended ("exited", "signal" or "count") after `dumps` cores. JSON:
// {"pid":P,"ended":"exited","dumps":N}; table: a note on stderr unless it ended by count.
void print_dump_end(const DumpPrinter& printer, pid_t pid, const std::string& ended,
                    std::uint64_t dumps);

}  // namespace pagescan::cli
