// `pagescan map` as a table: one row per VMA (sizes in human units), heat strips under
// the rows with --heat, then totals for the process (and for the rows shown if filtered).
#include <fmt/core.h>

#include <algorithm>
#include <cmath>

#include "map_report.hpp"
#include "output.hpp"

namespace pagescan::cli {

namespace {

constexpr int kCountWidth = 11;         // "not tracked"
constexpr std::size_t kTailWidth = 15;  // "soft-dirty 100%"

const char* kBold = "\x1b[1m";
const char* kDim = "\x1b[2m";
const char* kReset = "\x1b[0m";

std::string column_title(Category c) {
  std::string name(to_string(c));
  for (char& ch : name) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return name;
}

// The ANSI colour of a category's heat strip.
const char* strip_colour(Category c) {
  switch (c) {
    case Category::present:
      return "\x1b[32m";
    case Category::swapped:
      return "\x1b[31m";
    case Category::pfnzero:
      return "\x1b[36m";
    case Category::huge:
      return "\x1b[35m";
    case Category::file:
      return "\x1b[33m";
    case Category::written:
      return "\x1b[34m";
    default:
      return "\x1b[37m";
  }
}

class TableWriter {
 public:
  TableWriter(const MapView& view, const TableStyle& style, std::FILE* out)
      : view_(view), r_(*view.report), style_(style), out_(out) {
    for (const VmaCounts* v : view.rows) {
      address_width_ = std::max(address_width_, address(*v).size());
      offset_width_ = std::max(offset_width_, hex(v->vma.offset).size());
    }
    for (const RowNote& n : view.notes) note_width_ = std::max(note_width_, n.name.size());
  }

  void write() {
    std::vector<const VmaCounts*> all;
    for (const VmaCounts& v : r_.vmas) all.push_back(&v);
    const MapTotals process = totals_of(r_, all);
    fmt::print(out_, "pid {} · {} backend · page size {} · {} VMA{}, {} mapped", r_.pid,
               to_string(r_.backend), human_size(r_.page_size), process.vmas,
               process.vmas == 1 ? "" : "s", human_size(process.bytes));
    if (view_.filtered) fmt::print(out_, " · {} shown", view_.rows.size());
    fmt::print(out_, "\n");
    if (!r_.approximate.empty()) {
      fmt::print(out_, "approximate (emulated without full information): {}\n",
                 to_string(r_.approximate));
    }
    header();
    for (std::size_t i = 0; i < view_.rows.size(); ++i) {
      const RowNote* note = i < view_.notes.size() ? &view_.notes[i] : nullptr;
      row(*view_.rows[i], style_.heat ? nullptr : note);
      if (style_.heat) heat(*view_.rows[i], note);
    }
    totals("total", process);
    if (view_.filtered) totals("shown", totals_of(r_, view_.rows));
  }

 private:
  static std::string address(const VmaCounts& v) { return hex(v.vma.start) + "-" + hex(v.vma.end); }

  void styled(const char* style, const std::string& text) {
    if (style_.colour && style) {
      fmt::print(out_, "{}{}{}", style, text, kReset);
    } else {
      fmt::print(out_, "{}", text);
    }
  }

  void header() {
    std::string line = fmt::format("{:<{}}  {:<4}  {:>{}}  {:>10}", "ADDRESS", address_width_,
                                   "PERM", "OFFSET", offset_width_, "SIZE");
    for (Category c : kMapCategories) line += fmt::format("  {:>{}}", column_title(c), kCountWidth);
    line += "  BACKING";
    styled(kBold, line);
    fmt::print(out_, "\n");
  }

  // Count cells: nothing meaningful shows why, zero is dimmed so non-zero stands out.
  void count_cell(const std::optional<std::uint64_t>& pages, const VmaCounts* v, Category c) {
    fmt::print(out_, "  ");
    if (!pages) {
      std::string why = v && !v->scanned          ? "-"
                        : !r_.counted.contains(c) ? "n/a"
                        : c == Category::written  ? "not tracked"
                                                  : "-";
      styled(kDim, fmt::format("{:>{}}", why, kCountWidth));
    } else if (*pages == 0) {
      styled(kDim, fmt::format("{:>{}}", "0", kCountWidth));
    } else {
      fmt::print(out_, "{:>{}}", human_size(*pages * r_.page_size), kCountWidth);
    }
  }

  void row(const VmaCounts& v, const RowNote* note) {
    fmt::print(out_, "{:<{}}  {:<4}  {:>{}}  {:>10}", address(v), address_width_, v.vma.perms,
               hex(v.vma.offset), offset_width_, human_size(v.vma.length()));
    for (std::size_t i = 0; i < kMapColumns; ++i) {
      count_cell(shown_count(r_, v, i), &v, kMapCategories[i]);
    }
    fmt::print(out_, "  {}", backing_text(v.vma));
    if (!v.scanned) styled(kDim, " (not scanned: " + v.not_scanned_reason + ")");
    if (note) {
      fmt::print(out_, "  · ");
      styled(kBold, note->name);
      fmt::print(out_, ": {}", note->text);
    }
    fmt::print(out_, "\n");
  }

  // "  [strip] present 50%", with a row note: "  name  [strip] present 50%   text".
  void heat(const VmaCounts& v, const RowNote* note) {
    const Category c = *r_.heat_category;
    fmt::print(out_, "  ");
    if (note_width_) {
      styled(kBold, fmt::format("{:<{}}", note ? note->name : "", note_width_));
      fmt::print(out_, "  ");
    }
    std::string tail;  // after the strip: the percentage
    if (!v.scanned) {
      styled(kDim, "(not scanned)");
    } else if (c == Category::written && !v.vma.uffd_wp) {
      styled(kDim, "(written not tracked: the VMA is not uffd-wp registered)");
    } else {
      std::uint64_t in = 0;
      for (std::uint32_t b = 0; b < v.heat.bins(); ++b) in += v.heat.count(b, 0);
      fmt::print(out_, "[");
      styled(strip_colour(c), heat_text(heat_fractions(v.heat, style_.width), style_.ascii));
      double percent = 100.0 * static_cast<double>(in) / static_cast<double>(v.heat.pages());
      tail = fmt::format("{} {:.0f}%", to_string(c), std::floor(percent));
      fmt::print(out_, "] {}", tail);
    }
    if (note) {
      // Notes line up after the percentages ("soft-dirty 100%" is the longest).
      const std::size_t pad = tail.empty() ? 0 : kTailWidth - std::min(tail.size(), kTailWidth);
      fmt::print(out_, "{:{}}  {}", "", pad, note->text);
    }
    fmt::print(out_, "\n");
  }

  void totals(const char* name, const MapTotals& t) {
    std::string line = fmt::format("{:<{}}  {:<4}  {:>{}}  {:>10}", name, address_width_, "", "",
                                   offset_width_, human_size(t.bytes));
    styled(kBold, line);
    for (std::size_t i = 0; i < kMapColumns; ++i)
      count_cell(t.pages[i], nullptr, kMapCategories[i]);
    fmt::print(out_, "  {} VMA{}\n", t.vmas, t.vmas == 1 ? "" : "s");
  }

  const MapView& view_;
  const MapReport& r_;
  const TableStyle& style_;
  std::FILE* out_;
  std::size_t address_width_ = 7;  // "ADDRESS"
  std::size_t offset_width_ = 6;   // "OFFSET"
  std::size_t note_width_ = 0;     // the longest note name
};

}  // namespace

void render_map_table(const MapView& view, const TableStyle& style, std::FILE* out) {
  TableWriter(view, style, out).write();
}

}  // namespace pagescan::cli
