// `pagescan map TARGET`: every VMA of a process with its page counts per category, as a
// table (with heat strips), JSON or CSV, and optionally an SVG picture of the whole
// address space.
#include <fmt/core.h>

#include <algorithm>
#include <charconv>
#include <memory>
#include <optional>

#include "cli/arguments.hpp"
#include "cli/atomic_file.hpp"
#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "cli/vma_selection.hpp"
#include "map/map_report.hpp"
#include "pagescan/features.hpp"

namespace pagescan::cli {

namespace {

constexpr std::uint32_t kMaxHeatWidth = 1024;

// Each value as typed, kept only when given (an empty value is checked like any other).
struct MapOptionsText {
  SharedArguments shared;
  std::optional<std::string> min_size;
  std::optional<std::string> only;
  std::optional<std::string> sort;  // default: address
  bool heat = false;
  std::optional<std::string> category;
  bool ascii = false;
  bool wide = false;
  std::optional<std::string> heat_width;
  std::optional<std::string> svg;
  std::optional<std::string> vma;
  // The options that only shape heat strips, so ask for them: the error names the one given.
  std::vector<CLI::Option*> heat_shapers;  // --category, --ascii, --heat-width
  CLI::App* command = nullptr;
};

const CommandShape kShape{true, {"table", "json", "csv"}, true};

// "anon,heap": the backings to show. An unknown name is quoted alone; an empty element
// ("anon,") quotes the list, since '' alone would not say where it is.
Parsed<std::vector<Backing>> parse_only(const std::string& text) {
  static const std::pair<const char*, Backing> kNames[] = {
      {"anon", Backing::anonymous}, {"file", Backing::file}, {"shm", Backing::shared_memory},
      {"stack", Backing::stack},    {"heap", Backing::heap}, {"special", Backing::special}};
  const std::string names = "anon, file, shm, stack, heap or special";
  std::vector<Backing> out;
  std::size_t begin = 0;
  while (begin <= text.size()) {
    std::size_t comma = std::min(text.find(',', begin), text.size());
    std::string name = text.substr(begin, comma - begin);
    bool found = false;
    for (const auto& [n, b] : kNames) {
      if (name == n) {
        out.push_back(b);
        found = true;
      }
    }
    if (name.empty() && !text.empty()) {
      return {std::nullopt, UsageError{"bad --only '" + text + "': empty element (expected " +
                                       names + ", comma-separated)"}};
    }
    if (!found) {
      return {std::nullopt,
              UsageError{"bad --only '" + name + "': expected " + names + " (a comma list)"}};
    }
    begin = comma + 1;
  }
  return {out, std::nullopt};
}

// The rows to show: filtered by size and backing, then sorted (largest first for the
// counting keys, ties and "address" in address order).
MapView make_view(const MapReport& report, std::uint64_t min_size, const std::vector<Backing>& only,
                  const std::string& sort) {
  MapView view;
  view.report = &report;
  for (const VmaCounts& v : report.vmas) {
    bool wanted =
        v.vma.length() >= min_size &&
        (only.empty() || std::find(only.begin(), only.end(), v.vma.backing) != only.end());
    if (wanted) {
      view.rows.push_back(&v);
    } else {
      view.filtered = true;
    }
  }
  auto key = [&](const VmaCounts* v) -> std::uint64_t {
    if (sort == "size") return v->vma.length();
    std::size_t column = map_column(sort == "present" ? Category::present : Category::swapped);
    return shown_count(report, *v, column).value_or(0);
  };
  if (sort != "address") {
    std::stable_sort(view.rows.begin(), view.rows.end(),
                     [&](const VmaCounts* a, const VmaCounts* b) { return key(a) > key(b); });
  }
  return view;
}

// The option to name when heat strips cannot be shown: --heat if given, else the first
// option given that asks for them.
std::string heat_asked_by(const MapOptionsText& o) {
  if (o.heat) return "--heat";
  for (const CLI::Option* given : o.command->parse_order()) {
    for (const CLI::Option* shaper : o.heat_shapers) {
      if (given == shaper) return shaper->get_name();
    }
  }
  return "--heat";
}

int run_map(const MapOptionsText& o) {
  auto shared = resolve_shared(o.shared);
  if (!shared.value) return report_usage(*shared.error);
  const std::string& format = shared.value->format;
  const BackendChoice backend = shared.value->backend;
  std::uint64_t min_size = 0;
  if (o.min_size) {
    auto parsed = parse_size(*o.min_size, "--min-size");
    if (!parsed.value) return report_usage(*parsed.error);
    min_size = *parsed.value;
  }
  std::vector<Backing> only;
  if (o.only) {
    auto parsed = parse_only(*o.only);
    if (!parsed.value) return report_usage(*parsed.error);
    only = *parsed.value;
  }
  const std::string sort = o.sort.value_or("address");
  if (sort != "address" && sort != "size" && sort != "present" && sort != "swapped") {
    return report_usage(
        UsageError{"bad --sort '" + sort + "': expected size, present, swapped or address"});
  }
  // --category, --ascii and --heat-width only shape the heat strip: they ask for it.
  const bool heat = o.heat || o.category || o.ascii || o.heat_width;
  Category heat_category = Category::present;
  if (o.category) {
    auto parsed = parse_category(*o.category);
    if (!parsed) return report_usage(UsageError{"bad --category: " + parsed.error().message()});
    heat_category = *parsed;
  }
  std::uint32_t width = 64;
  if (o.heat_width) {
    auto parsed = parse_number(*o.heat_width, "--heat-width");
    if (!parsed.value) return report_usage(*parsed.error);
    if (*parsed.value == 0 || *parsed.value > kMaxHeatWidth) {
      return report_usage(UsageError{"bad --heat-width '" + *o.heat_width + "': expected 1 to " +
                                     std::to_string(kMaxHeatWidth) + " cells"});
    }
    width = static_cast<std::uint32_t>(*parsed.value);
  }
  if (heat && format == "csv") {
    const std::string asked_by = heat_asked_by(o);
    return report_usage(
        UsageError{(asked_by == "--heat" ? asked_by : asked_by + " asks for heat strips, which") +
                   " cannot be shown with --format csv (use table or json)"});
  }
  if (o.svg && o.svg->empty())
    return report_usage(UsageError{"bad --svg '': expected a file name"});
  std::optional<VmaSelector> vma;
  if (o.vma) {
    auto parsed = parse_vma_selector(*o.vma);
    if (!parsed.value) return report_usage(*parsed.error);
    vma = *parsed.value;
  }

  const bool svg_to_stdout = o.svg && *o.svg == "-";
  if (svg_to_stdout && (o.shared.format || o.shared.json)) {
    return report_usage(
        UsageError{"--svg - writes the picture to standard output instead of the "
                   "table: it cannot be combined with " +
                   std::string(o.shared.json ? "--json" : "--format")});
  }
  // Checked (and its temporary created) before the scan: a FILE that cannot be written
  // fails the command before any work, and nothing is left behind.
  std::optional<AtomicFile> svg_file;
  if (o.svg) {
    auto file = AtomicFile::create(*o.svg);
    if (!file) return report_error(file.error());
    svg_file.emplace(std::move(*file));
  }

  MapOptions options;
  options.counted = countable_categories(backend);
  if (heat) options.heat_category = heat_category;
  options.heat_bins = width;
  options.picture = o.svg.has_value();
  options.scan.backend = backend;

  auto process = open_target(*shared.value->target);
  if (!process) return report_error(process.error());
  auto report = build_map_report(*process, options);
  if (!report) return report_error(report.error());
  if (vma) {  // --vma: the report (and the picture) keep only the chosen VMAs
    std::vector<MappedRegion> vmas;
    for (const VmaCounts& v : report->vmas) vmas.push_back(v.vma);
    auto chosen = select_vmas(*vma, vmas, process->pid());
    if (!chosen.value) return report_usage(*chosen.error);
    report->vmas.erase(report->vmas.begin() + static_cast<std::ptrdiff_t>(chosen.value->last) + 1,
                       report->vmas.end());
    report->vmas.erase(report->vmas.begin(),
                       report->vmas.begin() + static_cast<std::ptrdiff_t>(chosen.value->first));
  }

  // The picture first: when it cannot be written nothing is printed and nothing is left.
  std::string svg_note;
  if (svg_file) {
    std::string svg = render_svg(*report);
    if (auto ok = svg_file->write(svg); !ok) return report_error(ok.error());
    if (auto ok = svg_file->commit(); !ok) return report_error(ok.error());
    if (svg_to_stdout) return kExitOk;  // the picture is the output
    svg_note =
        fmt::format("SVG: {} ({} VMAs, {})\n", *o.svg, report->vmas.size(), human_size(svg.size()));
  }
  MapView view = make_view(*report, min_size, only, sort);
  if (format == "json") {
    // File names are bytes, not necessarily UTF-8: replace what JSON cannot carry.
    fmt::print("{}\n", render_map_json(view, heat ? std::optional(width) : std::nullopt)
                           .dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
  } else if (format == "csv") {
    render_map_csv(view, stdout);
  } else {
    TableStyle style{use_colour(), heat, o.ascii, width};
    style.screen = shared.value->width;
    style.wide = o.wide;
    style.heat_width_forced = o.heat_width.has_value();
    render_map_table(view, style, stdout);
    fmt::print("{}", svg_note);
  }
  return kExitOk;
}

}  // namespace

Command add_map_command(CLI::App& app) {
  auto o = std::make_shared<MapOptionsText>();
  CLI::App* sub =
      app.add_subcommand("map",
                         "Show every VMA of a process with its present, swapped, zero, huge, file, "
                         "written and guard pages");
  sub->footer(
      "Examples:\n"
      "  pagescan map self\n"
      "  pagescan map 1234 --heat                    # where the present pages are\n"
      "  pagescan map 1234 --heat --category written --ascii --heat-width 32\n"
      "  pagescan map 1234 --only anon,heap --min-size 2M --sort present\n"
      "  pagescan map 1234 --wide                    # every column, one line per VMA\n"
      "  pagescan map 1234 --svg memory.svg          # open it in a browser\n"
      "  pagescan map 1234 --json | jq '.vmas[] | select(.counts.swapped > 0)'\n"
      "\n"
      "Counts are sizes in the table and pages of the base page size in JSON and CSV. The "
      "table fits the screen width (--width): columns with nothing to show for this process "
      "are left out and named under the table (WRITTEN when no VMA is uffd-wp registered, "
      "columns that are 0 in every row), long paths keep their file name, and --wide shows "
      "every column on one line per VMA however wide.\n\n"
      "RSS, PSS and SWAP are the kernel's own figures from /proc/PID/smaps; the totals "
      "line up with /proc/PID/smaps_rollup (JSON carries every smaps line, in bytes). SWAP "
      "includes swapped-out shmem, which the scan cannot see: such a page is empty in the "
      "page table. Shared memory (shared anonymous, memfd, SysV, any file on tmpfs) is labelled "
      "shm, not file, although the scan marks its pages FILE.\n\n"
      "SWAPPED is every non-present entry the scan saw; SWAPENT and MARKERS split it into "
      "swap entries and markers (guard markers from MADV_GUARD_INSTALL, uffd-wp markers). In "
      "a uffd-wp registered VMA only pagemap's swap type tells them apart, which needs "
      "CAP_SYS_ADMIN: without it the split shows '?' and says why.\n\n"
      "WRITTEN means 'not uffd write-protected' and is known only in VMAs registered for "
      "userfaultfd write-protect ('n/t', not tracked, elsewhere). Filters and --sort choose "
      "the rows; the totals stay the whole process's; the SVG always shows every VMA in "
      "address order.");
  add_shared_arguments(sub, kShape, o->shared);
  add_value_option(sub, "--min-size", o->min_size,
                   "only VMAs at least this large (4096, 64K, 2M, 1G)", "SIZE");
  add_value_option(sub, "--only", o->only,
                   "only these backings: anon, file, shm, stack, heap, special", "LIST");
  add_value_option(sub, "--sort", o->sort, "row order: address (default), size, present or swapped",
                   "KEY");
  sub->add_flag("--heat", o->heat, "a strip per VMA showing where the category's pages are");
  o->heat_shapers.push_back(
      add_value_option(sub, "--category", o->category,
                       "the heat strip's category (default: present; any category name)", "NAME"));
  o->heat_shapers.push_back(
      sub->add_flag("--ascii", o->ascii, "heat strips in ASCII instead of Unicode blocks"));
  o->heat_shapers.push_back(add_value_option(sub, "--heat-width", o->heat_width,
                                             "heat strip cells (default 64, at most 1024)", "N"));
  add_value_option(sub, "--vma", o->vma,
                   "only one mapping: heap, stack, a file name (libc) or path, or an address in "
                   "it (see 'pagescan scan --help')",
                   "NAME|ADDR");
  sub->add_flag("--wide", o->wide, "every column on one line per VMA, however wide");
  add_value_option(sub, "--svg", o->svg,
                   "also write a picture of the whole address space to FILE ('-': "
                   "only the picture, to standard output)",
                   "FILE");
  o->command = sub;
  return Command{sub, [o] { return run_map(*o); }};
}

}  // namespace pagescan::cli
