// --help that fits the screen (see help_formatter.hpp).
#include "cli/help_formatter.hpp"

#include <sstream>

#include "cli/output.hpp"

namespace pagescan::cli {

namespace {

// The option column: "  --range START-END" and the like. Names longer than this put
// their description on the next line (CLI11's rule). Narrower on a narrow screen, so the
// descriptions keep room.
constexpr unsigned kOptionColumn = 26;
unsigned option_column(unsigned width) {
  return width >= 3 * kOptionColumn ? kOptionColumn : width / 3;
}

// Leading spaces of a line.
std::size_t indent_of(const std::string& line) {
  std::size_t n = 0;
  while (n < line.size() && line[n] == ' ') ++n;
  return n;
}

// Each line of `text` wrapped at `width`: a line's continuation keeps its indentation,
// plus two more for an indented line (an example), so it reads as a continuation.
std::string wrap_paragraphs(const std::string& text, unsigned width) {
  std::istringstream in(text);
  std::string line, out;
  while (std::getline(in, line)) {
    const std::size_t indent = indent_of(line);
    const std::size_t hang = indent ? indent + 2 : 0;
    // wrap_words measures every line from `hang` and indents continuations to it; the
    // first line starts at `indent`, left of that, so it fits too.
    out += std::string(indent, ' ') + wrap_words(line.substr(indent), hang, width, true) + "\n";
  }
  return out;
}

}  // namespace

HelpFormatter::HelpFormatter(unsigned width) {
  set_width(width);
  label("Subcommands", "Commands");
}

void HelpFormatter::set_width(unsigned width) {
  width_ = width;
  column_width(option_column(width));
}

std::string HelpFormatter::wrap_right_column(const std::string& text) const {
  return wrap_words(text, 0, width_ - option_column(width_), true);
}

std::string HelpFormatter::make_help(const CLI::App* app, std::string name,
                                     CLI::AppFormatMode mode) const {
  std::string help = CLI::Formatter::make_help(app, std::move(name), mode);
  // CLI11 ends the option groups with a blank line and adds another before the footer.
  for (std::size_t at; (at = help.find("\n\n\n")) != std::string::npos;) help.erase(at, 1);
  return help;
}

std::string HelpFormatter::make_usage(const CLI::App* app, std::string name) const {
  std::string usage = get_label("Usage") + ": " + name;
  if (!app->get_options([](const CLI::Option* o) { return o->nonpositional(); }).empty()) {
    usage += " [" + get_label("OPTIONS") + "]";
  }
  // TARGET is checked by resolve_shared, not marked required, and the catch-all for
  // unexpected arguments sits in no group: CLI11's own line would read "[target] [...]".
  for (const CLI::Option* o : app->get_options([](const CLI::Option* opt) {
         return opt->get_positional() && !opt->get_group().empty();
       })) {
    usage += " " + o->get_type_name();
  }
  if (!app->get_subcommands([](const CLI::App* sub) { return !sub->get_group().empty(); })
           .empty()) {
    usage += " COMMAND";
  }
  return usage + "\n";
}

std::string HelpFormatter::make_description(const CLI::App* app) const {
  const std::string description = app->get_description();
  return description.empty() ? std::string{} : wrap_paragraphs(description, width_);
}

std::string HelpFormatter::make_footer(const CLI::App* app) const {
  const std::string footer = app->get_footer();
  return footer.empty() ? std::string{} : wrap_paragraphs(footer, width_);
}

std::string HelpFormatter::make_subcommand(const CLI::App* sub) const {
  std::stringstream out;
  CLI::detail::format_help(out, sub->get_display_name(), wrap_right_column(sub->get_description()),
                           get_column_width());
  return out.str();
}

std::string HelpFormatter::make_option_desc(const CLI::Option* option) const {
  return wrap_right_column(option->get_description());
}

std::shared_ptr<HelpFormatter> help_formatter() {
  static auto formatter = std::make_shared<HelpFormatter>(80);
  return formatter;
}

void set_help_width(unsigned width) {
  help_formatter()->set_width(width);
}

}  // namespace pagescan::cli
