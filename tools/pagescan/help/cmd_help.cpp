// `pagescan help [TOPIC]`: the category guide, or a command's --help by name.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/arguments.hpp"
#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "help/category_guide.hpp"

namespace pagescan::cli {

namespace {

struct HelpOptions {
  std::optional<std::string> topic;
  SharedArguments shared;
  CLI::App* parent = nullptr;
};

// "categories, scan, map, features, demo or help".
std::vector<std::string> topics(const CLI::App& parent) {
  std::vector<std::string> names = {"categories"};
  for (const CLI::App* sub : parent.get_subcommands({})) names.push_back(sub->get_name());
  return names;
}

int run_help(const HelpOptions& o) {
  auto shared = resolve_shared(o.shared);
  if (!shared.value) return report_usage(*shared.error);
  if (!o.topic) {
    // Not parent->help(): that gives the selected command's help, this one's.
    std::fputs(o.parent->get_formatter()
                   ->make_help(o.parent, "pagescan", CLI::AppFormatMode::Normal)
                   .c_str(),
               stdout);
    return kExitOk;
  }
  const std::string& topic = *o.topic;
  if (topic == "categories") {
    std::fputs(category_guide(shared.value->width).c_str(), stdout);
    return kExitOk;
  }
  for (const CLI::App* sub : o.parent->get_subcommands({})) {
    if (sub->get_name() == topic) {
      std::fputs(sub->help("pagescan").c_str(), stdout);
      return kExitOk;
    }
  }
  return report_usage(
      UsageError{"bad help topic '" + topic + "': expected " + one_of(topics(*o.parent))});
}

}  // namespace

Command add_help_command(CLI::App& app) {
  auto o = std::make_shared<HelpOptions>();
  CLI::App* sub = app.add_subcommand(
      "help", "What the page categories mean (help categories), or a command's help");
  sub->footer(
      "Examples:\n"
      "  pagescan help categories   # the nine categories, 'written' above all\n"
      "  pagescan help scan         # the same as 'pagescan scan --help'");
  // Declared before the shared catch-all, so it takes the first word and the catch-all
  // the rest ("help: unexpected argument ...").
  sub->add_option_function<std::string>(
         "topic", [o](const std::string& v) { o->topic = v; },
         "categories, or a command's name (default: the overview)")
      ->type_name("[TOPIC]");
  add_shared_arguments(sub, CommandShape{false, {}, false}, o->shared);
  o->parent = &app;
  return Command{sub, [o] { return run_help(*o); }};
}

}  // namespace pagescan::cli
