// Everything about the command line that commands share, in one module: the values
// (numbers, ranges, targets, screen width), the options and positionals every command
// declares the same way, and resolving them into what a command runs with. Every error is
// a usage error (exit 2) with one line naming the bad value and what is expected.
//
// Values are parsed in argument_values.cpp (no CLI11, so the fuzzer links it alone);
// declarations and resolution live in argument_options.cpp.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pagescan/process.hpp"
#include "pagescan/result.hpp"
#include "pagescan/scan.hpp"

namespace pagescan::cli {

// A usage error (exit 2): "<what>: <why>".
struct UsageError {
  std::string message;
};

template <class T>
struct Parsed {
  std::optional<T> value;
  std::optional<UsageError> error;
};

// ---- Values -------------------------------------------------------------------------

// "0x7f00" or "4096" (the whole string).
Parsed<std::uint64_t> parse_number(std::string_view text, std::string_view what);

// "4096", "64K", "2M", "1G", "1T" (also "64k", "64KiB", "64KB"): bytes. Error: "bad
// --min-size '12Q': expected a size such as 4096, 64K, 2M or 1G" (`what` is the option).
Parsed<std::uint64_t> parse_size(std::string_view text, std::string_view what);

struct AddressRange {
  std::uint64_t start = 0;
  std::uint64_t end = 0;
};
// "START-END".
Parsed<AddressRange> parse_range(std::string_view text);

// "self" or a pid: which process, not yet opened.
struct Target {
  bool self = false;
  pid_t pid = 0;
};
Parsed<Target> parse_target(std::string_view text);

// Opens the target; runtime errors (no such process, permission) are library errors.
Result<Process> open_target(const Target& target);

// Screen widths --width accepts: narrower cannot hold a table row, wider is no screen.
inline constexpr unsigned kMinWidth = 40;
inline constexpr unsigned kMaxWidth = 1000;
// "--width 100": kMinWidth to kMaxWidth columns.
Parsed<unsigned> parse_width(std::string_view text);

// The screen width when --width is not given: COLUMNS when it is a width (anything else
// is ignored, as ls and the shells do), else the terminal's when stdout is one, else 80.
unsigned width_from_environment();

// "0.5", "2", "1e-1": seconds > 0, at most a day (a poll timeout must hold it, and no
// person waits longer). Error: "bad --interval 'x': expected seconds > 0, e.g. 0.5".
Parsed<double> parse_seconds(std::string_view text, std::string_view option,
                             std::string_view example);

// "--rounds 3": a count > 0. Error: "bad --rounds '0': expected a number of rounds > 0".
Parsed<std::uint64_t> parse_count(std::string_view text, std::string_view option,
                                  std::string_view things);

// TARGET for commands that trace another process (watch, top, dump): a pid, never 'self'
// (a process cannot ptrace itself).
Parsed<pid_t> another_process(const Target& target, std::string_view command);

// "table, json or csv".
std::string one_of(const std::vector<std::string>& names);

// ---- Options and positionals --------------------------------------------------------

// Declares `--name VALUE`, keeping the value only when the option is given: `--range ''`
// is the value '' (checked and rejected like any other), never taken for "not given".
// Every option with a value is declared through this, so none can confuse the two.
CLI::Option* add_value_option(CLI::App* command, const std::string& name,
                              std::optional<std::string>& value, const std::string& help,
                              const std::string& type_name);

// --version, printing "pagescan X.Y.Z" (the same at top level and on each command).
void add_version_flag(CLI::App* command);

// Says so in the command's --help (the shared TARGET's text offers 'self').
void target_is_another_process(CLI::App* command);

// What a command takes of the shared arguments.
struct CommandShape {
  bool target = false;               // TARGET (scan, map), else no positional at all
  std::vector<std::string> formats;  // --format (the first the default) and --json
  bool backend = false;              // --backend
};

// The shared arguments as typed, each kept only when given.
struct SharedArguments {
  std::string command;  // "scan"
  CommandShape shape;
  std::optional<std::string> target;
  std::vector<std::string> extra;  // arguments the command does not take
  std::optional<std::string> format;
  bool json = false;
  std::optional<std::string> backend;
  std::optional<std::string> width;
};

// Declares the shared arguments of `shape` on `command`, plus --version and --width,
// and the usage line ("Usage: pagescan scan [OPTIONS] TARGET"). `arguments` must outlive
// the parse.
void add_shared_arguments(CLI::App* command, const CommandShape& shape, SharedArguments& arguments);

// The shared arguments resolved, checked before the command prints or changes anything.
struct Shared {
  std::optional<Target> target;  // when the shape takes one
  std::string format;            // one of shape.formats
  BackendChoice backend = BackendChoice::automatic;
  unsigned width = 80;  // screen columns: --width, COLUMNS, the terminal's, else 80
};

// Unexpected arguments first, then TARGET, --format, --backend (PAGESCAN_BACKEND
// checked as the library would), --width. Errors read:
//   "scan: unexpected argument 'x' (expected one TARGET and options; see 'pagescan scan
//   --help')", "scan: missing TARGET (expected a process id or 'self')", "bad target '12ab':
//   expected a process id (a number > 0) or 'self'", "--json contradicts --format 'csv'",
//   "bad --format 'x': expected table, json or csv", "bad --backend: ...",
//   "PAGESCAN_BACKEND: unknown backend 'x' (...)", "bad --width '10': expected 40 to 1000".
Parsed<Shared> resolve_shared(const SharedArguments& arguments);

}  // namespace pagescan::cli
