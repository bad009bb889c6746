// The positional arguments: scan's and map's TARGET, and the arguments a command does not
// take, collected (instead of CLI11's "The following argument was not expected") so the
// error names the command and says what it expects.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli/args.hpp"

namespace pagescan::cli {

struct Positionals {
  std::optional<std::string> target;
  std::vector<std::string> extra;  // what follows (or, without a TARGET, is) the arguments
};

// scan, map: TARGET ("a pid, or 'self'"), then a hidden catch-all for extra arguments.
void add_target_argument(CLI::App* command, Positionals& positionals);
// features, demo: no positional argument; a hidden catch-all for any given.
void add_no_arguments(CLI::App* command, Positionals& positionals);

// The target, or one of:
//   "scan: unexpected argument 'extra' (expected one TARGET and options; see 'pagescan scan
//   --help')" "scan: missing TARGET (expected a process id or 'self')" "bad target '12ab': expected
//   a process id (a number > 0) or 'self'"
Parsed<Target> resolve_target(const std::string& command, const Positionals& positionals);
// "features: unexpected argument 'extra' (expected options only, no arguments; see
// 'pagescan features --help')", or nothing.
std::optional<UsageError> check_no_arguments(const std::string& command,
                                             const Positionals& positionals);

}  // namespace pagescan::cli
