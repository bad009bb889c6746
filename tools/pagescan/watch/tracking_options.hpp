// The options that choose how `watch` and `top` track another process: --engine and
// --max-mapping, turned into the library's ProcessWatchOptions.
#pragma once

#include <optional>
#include <string>

#include "cli/arguments.hpp"
#include "pagescan/process_watch.hpp"

namespace pagescan::cli {

struct TrackingText {
  std::optional<std::string> engine;
  std::optional<std::string> max_mapping;
};

// Declares --engine auto|uffd|soft-dirty and --max-mapping SIZE on `command`.
void add_tracking_options(CLI::App* command, TrackingText& text);

// Errors (usage, before anything is attached): "bad --engine 'x': expected auto, uffd or
// soft-dirty"; with --engine auto (or none) a PAGESCAN_WATCH_ENGINE naming no engine,
// in the library's words; "bad --max-mapping '12Q': expected a size such as 4096, 64K,
// 2M or 1G"; "bad --max-mapping '0': expected a size > 0".
Parsed<ProcessWatchOptions> resolve_tracking(const TrackingText& text);

}  // namespace pagescan::cli
