// What `pagescan features` shows: the kernel's offer, and which scan backend and
// write-tracking engine pagescan will use here, with the reason.
#pragma once

#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "pagescan/features.hpp"

namespace pagescan::cli {

struct Choice {
  std::string name;
  std::string reason;
};

// The backend `auto` uses for a request of every category (PAGESCAN_BACKEND honoured).
Choice scan_backend_choice(const Features& f);
// The engine WriteWatch's `automatic` picks (PAGESCAN_WATCH_ENGINE honoured), and why
// the ones before it were passed over. Runs the engines' self-tests (cached).
Choice watch_engine_choice();

// One row per feature: name, yes/no, detail; then the backend and engine. Sizes in human
// units; "yes" and "no" coloured when `colour`. With `max_columns`, details longer than
// the line goes on continue on lines of their own, under the detail's start.
void render_features_table(const Features& f, bool colour, std::FILE* out,
                           std::size_t max_columns = 0);
// Every field of the probe (sizes in bytes), plus "backend" and "watch_engine" as
// {"name", "reason"}. Fields are only ever added.
nlohmann::ordered_json render_features_json(const Features& f);

}  // namespace pagescan::cli
