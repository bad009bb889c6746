// Options several commands share: --format/--json, --backend, --version.
#include "options.hpp"

#include <algorithm>

namespace pagescan::cli {

std::string one_of(const std::vector<std::string>& names) {
  std::string text;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i) text += i + 1 == names.size() ? " or " : ", ";
    text += names[i];
  }
  return text;
}

void add_format_options(CLI::App* command, FormatOption& option,
                        const std::vector<std::string>& formats) {
  option.format = formats.front();
  command
      ->add_option("--format", option.format,
                   "output format: " + one_of(formats) + " (default: " + formats.front() + ")")
      ->type_name("FORMAT")
      ->each([&option](const std::string& v) { option.given = v; });
  command->add_flag("--json", option.json, "short for --format json");
}

Parsed<std::string> resolve_format(const FormatOption& option,
                                   const std::vector<std::string>& formats) {
  if (option.json && !option.given.empty() && option.given != "json") {
    return {std::nullopt, UsageError{"--json contradicts --format '" + option.given + "'"}};
  }
  const std::string format = option.json ? "json" : option.format;
  if (std::find(formats.begin(), formats.end(), format) == formats.end()) {
    return {std::nullopt, UsageError{"bad --format '" + format + "': expected " + one_of(formats)}};
  }
  return {format, std::nullopt};
}

void add_backend_option(CLI::App* command, std::string& backend) {
  command
      ->add_option("--backend", backend,
                   "auto, kernel or emulated (default: auto; PAGESCAN_BACKEND sets auto's choice)")
      ->type_name("NAME");
}

Parsed<BackendChoice> resolve_backend(const std::string& backend) {
  auto parsed = parse_backend_choice(backend);
  if (!parsed) return {std::nullopt, UsageError{"bad --backend: " + parsed.error().message()}};
  return {*parsed, std::nullopt};
}

void add_version_flag(CLI::App* command) {
  command->set_version_flag("--version", "pagescan " PAGESCAN_VERSION,
                            "print the version (pagescan X.Y.Z) and exit");
}

}  // namespace pagescan::cli
