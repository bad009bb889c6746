// Options several commands share: --format/--json, --backend, --version, value options.
#include "cli/options.hpp"

#include <algorithm>
#include <cstdlib>

namespace pagescan::cli {

std::string one_of(const std::vector<std::string>& names) {
  std::string text;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i) text += i + 1 == names.size() ? " or " : ", ";
    text += names[i];
  }
  return text;
}

CLI::Option* add_value_option(CLI::App* command, const std::string& name,
                              std::optional<std::string>& value, const std::string& help,
                              const std::string& type_name) {
  return command
      ->add_option_function<std::string>(
          name, [&value](const std::string& v) { value = v; }, help)
      ->type_name(type_name);
}

void add_format_options(CLI::App* command, FormatOption& option,
                        const std::vector<std::string>& formats) {
  add_value_option(command, "--format", option.given,
                   "output format: " + one_of(formats) + " (default: " + formats.front() + ")",
                   "FORMAT");
  command->add_flag("--json", option.json, "short for --format json");
}

Parsed<std::string> resolve_format(const FormatOption& option,
                                   const std::vector<std::string>& formats) {
  if (option.json && option.given && *option.given != "json") {
    return {std::nullopt, UsageError{"--json contradicts --format '" + *option.given + "'"}};
  }
  const std::string format = option.json ? "json" : option.given.value_or(formats.front());
  if (std::find(formats.begin(), formats.end(), format) == formats.end()) {
    return {std::nullopt, UsageError{"bad --format '" + format + "': expected " + one_of(formats)}};
  }
  return {format, std::nullopt};
}

void add_backend_option(CLI::App* command, std::optional<std::string>& backend) {
  add_value_option(command, "--backend", backend,
                   "auto, kernel or emulated (default: auto; PAGESCAN_BACKEND sets auto's choice)",
                   "NAME");
}

Parsed<BackendChoice> resolve_backend(const std::optional<std::string>& backend) {
  auto parsed = parse_backend_choice(backend.value_or("auto"));
  if (!parsed) return {std::nullopt, UsageError{"bad --backend: " + parsed.error().message()}};
  // The library reads the variable only when `automatic` meets a scan (scan.hpp), and an
  // empty value counts as unset there too.
  if (*parsed == BackendChoice::automatic) {
    if (const char* env = std::getenv("PAGESCAN_BACKEND"); env && *env) {
      auto from_env = parse_backend_choice(env);
      if (!from_env) {
        return {std::nullopt, UsageError{"PAGESCAN_BACKEND: " + from_env.error().message()}};
      }
    }
  }
  return {*parsed, std::nullopt};
}

void add_version_flag(CLI::App* command) {
  command->set_version_flag("--version", "pagescan " PAGESCAN_VERSION,
                            "print the version (pagescan X.Y.Z) and exit");
}

}  // namespace pagescan::cli
