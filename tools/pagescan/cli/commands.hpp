// The subcommands: each adds itself to the CLI11 app and returns how to run it.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace pagescan::cli {

struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;  // returns the exit code
};

Command add_scan_command(CLI::App& app);
Command add_features_command(CLI::App& app);
Command add_demo_command(CLI::App& app);
Command add_map_command(CLI::App& app);
Command add_help_command(CLI::App& app);
Command add_watch_command(CLI::App& app);
Command add_top_command(CLI::App& app);
Command add_exporter_command(CLI::App& app);
Command add_dump_command(CLI::App& app);

}  // namespace pagescan::cli
