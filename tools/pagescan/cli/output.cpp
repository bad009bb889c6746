// Shared output helpers: error lines, exit codes, human units, wrapping, hex addresses.
#include "cli/output.hpp"

#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>

#include "cli/screen_text.hpp"

namespace pagescan::cli {

void print_message(std::string_view message) {
  // fwrite, not {fmt}: fmt::print throws when the write fails, and a message about a
  // failure must not become a second one (stderr may be the full disk too).
  std::string line = "pagescan: " + std::string(message) + "\n";
  (void)std::fwrite(line.data(), 1, line.size(), stderr);
}

int report_usage(const UsageError& error) {
  print_message(error.message);
  return kExitUsage;
}

int report_error(const Error& error) {
  print_message(error.message());
  return error.kind() == ErrorKind::invalid_argument ? kExitUsage : kExitRuntime;
}

std::string human_size(std::uint64_t bytes) {
  static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024) return fmt::format("{} B", bytes);
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 6) {
    v /= 1024;
    ++u;
  }
  return fmt::format("{:.1f} {}", v, units[u]);
}

namespace {

// "KiB", "MiB,": a unit, kept with its number.
bool is_unit(const std::string& word) {
  for (const char* unit : {"B", "KiB", "MiB", "GiB", "TiB"}) {
    if (word.rfind(unit, 0) == 0 && (word.size() == std::strlen(unit) || word.back() == ',' ||
                                     word.back() == ';' || word.back() == ')')) {
      return true;
    }
  }
  return false;
}

}  // namespace

std::string wrap_words(const std::string& text, std::size_t column, std::size_t max_columns,
                       bool keep_lists) {
  if (max_columns == 0 || column + display_columns(text) <= max_columns) return text;
  // Pieces a line may end after: words, and within a comma list ("file,present") each
  // element; `joined` pieces follow the one before without a space.
  struct Piece {
    std::string text;
    bool joined = false;
  };
  std::vector<Piece> pieces;
  std::size_t begin = 0;
  while (begin < text.size()) {
    std::size_t end = std::min(text.find(' ', begin), text.size());
    const std::string word = text.substr(begin, end - begin);
    begin = end + 1;
    if (!pieces.empty() && is_unit(word)) {
      pieces.back().text += " " + word;
      continue;
    }
    for (std::size_t at = 0; at < word.size();) {
      std::size_t comma = keep_lists ? std::string::npos : word.find(',', at);
      std::size_t stop = comma == std::string::npos ? word.size() : comma + 1;
      pieces.push_back(Piece{word.substr(at, stop - at), at != 0});
      at = stop;
    }
  }
  std::string out, line;
  for (const Piece& piece : pieces) {
    const std::size_t gap = line.empty() || piece.joined ? 0 : 1;
    if (!line.empty() &&
        column + display_columns(line) + gap + display_columns(piece.text) > max_columns) {
      out += line + "\n" + std::string(column, ' ');
      line = piece.text;
    } else {
      line += std::string(gap, ' ') + piece.text;
    }
  }
  return out + line;
}

std::string hex(std::uint64_t value) {
  return fmt::format("0x{:x}", value);
}

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + "\"";
}

bool use_colour() {
  // https://no-color.org: set and not empty disables colour. TERM=dumb has no escapes.
  const char* no_colour = std::getenv("NO_COLOR");
  const char* term = std::getenv("TERM");
  return ::isatty(STDOUT_FILENO) && !(no_colour && *no_colour) &&
         !(term && std::string_view(term) == "dumb");
}

}  // namespace pagescan::cli
