// pagescan: the command-line tool. Dispatches to one subcommand per file (cmd_*.cpp).
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <vector>

#include "cli/commands.hpp"
#include "cli/arguments.hpp"
#include "cli/output.hpp"

using namespace pagescan::cli;

int main(int argc, char** argv) {
  // Named, not argv[0]: help reads "Usage: pagescan ..." however the binary was started.
  CLI::App app{"pagescan: what state a Linux process's memory is in, page by page", "pagescan"};
  add_version_flag(&app);
  app.require_subcommand(1);
  app.footer(
      "Examples:\n"
      "  pagescan demo                 # a workload with a known layout, and what pagescan sees\n"
      "  pagescan features             # what this kernel offers\n"
      "  pagescan map 1234 --heat      # every VMA of pid 1234 with its page counts\n"
      "  pagescan scan self --all-of present --json\n"
      "Run 'pagescan <command> --help' for a command's options and examples.\n"
      "Colour only on a terminal; NO_COLOR=1 turns it off.");
  std::vector<Command> commands = {add_scan_command(app), add_map_command(app),
                                   add_features_command(app), add_demo_command(app)};
  std::vector<std::string> names;
  for (const Command& c : commands) names.push_back(c.app->get_name());
  const std::string expected = "(expected " + one_of(names) + ")";
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);  // --help, --version
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
