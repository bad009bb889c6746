// `pagescan demo`: starts a workload with a known layout and shows what pagescan sees:
// the features, `map --heat` of the workload's parts, and a write-tracking round.
#include <fmt/core.h>

#include <memory>
#include <optional>

#include "cli/arguments.hpp"
#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "demo/demo_hugetlb.hpp"
#include "demo/demo_report.hpp"
#include "demo/demo_workload.hpp"
#include "pagescan/process.hpp"

namespace pagescan::cli {

namespace {

const CommandShape kShape{false, {"table", "json"}, true};

struct DemoOptions {
  SharedArguments shared;
  bool ascii = false;
};

int run_demo(const DemoOptions& o) {
  // Every usage error, PAGESCAN_BACKEND's and PAGESCAN_WATCH_ENGINE's included, before
  // the demo prints, forks or touches vm.nr_hugepages.
  auto shared = resolve_shared(o.shared);
  if (!shared.value) return report_usage(*shared.error);
  const BackendChoice backend = shared.value->backend;
  const unsigned width = shared.value->width;
  const bool json = shared.value->format == "json";
  const bool colour = !json && use_colour();

  // Probed before anything changes: the features shown are the machine's own.
  const Features& f = features();
  auto choices = library_choices(f);
  if (!choices.value) return report_usage(*choices.error);
  if (!json) {
    render_demo_intro(f, *choices.value, colour, width, stdout);
    std::fflush(stdout);  // before the fork: the child must not inherit buffered output
  }

  DemoPlan plan = plan_demo();
  HugetlbLease lease(f.hugetlb_page_size);
  plan.hugetlb = lease.available();
  plan.hugetlb_why = lease.why_not();
  auto workload = DemoWorkload::start(plan);
  lease.restore();  // the workload holds its page now (or never will)
  if (!workload) return report_error(workload.error());

  auto process = Process::attach(workload->pid());
  if (!process) return report_error(process.error());
  MapOptions options;
  options.counted = countable_categories(backend);
  options.heat_category = Category::present;
  DemoReport report;
  options.heat_bins = report.heat_width;
  options.scan.backend = backend;
  auto map = build_map_report(*process, options);
  if (!map) return report_error(map.error());

  report.features = &f;
  report.choices = *choices.value;
  report.pid = workload->pid();
  report.parts = workload->parts();
  report.view = demo_view(*map, report.parts);
  report.findings = demo_findings(*map, report.parts);
  // After the map, so the map shows round 1's writes before collect() re-arms them.
  if (auto tracking = workload->track()) {
    report.tracking = std::move(*tracking);
  } else {
    report.tracking_why = tracking.error().message();
  }

  if (json) {
    fmt::print("{}\n", render_demo_json(report).dump(
                           2, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
  } else {
    render_demo_text(report, TableStyle{colour, true, o.ascii, report.heat_width, true}, width,
                     stdout);
  }
  return kExitOk;
}

}  // namespace

Command add_demo_command(CLI::App& app) {
  auto o = std::make_shared<DemoOptions>();
  CLI::App* sub = app.add_subcommand(
      "demo", "Start a workload with a known memory layout and show what pagescan sees in it");
  sub->footer(
      "Examples:\n"
      "  pagescan demo\n"
      "  pagescan demo --ascii            # heat strips without Unicode blocks\n"
      "  pagescan demo --json | jq '.tracking.rounds'\n"
      "The workload is a child process with written, read-only, untouched, THP, hugetlb, "
      "file-backed, swapped and guard pages and a write-tracked region, each in a VMA of its "
      "own. Each part's line says what the workload did there and what the scan counted there, "
      "nothing it did not measure. A part this machine cannot show says why ('not available: "
      "...').\n"
      "For the hugetlb page the demo raises vm.nr_hugepages from 0 to 1 and puts it back at "
      "once; it never adds swap. The child is killed before the demo exits.");
  add_shared_arguments(sub, kShape, o->shared);
  sub->add_flag("--ascii", o->ascii, "heat strips in ASCII instead of Unicode blocks");
  return Command{sub, [o] { return run_demo(*o); }};
}

}  // namespace pagescan::cli
