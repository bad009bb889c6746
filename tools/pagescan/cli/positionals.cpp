// The positional arguments: TARGET, and the arguments a command does not take.
#include "cli/positionals.hpp"

#include <memory>

namespace pagescan::cli {

namespace {

// The usage line from what the command takes: "Usage: pagescan scan [OPTIONS] TARGET".
// CLI11's would read "[target] [...]": TARGET is checked by resolve_target, not marked
// required, and the catch-all would show as "[...]".
class UsageFormatter : public CLI::Formatter {
 public:
  std::string make_usage(const CLI::App* app, std::string name) const override {
    std::string usage = get_label("Usage") + ": " + name;
    if (!app->get_options([](const CLI::Option* o) { return o->nonpositional(); }).empty()) {
      usage += " [" + get_label("OPTIONS") + "]";
    }
    for (const CLI::Option* o : app->get_options([](const CLI::Option* opt) {
           return opt->get_positional() && !opt->get_group().empty();
         })) {
      usage += " " + o->get_type_name();
    }
    return usage + "\n";
  }
};

// In no group: CLI11 leaves it out of --help.
void add_catch_all(CLI::App* command, Positionals& positionals) {
  command->add_option("extra", positionals.extra)->group("");
  command->formatter(std::make_shared<UsageFormatter>());
}

UsageError unexpected(const std::string& command, const std::string& argument,
                      const std::string& expected) {
  return UsageError{command + ": unexpected argument '" + argument + "' (expected " + expected +
                    "; see 'pagescan " + command + " --help')"};
}

}  // namespace

void add_target_argument(CLI::App* command, Positionals& positionals) {
  // Checked by resolve_target rather than CLI11's required(), whose "target is required"
  // does not say what a target is.
  command
      ->add_option_function<std::string>(
          "target", [&positionals](const std::string& v) { positionals.target = v; },
          "a pid, or 'self' (required)")
      ->type_name("TARGET");
  add_catch_all(command, positionals);
}

void add_no_arguments(CLI::App* command, Positionals& positionals) {
  add_catch_all(command, positionals);
}

Parsed<Target> resolve_target(const std::string& command, const Positionals& positionals) {
  if (!positionals.extra.empty()) {
    return {std::nullopt, unexpected(command, positionals.extra.front(), "one TARGET and options")};
  }
  if (!positionals.target) {
    return {std::nullopt,
            UsageError{command + ": missing TARGET (expected a process id or 'self')"}};
  }
  return parse_target(*positionals.target);
}

std::optional<UsageError> check_no_arguments(const std::string& command,
                                             const Positionals& positionals) {
  if (positionals.extra.empty()) return std::nullopt;
  return unexpected(command, positionals.extra.front(), "options only, no arguments");
}

}  // namespace pagescan::cli
