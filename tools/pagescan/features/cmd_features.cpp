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
  // The backend and engine shown are the library's choices: a PAGESCAN_BACKEND or
  // PAGESCAN_WATCH_ENGINE every scan or watch would reject is an error here too.
  auto shared = resolve_shared(o.shared);
  if (!shared.value) return report_usage(*shared.error);
  const Features& f = features();
  auto choices = library_choices(f);
  if (!choices.value) return report_usage(*choices.error);
  if (shared.value->format == "json") {
    fmt::print("{}\n", render_features_json(f, *choices.value).dump(2));
  } else {
    render_features_table(f, *choices.value, use_colour(), stdout, shared.value->width);
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
      "Probed once per run: PAGEMAP_SCAN and each category, userfaultfd WP_ASYNC, soft-dirty "
      "(by a functional test), guard regions, THP, hugetlb, swap, PFN visibility, and whether a "
      "read fault maps the shared zero page and, in a THP region, the huge zero page (by "
      "read-faulting scratch memory and scanning it); then which scan backend and "
      "write-tracking engine pagescan uses here, and why. The table gives sizes in human "
      "units, JSON in bytes.\n"
      "PAGESCAN_BACKEND and PAGESCAN_WATCH_ENGINE are read as the library reads them: a value "
      "that names no backend or engine is an error (exit 2), and a forced engine this kernel "
      "cannot run shows as 'none' with the error every watch would get.");
  add_shared_arguments(sub, kShape, o->shared);
  return Command{sub, [o] { return run_features(*o); }};
}

}  // namespace pagescan::cli
