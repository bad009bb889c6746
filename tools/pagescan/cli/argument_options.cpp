// The shared options and positionals: declared once, so every command names, types and
// explains them the same way, and resolved once, in the same order everywhere.
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <memory>

#include "cli/arguments.hpp"
#include "cli/help_formatter.hpp"

namespace pagescan::cli {

namespace {

UsageError unexpected(const std::string& command, const std::string& argument,
                      const std::string& expected) {
  return UsageError{command + ": unexpected argument '" + argument + "' (expected " + expected +
                    "; see 'pagescan " + command + " --help')"};
}

}  // namespace

unsigned width_from_environment() {
  if (const char* columns = std::getenv("COLUMNS"); columns && *columns) {
    auto parsed = parse_number(columns, "COLUMNS");
    if (parsed.value && *parsed.value >= kMinWidth && *parsed.value <= kMaxWidth) {
      return static_cast<unsigned>(*parsed.value);
    }
  }
  winsize size{};
  if (::isatty(STDOUT_FILENO) && ::ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 &&
      size.ws_col > 0) {
    return std::clamp<unsigned>(size.ws_col, kMinWidth, kMaxWidth);
  }
  return 80;
}

CLI::Option* add_value_option(CLI::App* command, const std::string& name,
                              std::optional<std::string>& value, const std::string& help,
                              const std::string& type_name) {
  return command
      ->add_option_function<std::string>(
          name, [&value](const std::string& v) { value = v; }, help)
      ->type_name(type_name);
}

void add_version_flag(CLI::App* command) {
  command->set_version_flag("--version", "pagescan " PAGESCAN_VERSION,
                            "print the version (pagescan X.Y.Z) and exit");
}

void add_shared_arguments(CLI::App* command, const CommandShape& shape,
                          SharedArguments& arguments) {
  arguments.command = command->get_name();
  arguments.shape = shape;
  add_version_flag(command);
  if (shape.target) {
    // Checked by resolve_shared rather than CLI11's required(), whose "target is
    // required" does not say what a target is.
    command
        ->add_option_function<std::string>(
            "target", [&arguments](const std::string& v) { arguments.target = v; },
            "a pid, or 'self' (required)")
        ->type_name("TARGET");
  }
  // In no group: CLI11 leaves it out of --help. It collects what the command does not
  // take, so the error can name the command and say what it expects.
  command->add_option("extra", arguments.extra)->group("");
  command->formatter(help_formatter());
  if (!shape.formats.empty()) {
    add_value_option(
        command, "--format", arguments.format,
        "output format: " + one_of(shape.formats) + " (default: " + shape.formats.front() + ")",
        "FORMAT");
    command->add_flag("--json", arguments.json, "short for --format json");
  }
  if (shape.backend) {
    add_value_option(command, "--backend", arguments.backend,
                     "auto, kernel or emulated (default: auto; PAGESCAN_BACKEND sets auto's "
                     "choice)",
                     "NAME");
  }
  add_value_option(command, "--width", arguments.width,
                   "screen columns (default: COLUMNS, the terminal's width, else 80)", "COLUMNS");
}

Parsed<Shared> resolve_shared(const SharedArguments& a) {
  auto fail = [](UsageError error) { return Parsed<Shared>{std::nullopt, std::move(error)}; };
  Shared shared;
  if (!a.extra.empty()) {
    return fail(
        unexpected(a.command, a.extra.front(),
                   a.shape.target ? "one TARGET and options" : "options only, no arguments"));
  }
  if (a.shape.target) {
    if (!a.target) {
      return fail(UsageError{a.command + ": missing TARGET (expected a process id or 'self')"});
    }
    auto target = parse_target(*a.target);
    if (!target.value) return fail(*target.error);
    shared.target = *target.value;
  }
  auto backend = parse_backend_choice(a.backend.value_or("auto"));
  if (!backend) return fail(UsageError{"bad --backend: " + backend.error().message()});
  shared.backend = *backend;
  // The library reads the variable only when `automatic` meets a scan (scan.hpp), and an
  // empty value counts as unset there too; checked here so a bad value stops the command
  // before it prints or changes anything. The choice stays `automatic`.
  if (*backend == BackendChoice::automatic) {
    if (const char* env = std::getenv("PAGESCAN_BACKEND"); env && *env) {
      if (auto from_env = parse_backend_choice(env); !from_env) {
        return fail(UsageError{"PAGESCAN_BACKEND: " + from_env.error().message()});
      }
    }
  }
  if (!a.shape.formats.empty()) {
    const auto& formats = a.shape.formats;
    if (a.json && a.format && *a.format != "json") {
      return fail(UsageError{"--json contradicts --format '" + *a.format + "'"});
    }
    shared.format = a.json ? "json" : a.format.value_or(formats.front());
    if (std::find(formats.begin(), formats.end(), shared.format) == formats.end()) {
      return fail(UsageError{"bad --format '" + shared.format + "': expected " + one_of(formats)});
    }
  }
  if (a.width) {
    auto width = parse_width(*a.width);
    if (!width.value) return fail(*width.error);
    shared.width = *width.value;
  } else {
    shared.width = width_from_environment();
  }
  return {shared, std::nullopt};
}

void target_is_another_process(CLI::App* command) {
  command->get_option("target")->description("the process id of another process (required)");
}

}  // namespace pagescan::cli
