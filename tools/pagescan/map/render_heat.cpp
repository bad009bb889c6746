// Heat strips for `pagescan map --heat`: where along a VMA the pages of one category are,
// one character per stretch of pages, like vmtouch's residency bars.
#include <algorithm>
#include <array>
#include <cmath>

#include "map/map_report.hpp"

namespace pagescan::cli {

std::vector<double> heat_fractions(const Strip& strip, std::uint32_t width) {
  std::vector<double> cells;
  if (strip.bins() == 0) return cells;
  cells.reserve(width);
  for (std::uint32_t j = 0; j < width; ++j) {
    // A VMA with fewer pages than cells has one bin per page: cells repeat its pages.
    auto bin = static_cast<std::uint32_t>(static_cast<std::uint64_t>(j) * strip.bins() / width);
    cells.push_back(static_cast<double>(strip.count(bin, 0)) /
                    static_cast<double>(strip.bin_pages(bin)));
  }
  return cells;
}

std::string heat_text(const std::vector<double>& fractions, bool ascii) {
  static constexpr std::array<const char*, 9> kBlocks = {" ", "▁", "▂", "▃", "▄",
                                                         "▅", "▆", "▇", "█"};
  static constexpr std::string_view kAscii = " .:-=+*#%@";
  const std::size_t levels = ascii ? kAscii.size() : kBlocks.size();
  std::string text;
  for (double f : fractions) {
    // Empty only when no page is in the category, full only when every page is: a single
    // page in a large stretch still shows, and "full" is never a rounding artefact.
    std::size_t level = 0;
    if (f >= 1.0) {
      level = levels - 1;
    } else if (f > 0.0) {
      level = 1 + static_cast<std::size_t>(std::floor(f * static_cast<double>(levels - 2)));
      level = std::min(level, levels - 2);
    }
    if (ascii) {
      text += kAscii[level];
    } else {
      text += kBlocks[level];
    }
  }
  return text;
}

}  // namespace pagescan::cli
