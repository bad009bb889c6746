// top's model and screen (top_view.hpp).
#include "top/top_view.hpp"

#include <fmt/core.h>

#include <algorithm>

#include "cli/output.hpp"
#include "cli/screen_text.hpp"
#include "cli/vma_selection.hpp"
#include "map/map_report.hpp"

namespace pagescan::cli {

namespace {

// Fixed columns: RATE (11) LAST (9) TOTAL (9), then the mapping and the strip.
constexpr std::size_t kNumbers = 11 + 1 + 9 + 1 + 9 + 2;
constexpr std::size_t kMinStrip = 8;

std::string rate_text(std::uint64_t pages, double seconds) {
  if (seconds <= 0) return "-";
  return human_size(
             static_cast<std::uint64_t>(static_cast<double>(pages * page_size()) / seconds)) +
         "/s";
}

// ASCII `text` in at most `width` columns, its end cut off ("…") when it is longer.
std::string cut(const std::string& text, std::size_t width) {
  if (text.size() <= width) return text;
  return text.substr(0, width - 1) + "\u2026";
}

std::string strip_text(const TopRow& row, std::uint32_t cells, bool ascii) {
  const std::uint64_t page = page_size();
  Strip strip(row.vma.length() / page, cells, 1);
  for (const PageRange& r : row.last_ranges) {
    strip.add((r.start - row.vma.start) / page, (r.end - row.vma.start) / page, 0);
  }
  return heat_text(heat_fractions(strip, cells), ascii);
}

}  // namespace

void TopModel::add_round(const std::vector<MappingWrites>& by_mapping, double seconds) {
  ++rounds_;
  seconds_ = seconds;
  last_pages_ = 0;
  for (TopRow& row : rows_) {
    row.last_pages = 0;
    row.last_ranges.clear();
  }
  for (const MappingWrites& m : by_mapping) {
    auto row = std::find_if(rows_.begin(), rows_.end(), [&](const TopRow& r) {
      return r.vma.start == m.vma.start && r.vma.end == m.vma.end && r.vma.path == m.vma.path;
    });
    if (row == rows_.end()) row = rows_.insert(rows_.end(), TopRow{m.vma, 0, 0, {}});
    row->last_pages = m.pages;
    row->total_pages += m.pages;
    row->last_ranges = m.ranges;
    last_pages_ += m.pages;
    total_pages_ += m.pages;
  }
}

std::vector<const TopRow*> TopModel::sorted() const {
  std::vector<const TopRow*> out;
  for (const TopRow& row : rows_) out.push_back(&row);
  std::sort(out.begin(), out.end(), [](const TopRow* a, const TopRow* b) {
    if (a->last_pages != b->last_pages) return a->last_pages > b->last_pages;
    if (a->total_pages != b->total_pages) return a->total_pages > b->total_pages;
    return a->vma.start < b->vma.start;
  });
  return out;
}

std::vector<std::string> render_top(const TopModel& model, const TopScreen& screen) {
  const std::size_t width = screen.width;
  std::vector<std::string> lines;
  // The header lines say the most important first: a narrow screen cuts their ends.
  lines.push_back(cut(fmt::format("pid {}, round {}, every {:g} s ({}); q or Ctrl-C quits",
                                  screen.pid, model.rounds(), screen.interval, screen.engine),
                      width));
  lines.push_back(cut(fmt::format("written: {} now, {} since the start",
                                  rate_text(model.last_pages(), model.seconds()),
                                  human_size(model.total_pages() * page_size())),
                      width));
  // The mapping gets up to 30 columns; the strip the rest, when there is room for one.
  const std::size_t rest = width > kNumbers ? width - kNumbers : 8;
  std::size_t name = std::min<std::size_t>(30, rest);
  std::size_t cells = 0;
  if (rest >= name + 1 + kMinStrip) {
    cells = std::min<std::size_t>(64, rest - name - 1);
  } else if (rest > 12 + 1 + kMinStrip) {
    name = rest - 1 - kMinStrip;
    cells = kMinStrip;
  }
  std::string header =
      fmt::format("{:>11} {:>9} {:>9}  {:<{}}", "RATE", "LAST", "TOTAL", "MAPPING", name);
  if (cells) header += cells >= 21 ? " WHERE (last interval)" : " WHERE";
  lines.push_back(header);
  const std::vector<const TopRow*> rows = model.sorted();
  if (rows.empty()) lines.push_back("(nothing written yet)");
  for (const TopRow* row : rows) {
    if (lines.size() >= screen.rows) break;
    std::string line = fmt::format(
        "{:>11} {:>9} {:>9}  ", rate_text(row->last_pages, model.seconds()),
        human_size(row->last_pages * page_size()), human_size(row->total_pages * page_size()));
    const std::string label = short_vma_name(row->vma, name);
    line += label + std::string(name - std::min(name, display_columns(label)), ' ');
    if (cells) line += " " + strip_text(*row, static_cast<std::uint32_t>(cells), screen.ascii);
    lines.push_back(line);
  }
  if (lines.size() > screen.rows) lines.resize(screen.rows);
  return lines;
}

}  // namespace pagescan::cli
