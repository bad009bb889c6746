// --engine and --max-mapping (tracking_options.hpp).
#include "watch/tracking_options.hpp"

namespace pagescan::cli {

void add_tracking_options(CLI::App* command, TrackingText& text) {
  add_value_option(command, "--engine", text.engine,
                   "auto, uffd or soft-dirty (default: auto; PAGESCAN_WATCH_ENGINE sets auto's "
                   "choice)",
                   "NAME");
  add_value_option(command, "--max-mapping", text.max_mapping,
                   "leave untracked a mapping larger than this, e.g. 512M (default 16G)", "SIZE");
}

Parsed<ProcessWatchOptions> resolve_tracking(const TrackingText& text) {
  auto fail = [](std::string message) {
    return Parsed<ProcessWatchOptions>{std::nullopt, UsageError{std::move(message)}};
  };
  ProcessWatchOptions options;
  const std::string name = text.engine.value_or("auto");
  auto engine = parse_watch_engine(name);
  if (!engine || (*engine != WatchEngine::automatic && *engine != WatchEngine::uffd &&
                  *engine != WatchEngine::soft_dirty)) {
    return fail("bad --engine '" + name + "': expected auto, uffd or soft-dirty" +
                (engine ? " (" + name + " cannot watch another process)" : ""));
  }
  options.engine = *engine;
  // The library reads the variable when automatic meets an attach; checked here so that
  // a name it would refuse stops the command before it attaches.
  if (*engine == WatchEngine::automatic) {
    if (auto requested = watch_engine_requested(*engine); !requested) {
      return fail(requested.error().message());
    }
  }
  if (text.max_mapping) {
    auto size = parse_size(*text.max_mapping, "--max-mapping");
    if (!size.value) return {std::nullopt, size.error};
    if (*size.value == 0)
      return fail("bad --max-mapping '" + *text.max_mapping + "': expected a size > 0");
    options.max_mapping_bytes = *size.value;
  }
  return {options, std::nullopt};
}

}  // namespace pagescan::cli
