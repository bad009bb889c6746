// `pagescan features`: what this machine's kernel offers pagescan (like `criu check`).
#include <fmt/core.h>

#include <memory>

#include "cli/arguments.hpp"
#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "features/features_report.hpp"

namespace pagescan::cli {

namespace {

const CommandShape kShape{false, {"table", "json"}, false};

struct FeaturesOptions {
  SharedArguments shared;
};

int run_features(const FeaturesOptions& o) {
  // The backend shown is auto's choice: a PAGESCAN_BACKEND every scan would reject is an
  // error here too (resolve_shared checks it), not a backend to report.
  auto shared = resolve_shared(o.shared);
  if (!shared.value) return report_usage(*shared.error);
  const Features& f = features();
  if (shared.value->format == "json") {
    fmt::print("{}\n", render_features_json(f).dump(2));
  } else {
    render_features_table(f, use_colour(), stdout);
  }
  return kExitOk;
}

}  // namespace

Command add_features_command(CLI::App& app) {
  auto o = std::make_shared<FeaturesOptions>();
  CLI::App* sub = app.add_subcommand("features", "What this machine's kernel offers pagescan");
  sub->footer(
      "Examples:\n"
      "  pagescan features\n"
      "  pagescan features --json | jq .watch_engine\n"
      "Probed once per run: PAGEMAP_SCAN and each category, userfaultfd WP_ASYNC, soft-dirty\n"
      "(by a functional test), guard regions, THP, hugetlb, swap and PFN visibility; then\n"
      "which scan backend and write-tracking engine pagescan uses here, and why. The table\n"
      "gives sizes in human units, JSON in bytes.");
  add_shared_arguments(sub, kShape, o->shared);
  return Command{sub, [o] { return run_features(*o); }};
}

}  // namespace pagescan::cli
