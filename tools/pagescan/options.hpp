// Options several commands share, declared in one place so they are named, typed and
// explained the same everywhere: --format/--json, --backend, --version.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "args.hpp"
#include "pagescan/scan.hpp"

namespace pagescan::cli {

// --format NAME and --json (short for --format json).
struct FormatOption {
  std::string format = "table";
  std::string given;  // --format as typed, to catch --json --format csv
  bool json = false;
};

// Adds --format (one of `formats`, the first the default) and --json.
void add_format_options(CLI::App* command, FormatOption& option,
                        const std::vector<std::string>& formats);
// The chosen format, or a usage error naming the bad value.
Parsed<std::string> resolve_format(const FormatOption& option,
                                   const std::vector<std::string>& formats);

// --backend auto|kernel|emulated.
void add_backend_option(CLI::App* command, std::string& backend);
Parsed<BackendChoice> resolve_backend(const std::string& backend);

// --version, printing "pagescan X.Y.Z" (the same at top level and on each command).
void add_version_flag(CLI::App* command);

// "table, json or csv".
std::string one_of(const std::vector<std::string>& names);

}  // namespace pagescan::cli
