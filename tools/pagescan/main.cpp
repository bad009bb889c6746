// pagescan: the command-line tool. Dispatches to one subcommand per file (cmd_*.cpp).
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <vector>

#include "commands.hpp"
#include "output.hpp"

using namespace pagescan::cli;

int main(int argc, char** argv) {
  CLI::App app{"pagescan: what state a Linux process's memory is in, page by page"};
  app.set_version_flag("--version", "pagescan " PAGESCAN_VERSION);
  app.require_subcommand(1);
  app.footer("Run 'pagescan <command> --help' for a command's options and examples.");
  std::vector<Command> commands = {add_scan_command(app), add_features_command(app),
                                   add_demo_command(app), add_map_command(app)};
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);  // --help, --version
  } catch (const CLI::ParseError& e) {
    std::string names;
    for (const Command& c : commands) names += (names.empty() ? "" : ", ") + c.app->get_name();
    if (argc < 2) return report_usage(UsageError{"no command given (expected " + names + ")"});
    std::string first = argv[1];
    bool known = first.rfind("-", 0) == 0;
    for (const Command& c : commands) known = known || c.app->get_name() == first;
    if (!known) {
      return report_usage(UsageError{"unknown command '" + first + "' (expected " + names + ")"});
    }
    std::string what = e.what();
    return report_usage(UsageError{what.empty() ? "bad command line" : what});
  }
  for (const Command& c : commands) {
    if (c.app->parsed()) return c.run();
  }
  return report_usage(UsageError{"no command given (expected scan, features or demo)"});
}
