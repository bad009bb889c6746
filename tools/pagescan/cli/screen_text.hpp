// Text measured as a terminal shows it: display columns, not bytes (the heat strips'
// blocks, "…" and "·" are one column in three or two bytes), and paths cut to fit.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace pagescan::cli {

// Columns of UTF-8 text: one per character (pagescan prints no wide characters); ANSI
// escape sequences (CSI ... final byte) take none.
std::size_t display_columns(std::string_view text);

// `text` in at most `columns` columns keeping its end, the file name:
// "/usr/lib/…/libc.so.6", and "…" with the name's end when even the name does not fit.
std::string shorten_path(const std::string& text, std::size_t columns);

}  // namespace pagescan::cli
