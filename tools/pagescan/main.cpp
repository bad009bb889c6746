// pagescan: the command-line tool. Dispatches to one command per folder.
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <sstream>
#include <string_view>
#include <system_error>
#include <vector>

#include "cli/arguments.hpp"
#include "cli/commands.hpp"
#include "cli/help_formatter.hpp"
#include "cli/output.hpp"
#include "cli/standard_output.hpp"

using namespace pagescan::cli;

namespace {

// The width --help is wrapped at: --width when given and valid (help is printed during
// the parse, before resolve_shared sees it; an invalid one is reported when the command
// runs), else the screen's.
unsigned help_width(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    std::optional<std::string_view> value;
    if (arg == "--width" && i + 1 < argc) value = argv[i + 1];
    if (arg.rfind("--width=", 0) == 0) value = arg.substr(8);
    if (value) {
      if (auto width = parse_width(*value); width.value) return *width.value;
    }
  }
  return width_from_environment();
}

int run(int argc, char** argv) {
  // Named, not argv[0]: help reads "Usage: pagescan ..." however the binary was started.
  CLI::App app{"pagescan: what state a Linux process's memory is in, page by page", "pagescan"};
  set_help_width(help_width(argc, argv));
  app.formatter(help_formatter());
  add_version_flag(&app);
  app.require_subcommand(1);
  app.footer(
      "Examples:\n"
      "  pagescan demo              # a workload with a known layout, and what we see\n"
      "  pagescan features          # what this kernel offers\n"
      "  pagescan map 1234 --heat   # every VMA of pid 1234 with its page counts\n"
      "  pagescan scan self --all-of present --json\n"
      "  pagescan watch 1234 --json     # the pages pid 1234 writes, each second\n"
      "  pagescan top 1234              # which of its mappings it writes, live\n"
      "  pagescan dump 1234 -o core     # a sparse core, the process stopped briefly\n"
      "  pagescan exporter --all        # page-state metrics for Prometheus\n"
      "  pagescan help categories   # what each page category means\n"
      "Run 'pagescan <command> --help' for a command's options and examples. Colour only on "
      "a terminal; NO_COLOR=1 turns it off. Tables fit the terminal's width (COLUMNS, or "
      "--width on any command).");
  std::vector<Command> commands = {
      add_scan_command(app), add_map_command(app),      add_features_command(app),
      add_demo_command(app), add_watch_command(app),    add_top_command(app),
      add_dump_command(app), add_exporter_command(app), add_help_command(app)};
  std::vector<std::string> names;
  for (const Command& c : commands) names.push_back(c.app->get_name());
  const std::string expected = "(expected " + one_of(names) + ")";
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    // --help, --version: through stdio like all other output, so the final flush sees a
    // failed write with its errno (std::endl on std::cout would flush it away first).
    std::ostringstream text;
    int code = app.exit(e, text, text);
    std::fputs(text.str().c_str(), stdout);
    return code;
  } catch (const CLI::ParseError& e) {
    if (argc < 2) return report_usage(UsageError{"no command given " + expected});
    std::string first = argv[1];
    // Before the command only --help and --version are options (they do not get here):
    // anything else starting with '-' is an option pagescan does not know.
    if (first.rfind("-", 0) == 0) {
      return report_usage(
          UsageError{"unknown option '" + first +
                     "' (expected --help, --version or a command: " + one_of(names) + ")"});
    }
    bool known = false;
    for (const std::string& name : names) known = known || name == first;
    if (!known) return report_usage(UsageError{"unknown command '" + first + "' " + expected});
    std::string what = e.what();
    return report_usage(UsageError{what.empty() ? "bad command line" : what});
  }
  for (const Command& c : commands) {
    if (c.app->parsed()) return c.run();
  }
  return report_usage(UsageError{"no command given " + expected});
}

}  // namespace

int main(int argc, char** argv) {
  if (int code = prepare_standard_streams()) return code;
  int code = kExitOk;
  try {
    code = run(argc, argv);
  } catch (const std::system_error& error) {
    // {fmt} throws when a write to stdout fails (a full disk, EPIPE with SIGPIPE ignored).
    return report_failure(error);
  }
  return finish_standard_output(code);
}
