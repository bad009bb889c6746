// `pagescan scan TARGET`: one complete PAGEMAP_SCAN of a process, as a table, JSON or CSV.
#include <fmt/core.h>

#include <memory>
#include <optional>

#include "cli/arguments.hpp"
#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "pagescan/features.hpp"
#include "scan/scan_report.hpp"

namespace pagescan::cli {

namespace {

// Each value as typed, kept only when given (an empty value is checked like any other).
struct ScanOptionsText {
  SharedArguments shared;
  std::optional<std::string> range;
  std::optional<std::string> all_of;
  std::optional<std::string> any_of;
  std::optional<std::string> returning;  // default: all the kernel supports
  std::optional<std::string> max_pages;
  bool write_protect = false;
  bool check_wp_async = false;
};

const CommandShape kShape{true, {"table", "json", "csv"}, true};

int run_scan(const ScanOptionsText& o) {
  auto shared = resolve_shared(o.shared);
  if (!shared.value) return report_usage(*shared.error);
  const std::string& format = shared.value->format;
  const BackendChoice backend = shared.value->backend;

  const Features& f = features();
  AddressRange range{0, f.user_address_limit};
  if (o.range) {
    auto parsed = parse_range(*o.range);
    if (!parsed.value) return report_usage(*parsed.error);
    range = *parsed.value;
  }
  CategoryFilter all_of, any_of;
  if (o.all_of) {
    auto parsed = parse_category_filter(*o.all_of);
    if (!parsed) return report_usage(UsageError{"bad --all-of: " + parsed.error().message()});
    all_of = *parsed;
  }
  if (o.any_of) {
    auto parsed = parse_category_filter(*o.any_of);
    if (!parsed) return report_usage(UsageError{"bad --any-of: " + parsed.error().message()});
    any_of = *parsed;
  }
  // Only what was asked for: returning a category can cost the kernel a lookup per page.
  Categories supported = f.pagemap_scan && backend != BackendChoice::emulated
                             ? f.scan_categories
                             : Categories::all_known();
  Categories returning = supported;
  if (o.returning && *o.returning != "all") {
    auto parsed = parse_categories(*o.returning);
    if (!parsed) return report_usage(UsageError{"bad --return: " + parsed.error().message()});
    returning = *parsed;
  }
  auto request = make_request(range.start, range.end, all_of, any_of, returning);
  if (!request) return report_usage(UsageError{request.error().message()});
  if (o.max_pages) {
    auto n = parse_number(*o.max_pages, "--max-pages");
    if (!n.value) return report_usage(*n.error);
    request->max_pages = *n.value;
  }
  request->write_protect = o.write_protect;
  request->check_wp_async = o.check_wp_async;

  auto process = open_target(*shared.value->target);
  if (!process) return report_error(process.error());
  ScanOptions options;
  options.backend = backend;
  auto result = scan(*process, *request, options);
  if (!result) return report_error(result.error());

  ScanReport report{process->pid(), f.page_size, range.start, range.end, std::move(*result)};
  if (format == "json") {
    fmt::print("{}\n", render_json(report).dump(2));
  } else if (format == "csv") {
    render_csv(report, stdout);
    // CSV has no place for it: say on stderr that the rows are not the whole answer.
    if (report.result.stop_reason != StopReason::complete) {
      print_message("note: stopped at max-pages; resume at " + hex(report.result.walk_end));
    }
  } else {
    render_table(report, use_colour(), stdout);
  }
  return kExitOk;
}

}  // namespace

Command add_scan_command(CLI::App& app) {
  auto o = std::make_shared<ScanOptionsText>();
  CLI::App* sub = app.add_subcommand("scan", "Scan a process's pages with PAGEMAP_SCAN");
  sub->footer(
      "Examples:\n"
      "  pagescan scan self --range 0x7f0000000000-0x7f0000100000 --all-of present\n"
      "  pagescan scan 1234 --any-of present,swapped --all-of '!pfnzero,!file' --json\n"
      "  pagescan scan 1234 --all-of written --max-pages 100 --format csv\n"
      "Categories: wpallowed written file present swapped pfnzero huge soft-dirty guard;\n"
      "'!name' inverts a category in --all-of and --any-of. The table gives sizes in\n"
      "human units; JSON and CSV give pages and bytes.");
  add_shared_arguments(sub, kShape, o->shared);
  add_value_option(sub, "--range", o->range, "START-END, hex (0x...) or decimal (default: all)",
                   "START-END");
  add_value_option(sub, "--all-of", o->all_of, "every one of these categories (e.g. present,!file)",
                   "LIST");
  add_value_option(sub, "--any-of", o->any_of, "at least one of these categories", "LIST");
  add_value_option(sub, "--return", o->returning,
                   "categories reported per region (default: all the kernel supports)", "LIST");
  add_value_option(sub, "--max-pages", o->max_pages, "stop after this many pages", "N");
  sub->add_flag("--write-protect", o->write_protect,
                "re-arm (uffd write-protect) the written pages reported");
  sub->add_flag("--check-wp-async", o->check_wp_async,
                "fail if a VMA in range is not async write-protected");
  return Command{sub, [o] { return run_scan(*o); }};
}

}  // namespace pagescan::cli
