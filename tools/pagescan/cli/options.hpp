// Options several commands share, declared in one place so they are named, typed and
// explained the same everywhere: --format/--json, --backend, --version; and how every
// option with a value is declared.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli/args.hpp"
#include "pagescan/scan.hpp"

namespace pagescan::cli {

// Declares `--name VALUE`, keeping the value only when the option is given: `--range ''`
// is the value '' (checked and rejected like any other), never taken for "not given".
// Every option with a value is declared through this, so none can confuse the two.
CLI::Option* add_value_option(CLI::App* command, const std::string& name,
                              std::optional<std::string>& value, const std::string& help,
                              const std::string& type_name);

// --format NAME and --json (short for --format json).
struct FormatOption {
  std::optional<std::string> given;  // --format as typed
  bool json = false;
};

// Adds --format (one of `formats`, the first the default) and --json.
void add_format_options(CLI::App* command, FormatOption& option,
                        const std::vector<std::string>& formats);
// The chosen format, or a usage error naming the bad value.
Parsed<std::string> resolve_format(const FormatOption& option,
                                   const std::vector<std::string>& formats);

// --backend auto|kernel|emulated.
void add_backend_option(CLI::App* command, std::optional<std::string>& backend);
// The --backend choice (auto when not given). For auto, PAGESCAN_BACKEND is checked here,
// before the command prints or changes anything: a bad value is a usage error
// ("PAGESCAN_BACKEND: unknown backend 'x' (...)"), as the library would answer at the
// first scan. The choice returned stays `automatic`: the library applies the variable.
Parsed<BackendChoice> resolve_backend(const std::optional<std::string>& backend);

// --version, printing "pagescan X.Y.Z" (the same at top level and on each command).
void add_version_flag(CLI::App* command);

// "table, json or csv".
std::string one_of(const std::vector<std::string>& names);

}  // namespace pagescan::cli
