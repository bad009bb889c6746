// `pagescan demo`: starts a workload with a known layout and shows what pagescan sees.
#include <fmt/core.h>

#include "commands.hpp"
#include "demo_workload.hpp"
#include "output.hpp"
#include "pagescan/features.hpp"
#include "scan_report.hpp"

namespace pagescan::cli {

namespace {

void print_features_summary(const Features& f) {
  fmt::print("kernel {}: PAGEMAP_SCAN {}", f.kernel_release, f.pagemap_scan ? "yes" : "no");
  if (f.pagemap_scan) fmt::print(" (categories: {})", to_string(f.scan_categories));
  fmt::print("; userfaultfd async write-protect {}; THP {}; guard regions {}\n",
             f.uffd_wp_async ? "yes" : "no", f.thp_mode.empty() ? "absent" : f.thp_mode,
             f.guard_regions ? "yes" : "no");
}

int run_demo() {
  const Features& f = features();
  fmt::print("pagescan demo: a child process with a known memory layout, scanned from here.\n");
  print_features_summary(f);
  auto workload = DemoWorkload::start();
  if (!workload) return report_error(workload.error());
  auto process = Process::attach(workload->pid());
  if (!process) return report_error(process.error());
  fmt::print("workload: pid {}\n", workload->pid());

  Categories returning = f.pagemap_scan ? f.scan_categories : Categories::all_known();
  for (const DemoPart& part : workload->parts()) {
    fmt::print("\n== {} — expect: {}\n", part.name, part.explanation);
    auto request = ScanRequest::over(part.start, part.end).returning(returning);
    auto result = scan(*process, request);
    if (!result) return report_error(result.error());
    render_table(ScanReport{workload->pid(), f.page_size, part.start, part.end, std::move(*result)},
                 stdout);
  }
  fmt::print("\nTry: pagescan scan self --json | head, or pagescan scan <pid> --all-of present\n");
  return kExitOk;
}

}  // namespace

Command add_demo_command(CLI::App& app) {
  CLI::App* sub = app.add_subcommand(
      "demo", "Start a workload with a known memory layout and show what pagescan sees in it");
  sub->footer("Example:\n  pagescan demo");
  return Command{sub, [] { return run_demo(); }};
}

}  // namespace pagescan::cli
