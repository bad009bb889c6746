// --help that fits the screen: option and command descriptions, the description and the
// footer are wrapped at the screen width between words (never inside one), and the usage
// line says what the command takes ("Usage: pagescan scan [OPTIONS] TARGET").
//
// Footers are written as paragraphs of one line each: a line starting with two spaces
// (an example) keeps its own indentation, and its continuation is indented further.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

namespace pagescan::cli {

class HelpFormatter : public CLI::Formatter {
 public:
  explicit HelpFormatter(unsigned width);
  void set_width(unsigned width);

  std::string make_help(const CLI::App* app, std::string name,
                        CLI::AppFormatMode mode) const override;
  std::string make_usage(const CLI::App* app, std::string name) const override;
  std::string make_description(const CLI::App* app) const override;
  std::string make_footer(const CLI::App* app) const override;
  std::string make_subcommand(const CLI::App* sub) const override;
  std::string make_option_desc(const CLI::Option* option) const override;

 private:
  // `text` wrapped to the room right of the option column, lines joined by '\n' (CLI11
  // indents each continuation to the column).
  std::string wrap_right_column(const std::string& text) const;
  unsigned width_ = 80;
};

// The formatter every command's help uses: main sets the width once, before parsing,
// and each command (add_shared_arguments) takes this one.
std::shared_ptr<HelpFormatter> help_formatter();
void set_help_width(unsigned width);

}  // namespace pagescan::cli
