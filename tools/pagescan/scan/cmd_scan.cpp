// `pagescan scan TARGET`: one complete PAGEMAP_SCAN of a process, as a table, JSON or CSV.
#include <fmt/core.h>

#include <memory>
#include <optional>

#include "cli/arguments.hpp"
#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "cli/vma_selection.hpp"
#include "pagescan/features.hpp"
#include "scan/scan_notes.hpp"
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
  std::optional<std::string> vma;
  bool with_vma = false;
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
  std::optional<VmaSelector> vma;
  if (o.vma && o.range) return report_usage(vma_contradicts_range(*o.vma, *o.range));
  if (o.vma) {
    auto parsed = parse_vma_selector(*o.vma);
    if (!parsed.value) return report_usage(*parsed.error);
    vma = *parsed.value;
  }
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
  ScanReport report;
  report.pid = process->pid();
  report.page_size = f.page_size;
  report.start = range.start;
  report.end = range.end;
  // The map first: --vma needs it for the range, --with-vma to name each region's VMA.
  if (vma || o.with_vma) {
    auto map = read_memory_map(*process);
    if (!map) return report_error(map.error());
    report.vmas = std::move(*map);
  }
  if (vma) {
    auto chosen = select_vmas(*vma, report.vmas, process->pid());
    if (!chosen.value) return report_usage(*chosen.error);
    const AddressRange& chosen_range = chosen.value->range;
    if (chosen_range.end > f.user_address_limit) {  // [vsyscall] (§3.2)
      return report_usage(
          UsageError{"bad --vma '" + *o.vma + "': its VMA [" + hex(chosen_range.start) + "-" +
                     hex(chosen_range.end) + ") lies above the user address space (which ends at " +
                     hex(f.user_address_limit) + "), where PAGEMAP_SCAN does not walk"});
    }
    report.start = request->start = chosen_range.start;
    report.end = request->end = chosen_range.end;
  }
  ScanOptions options;
  options.backend = backend;
  auto result = scan(*process, *request, options);
  if (!result) return report_error(result.error());
  report.result = std::move(*result);

  if (o.write_protect) warn_if_nothing_can_be_write_protected(*process, report, options);
  if (o.with_vma) split_regions_at_vmas(report);
  if (format == "table") note_untracked_written(*process, report);

  if (format == "json") {
    fmt::print("{}\n", render_json(report).dump(2, ' ', false,
                                                nlohmann::ordered_json::error_handler_t::replace));
  } else if (format == "csv") {
    render_csv(report, stdout);
    // CSV has no place for it: say on stderr that the rows are not the whole answer.
    if (report.result.stop_reason != StopReason::complete) {
      print_message("note: stopped at max-pages; resume at " + hex(report.result.walk_end));
    }
  } else {
    render_table(report, use_colour(), shared.value->width, stdout);
  }
  return kExitOk;
}

}  // namespace

Command add_scan_command(CLI::App& app) {
  auto o = std::make_shared<ScanOptionsText>();
  CLI::App* sub = app.add_subcommand("scan", "Scan a process's pages with PAGEMAP_SCAN");
  // One line per paragraph: the help formatter wraps them at the screen's width.
  sub->footer(
      "Examples:\n"
      "  pagescan scan self --range 0x7f0000000000-0x7f0000100000 --all-of present\n"
      "  pagescan scan 1234 --any-of present,swapped --all-of '!pfnzero,!file' --json\n"
      "  pagescan scan 1234 --all-of written --max-pages 100 --format csv\n"
      "  pagescan scan 1234 --vma heap --with-vma\n"
      "  pagescan scan 1234 --vma libc --all-of present --json\n"
      "  pagescan scan 1234 --vma 0x7f3a2c001000 --with-vma\n"
      "Categories: wpallowed written file present swapped pfnzero huge soft-dirty guard. "
      "'!name' inverts a category in --all-of and --any-of (quote it in the shell: "
      "'!file'). The table gives sizes in human units; JSON and CSV give pages and bytes.\n"
      "written means \"not write-protected by userfaultfd\": in a VMA that nobody registered "
      "for userfaultfd write-protect the kernel reports every page as written, touched or "
      "not. The table says so under its totals when this happens.\n"
      "--vma NAME|ADDR scans one mapping instead of --range: heap, stack, vdso (any name "
      "/proc/PID/maps shows in brackets, without them), a file's name (libc: libc.so.6 or "
      "libc-2.31.so, not libcap.so.2) or path, taking all of that file's VMAs, which must "
      "lie together; or an address, taking the VMA that contains it. A name that matches "
      "nothing or several files is an error listing what there is.\n"
      "--with-vma gives each region its VMA: a column in the table (long paths shortened to "
      "their file name), a \"vma\" object in JSON, a \"vma\" column in CSV. The kernel "
      "merges regions across adjacent VMAs, so --with-vma splits a region where its VMAs "
      "meet: each row lies in exactly one VMA.\n"
      "--write-protect re-arms only VMAs the process registered for async userfaultfd "
      "write-protect (e.g. through pagescan's WriteWatch); when the range has none, nothing "
      "is protected and a warning says so.");
  add_shared_arguments(sub, kShape, o->shared);
  add_value_option(sub, "--range", o->range, "START-END, hex (0x...) or decimal (default: all)",
                   "START-END");
  add_value_option(sub, "--all-of", o->all_of, "every one of these categories (e.g. present,!file)",
                   "LIST");
  add_value_option(sub, "--any-of", o->any_of, "at least one of these categories", "LIST");
  add_value_option(sub, "--return", o->returning,
                   "categories reported per region (default: all the kernel supports)", "LIST");
  add_value_option(sub, "--vma", o->vma,
                   "scan one VMA instead of --range: heap, stack, a file name (libc) or path, "
                   "or an address in it",
                   "NAME|ADDR");
  sub->add_flag("--with-vma", o->with_vma,
                "name each region's VMA (regions are split where VMAs meet)");
  add_value_option(sub, "--max-pages", o->max_pages,
                   "report at most N matching pages, then stop and say where to resume (0, the "
                   "default: no limit)",
                   "N");
  sub->add_flag("--write-protect", o->write_protect,
                "re-arm (uffd write-protect) the written pages reported");
  sub->add_flag("--check-wp-async", o->check_wp_async,
                "fail if a VMA in range is not async write-protected");
  return Command{sub, [o] { return run_scan(*o); }};
}

}  // namespace pagescan::cli
