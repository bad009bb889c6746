// Shared output helpers: error lines, exit codes, human units, wrapping, hex addresses.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "cli/arguments.hpp"
#include "pagescan/result.hpp"

namespace pagescan::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitRuntime = 1;
inline constexpr int kExitUsage = 2;

// "pagescan: <message>" on stderr (a note, a warning). Never throws, even when stderr
// cannot be written.
void print_message(std::string_view message);
// Prints "pagescan: <message>" on stderr and returns the exit code.
int report_usage(const UsageError& error);
// Library errors: invalid_argument is the caller's fault (exit 2), the rest runtime (1).
int report_error(const Error& error);

// "12.0 KiB", "3.5 GiB", "512 B".
std::string human_size(std::uint64_t bytes);
// `text` starting at column `column`, broken at spaces (never between a number and its
// unit) so no line passes `max_columns`; continuation lines start at `column` too. A word
// longer than the room keeps a line of its own. max_columns 0: one line.
// Comma lists ("file,present,swapped") may break after a comma unless `keep_lists` (help
// text, where a list is part of a command line to copy).
std::string wrap_words(const std::string& text, std::size_t column, std::size_t max_columns,
                       bool keep_lists = false);
// "0x7f12abc000".
std::string hex(std::uint64_t value);
// A CSV field (RFC 4180): quoted, quotes doubled, when it holds a comma, quote or line break.
std::string csv_field(const std::string& text);

// Colour only when stdout is a terminal, never with NO_COLOR set to a non-empty value
// (https://no-color.org) nor with TERM=dumb. Every renderer that colours asks this.
bool use_colour();

}  // namespace pagescan::cli
