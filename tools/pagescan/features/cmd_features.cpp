// `pagescan features`: what this machine's kernel offers pagescan (like `criu check`).
#include <fmt/core.h>

#include <memory>

#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "cli/output.hpp"
#include "cli/positionals.hpp"
#include "features/features_report.hpp"

namespace pagescan::cli {

namespace {

const std::vector<std::string> kFormats = {"table", "json"};

struct FeaturesOptions {
  Positionals positionals;
  FormatOption format;
};

int run_features(const FeaturesOptions& o) {
  if (auto error = check_no_arguments("features", o.positionals)) return report_usage(*error);
  auto format = resolve_format(o.format, kFormats);
  if (!format.value) return report_usage(*format.error);
  // The backend shown is auto's choice: a PAGESCAN_BACKEND every scan would reject is an
  // error here too, not a backend to report.
  auto backend = resolve_backend(std::nullopt);
  if (!backend.value) return report_usage(*backend.error);
  const Features& f = features();
  if (*format.value == "json") {
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
  add_version_flag(sub);
  add_no_arguments(sub, o->positionals);
  add_format_options(sub, o->format, kFormats);
  return Command{sub, [o] { return run_features(*o); }};
}

}  // namespace pagescan::cli
