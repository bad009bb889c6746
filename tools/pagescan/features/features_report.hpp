// What `pagescan features` shows: the kernel's offer, and which scan backend and
// write-tracking engine pagescan will use here, with the reason.
#pragma once

#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/arguments.hpp"
#include "pagescan/features.hpp"

namespace pagescan::cli {

struct Choice {
  std::string name;  // "kernel", "uffd", ...; "none" when every call would fail
  std::string reason;
};

struct Choices {
  Choice backend;  // for a scan of every category
  Choice engine;   // for a WriteWatch left to choose (WatchEngine::automatic)
};

// What the library does here with PAGESCAN_BACKEND and PAGESCAN_WATCH_ENGINE as they
// are, read by the library's own functions: the backend `auto` takes for a request of
// every category, and the engine a WriteWatch gets (a forced one the kernel cannot run
// is "none", with the error every watch would return). Runs the engines' self-tests
// (cached). The one error: PAGESCAN_WATCH_ENGINE naming no engine, the library's message
// as a usage error. A bad PAGESCAN_BACKEND is resolve_shared()'s to reject first.
Parsed<Choices> library_choices(const Features& f);

// One row per feature: name, yes/no, detail; then the backend and engine. Sizes in human
// units; "yes" and "no" coloured when `colour`. Details longer than the line goes on
// continue on lines of their own, under the detail's start, so no line passes
// `max_columns`.
void render_features_table(const Features& f, const Choices& choices, bool colour, std::FILE* out,
                           std::size_t max_columns);
// Every field of the probe (sizes in bytes), plus "backend" and "watch_engine" as
// {"name", "reason"}. Fields are only ever added.
nlohmann::ordered_json render_features_json(const Features& f, const Choices& choices);

}  // namespace pagescan::cli
