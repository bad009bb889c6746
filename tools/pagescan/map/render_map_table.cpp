// `pagescan map` as a table: one row per VMA, heat strips under the rows with --heat, then
// totals for the process (and for the rows shown if filtered).
//
// Three shapes. Wide (--wide): every column on one line per VMA, as wide as it takes.
// Compact (the default) and narrow (the demo) fit the screen width: a row shows the
// start address, permissions and size, then the count columns that fit, then the
// backing, shortened to the room left (the file name kept) or on a line of its own.
// Columns are chosen per table: one with nothing to say in any row (WRITTEN where no VMA
// is uffd-wp registered, a category this kernel cannot report, all zeros in the compact
// map) is left out, then the others are taken by priority while they fit; the lines under
// the table name every column left out and why, so nothing disappears unannounced.
#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <set>

#include "cli/output.hpp"
#include "cli/screen_text.hpp"
#include "map/map_report.hpp"

namespace pagescan::cli {

namespace {

constexpr std::size_t kTailWidth = 15;   // "soft-dirty 100%"
constexpr std::size_t kMinBacking = 20;  // less room than this: the backing gets a line
constexpr std::size_t kWideCount = 11;   // "not tracked"
const char* kNotTracked = "n/t";
const char* kUnknown = "?";

const char* kBold = "\x1b[1m";
const char* kDim = "\x1b[2m";
const char* kReset = "\x1b[0m";

// "64.0K" for "64.0 KiB", "120K" for "120.0 KiB": at most 5 characters below 1000 units.
std::string short_size(std::uint64_t bytes) {
  std::string text = human_size(bytes);
  const std::size_t space = text.find(' ');
  std::string number = text.substr(0, space);
  const std::size_t dot = number.find('.');
  if (dot != std::string::npos && dot >= 3) number.resize(dot);
  return number + text.substr(space + 1, 1);
}

// A count cell: bytes, or the reason there is none ("-", "n/a", "n/t", "?").
struct Cell {
  std::optional<std::uint64_t> bytes;
  std::string why = "-";
};

struct Column {
  std::string title;
  std::function<Cell(const VmaCounts&)> row;
  std::function<Cell(const MapTotals&)> total;
  int priority = 0;  // compact layouts keep the lowest first
};

class TableWriter {
 public:
  TableWriter(const MapView& view, const TableStyle& style, std::FILE* out)
      : view_(view), r_(*view.report), style_(style), out_(out) {
    for (const RowNote& n : view.notes) note_width_ = std::max(note_width_, n.name.size());
    std::vector<const VmaCounts*> all;
    for (const VmaCounts& v : r_.vmas) all.push_back(&v);
    process_ = totals_of(r_, all);
    if (view_.filtered) shown_ = totals_of(r_, view_.rows);
    for (const VmaCounts* v : view_.rows) {
      address_width_ = std::max(address_width_, address(*v).size());
      offset_width_ = std::max(offset_width_, hex(v->vma.offset).size());
      size_width_ = std::max(size_width_, size_text(v->vma.length()).size());
    }
    size_width_ = std::max(size_width_, size_text(process_.bytes).size());
    choose_columns();
    for (std::size_t i = 0; i < columns_.size(); ++i) widths_.push_back(column_width(columns_[i]));
    std::size_t used = display_columns(lead("", "", "", ""));
    for (std::size_t w : widths_) used += gap().size() + w;
    backing_inline_ = style_.wide || (!style_.narrow && used + 2 + kMinBacking <= screen());
    backing_room_ =
        backing_inline_ ? (style_.wide ? std::string::npos : screen() - used - 2) : screen() - 2;
  }

  void write() {
    title();
    header();
    for (std::size_t i = 0; i < view_.rows.size(); ++i) {
      const RowNote* note = i < view_.notes.size() ? &view_.notes[i] : nullptr;
      row(*view_.rows[i], style_.heat ? nullptr : note);
      if (style_.heat) heat(*view_.rows[i], note);
    }
    totals("total", process_);
    if (view_.filtered) totals("shown", shown_);
    footer();
  }

 private:
  bool compact() const { return !style_.wide; }
  std::size_t screen() const { return std::max<std::size_t>(style_.screen, 40); }
  std::string gap() const { return compact() ? " " : "  "; }
  std::string size_text(std::uint64_t bytes) const {
    return compact() ? short_size(bytes) : human_size(bytes);
  }
  // Wide: the range, as /proc/PID/maps shows it; compact: the start (the size gives the end).
  std::string address(const VmaCounts& v) const {
    return compact() ? hex(v.vma.start) : hex(v.vma.start) + "-" + hex(v.vma.end);
  }

  void styled(const char* style, const std::string& text) {
    if (style_.colour && style) {
      fmt::print(out_, "{}{}{}", style, text, kReset);
    } else {
      fmt::print(out_, "{}", text);
    }
  }
  void line(const std::string& text) {
    styled(kDim, wrap_words(text, 0, screen()));
    fmt::print(out_, "\n");
  }

  // "pid 1234 · kernel backend · page size 4.0 KiB · 46 VMAs, 6.8 MiB mapped", broken
  // between its parts where it would pass the screen width.
  void title() {
    std::vector<std::string> parts = {
        fmt::format("pid {}", r_.pid), fmt::format("{} backend", to_string(r_.backend)),
        "page size " + human_size(r_.page_size),
        fmt::format("{} VMA{}, {} mapped", process_.vmas, process_.vmas == 1 ? "" : "s",
                    human_size(process_.bytes))};
    if (view_.filtered) parts.push_back(fmt::format("{} shown", view_.rows.size()));
    std::string text;
    std::size_t at = 0;  // columns on the current line
    for (const std::string& p : parts) {
      if (text.empty()) {
        text = p;
        at = p.size();
      } else if (compact() && at + 3 + p.size() > screen()) {
        text += "\n" + p;
        at = p.size();
      } else {
        text += " · " + p;
        at += 3 + p.size();
      }
    }
    fmt::print(out_, "{}\n", text);
    if (!r_.approximate.empty()) {
      line("approximate (emulated without full information): " + to_string(r_.approximate));
    }
  }

  // --- columns --------------------------------------------------------------------------

  Cell category_cell(const VmaCounts& v, Category c) const {
    const std::size_t i = map_column(c);
    if (auto n = shown_count(r_, v, i)) return Cell{*n * r_.page_size};
    if (!v.scanned) return Cell{};
    if (!r_.counted.contains(c)) return Cell{std::nullopt, "n/a"};
    return Cell{std::nullopt, compact() ? kNotTracked : "not tracked"};
  }
  Cell category_total(const MapTotals& t, Category c) const {
    if (auto n = t.pages[map_column(c)]) return Cell{*n * r_.page_size};
    if (!r_.counted.contains(c)) return Cell{std::nullopt, "n/a"};
    return Cell{std::nullopt,
                c == Category::written ? (compact() ? kNotTracked : "not tracked") : "-"};
  }
  Cell split_cell(const VmaCounts& v, const std::optional<std::uint64_t>& n) const {
    if (n) return Cell{*n * r_.page_size};
    return Cell{std::nullopt, v.split_unknown.empty() ? "-" : kUnknown};
  }
  Cell split_total(const MapTotals& t, const std::optional<std::uint64_t>& n) const {
    if (n) return Cell{*n * r_.page_size};
    return Cell{std::nullopt, t.split_unknown_vmas ? kUnknown : "-"};
  }

  // Every column, in the order shown, with its priority for compact layouts: the demo
  // (narrow) is about the categories, the map about reconciling them with smaps.
  std::vector<Column> all_columns() const {
    std::vector<Column> cols;
    const bool demo = style_.narrow;
    auto smaps = [&](const char* title, SmapsField f, int priority) {
      cols.push_back(
          Column{title,
                 [f](const VmaCounts& v) {
                   return v.vma.smaps.has(f) ? Cell{v.vma.smaps[f]} : Cell{std::nullopt, "n/a"};
                 },
                 [f](const MapTotals& t) {
                   return t.smaps.has(f) ? Cell{t.smaps[f]} : Cell{std::nullopt, "n/a"};
                 },
                 priority});
    };
    auto category = [&](Category c, std::string title, int priority) {
      cols.push_back(Column{title, [this, c](const VmaCounts& v) { return category_cell(v, c); },
                            [this, c](const MapTotals& t) { return category_total(t, c); },
                            priority});
    };
    smaps("RSS", SmapsField::rss, demo ? 20 : 1);
    smaps("PSS", SmapsField::pss, demo ? 22 : 7);
    smaps("SWAP", SmapsField::swap, demo ? 21 : 2);
    category(Category::present, "PRESENT", demo ? 1 : 0);
    // The scan's SWAPPED, then what it holds: swap entries and markers. Compact maps show
    // SWAPPED only when some VMA's split is unknown (else it is their sum).
    bool unsplit = process_.split_unknown_vmas > 0;
    if (style_.wide || demo || unsplit) category(Category::swapped, "SWAPPED", demo ? 2 : 5);
    cols.push_back(Column{
        "SWAPENT", [this](const VmaCounts& v) { return split_cell(v, v.swap_entries); },
        [this](const MapTotals& t) { return split_total(t, t.swap_entries); }, demo ? 23 : 3});
    cols.push_back(
        Column{"MARKERS", [this](const VmaCounts& v) { return split_cell(v, v.markers); },
               [this](const MapTotals& t) { return split_total(t, t.markers); }, demo ? 24 : 6});
    category(Category::pfnzero, "PFNZERO", demo ? 3 : 9);
    category(Category::huge, "HUGE", demo ? 4 : 8);
    category(Category::file, "FILE", demo ? 5 : 4);
    category(Category::written, "WRITTEN", demo ? 6 : 10);
    category(Category::guard, "GUARD", demo ? 7 : 11);
    return cols;
  }

  std::vector<Cell> cells_of(const Column& c) const {
    std::vector<Cell> cells;
    for (const VmaCounts* v : view_.rows) cells.push_back(c.row(*v));
    cells.push_back(c.total(process_));
    if (view_.filtered) cells.push_back(c.total(shown_));
    return cells;
  }
  std::string cell_text(const Cell& c) const { return c.bytes ? size_text(*c.bytes) : c.why; }
  std::size_t column_width(const Column& c) const {
    if (!compact()) return kWideCount;
    std::size_t w = c.title.size();
    for (const Cell& cell : cells_of(c)) w = std::max(w, cell_text(cell).size());
    return w;
  }

  // Compact: leave out the columns with nothing to say, then keep by priority what fits.
  void choose_columns() {
    std::vector<Column> cols = all_columns();
    if (!compact()) {
      columns_ = std::move(cols);
      return;
    }
    std::vector<bool> keep(cols.size(), false);
    std::vector<std::size_t> order;
    for (std::size_t i = 0; i < cols.size(); ++i) {
      bool number = false, nonzero = false, untracked = false;
      for (const Cell& cell : cells_of(cols[i])) {
        number = number || cell.bytes.has_value() || cell.why == kUnknown;
        nonzero = nonzero || (cell.bytes && *cell.bytes) || cell.why == kUnknown;
        untracked = untracked || cell.why == kNotTracked;
      }
      if (!number) {
        (untracked ? left_untracked_ : left_unavailable_).push_back(cols[i].title);
      } else if (!nonzero && !style_.narrow) {
        left_zero_.push_back(cols[i].title);
      } else {
        order.push_back(i);
      }
    }
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      return cols[a].priority < cols[b].priority;
    });
    std::size_t used = display_columns(lead("", "", "", ""));
    for (std::size_t i : order) {
      std::size_t w = 1 + column_width(cols[i]);
      if (used + w <= screen()) {
        keep[i] = true;
        used += w;
      } else {
        left_for_width_.push_back(cols[i].title);
      }
    }
    for (std::size_t i = 0; i < cols.size(); ++i) {
      if (keep[i]) columns_.push_back(std::move(cols[i]));
    }
  }

  // --- rows -----------------------------------------------------------------------------

  // The row's first columns: "ADDRESS  PERM  OFFSET  SIZE" (compact: "ADDRESS PERM SIZE").
  std::string lead(const std::string& address, const std::string& perms, const std::string& offset,
                   const std::string& size) const {
    if (compact()) {
      return fmt::format("{:<{}} {:<4} {:>{}}", address, address_width_, perms, size, size_width_);
    }
    return fmt::format("{:<{}}  {:<4}  {:>{}}  {:>10}", address, address_width_, perms, offset,
                       offset_width_, size);
  }

  void header() {
    std::string text = lead("ADDRESS", "PERM", "OFFSET", "SIZE");
    for (std::size_t i = 0; i < columns_.size(); ++i) {
      text += fmt::format("{}{:>{}}", gap(), columns_[i].title, widths_[i]);
    }
    if (backing_inline_) text += "  BACKING";
    styled(kBold, text);
    fmt::print(out_, "\n");
  }

  // Count cells: nothing meaningful shows why, zero is dimmed so non-zero stands out.
  void cell(const Cell& c, std::size_t width) {
    fmt::print(out_, "{}", gap());
    if (!c.bytes) {
      shown_why_.insert(c.why);
      styled(kDim, fmt::format("{:>{}}", c.why, width));
    } else if (*c.bytes == 0) {
      styled(kDim, fmt::format("{:>{}}", "0", width));
    } else {
      fmt::print(out_, "{:>{}}", size_text(*c.bytes), width);
    }
  }

  // The backing, and in compact layouts the offset where there is a file (/proc/PID/maps
  // shows 0 for the rest): "anon", "/usr/bin/pagescan at 0x2000".
  std::string backing(const VmaCounts& v) const {
    std::string text = backing_text(v.vma);
    if (style_.narrow && !v.vma.path.empty() && v.vma.path[0] == '/' &&
        v.vma.backing != Backing::anonymous) {
      text += " at offset " + hex(v.vma.offset);
    }
    return text;
  }
  // The reason a VMA was not scanned: in full on wide rows, else under the table, naming
  // the VMAs (their cells show "-").
  std::string not_scanned(const VmaCounts& v) {
    if (v.scanned) return "";
    if (!compact()) return " (not scanned: " + v.not_scanned_reason + ")";
    std::string& names = not_scanned_[v.not_scanned_reason];
    const std::string name = backing_text(v.vma);
    if (names.find(name) == std::string::npos) names += (names.empty() ? "" : ", ") + name;
    return "";
  }

  void row(const VmaCounts& v, const RowNote* note) {
    fmt::print(out_, "{}",
               lead(address(v), v.vma.perms, hex(v.vma.offset), size_text(v.vma.length())));
    for (std::size_t i = 0; i < columns_.size(); ++i) cell(columns_[i].row(v), widths_[i]);
    const std::string why = not_scanned(v);
    if (style_.narrow) {
      fmt::print(out_, "\n");
      if (!style_.heat) {
        fmt::print(out_, "  {}\n", shorten_path(backing(v) + why, screen() - 2));
        if (note) fmt::print(out_, "  {}: {}\n", note->name, wrap_words(note->text, 4, screen()));
      }
      return;
    }
    if (!backing_inline_) {
      fmt::print(out_, "\n  {}", shorten_path(backing(v), screen() - 2 - display_columns(why)));
      styled(kDim, why);
      fmt::print(out_, "\n");
      return;
    }
    fmt::print(
        out_, "  {}",
        shorten_path(backing(v), backing_room_ - std::min(backing_room_, display_columns(why))));
    styled(kDim, why);
    if (note) {
      fmt::print(out_, "  · ");
      styled(kBold, note->name);
      fmt::print(out_, ": {}", note->text);
    }
    fmt::print(out_, "\n");
  }

  // Cells in a heat strip: as asked with --heat-width, else at most what fits the screen.
  std::uint32_t strip_cells(std::size_t indent) const {
    if (style_.heat_width_forced || style_.wide) return style_.width;
    const std::size_t room =
        screen() > indent + 3 + kTailWidth ? screen() - indent - 3 - kTailWidth : 8;
    return static_cast<std::uint32_t>(std::clamp<std::size_t>(room, 8, style_.width));
  }

  // "  [strip] present 50%", with a row note: "  name  [strip] present 50%   text".
  void heat(const VmaCounts& v, const RowNote* note) {
    const Category c = *r_.heat_category;
    fmt::print(out_, "  ");
    if (note_width_) {
      styled(kBold, fmt::format("{:<{}}", note ? note->name : "", note_width_));
      fmt::print(out_, "  ");
    }
    const std::size_t indent = 2 + (note_width_ ? note_width_ + 2 : 0);
    std::string tail;  // after the strip: the percentage
    std::size_t used = indent;
    if (!v.scanned) {
      styled(kDim, "(not scanned)");
      used += 13;
    } else if (c == Category::written && !v.vma.uffd_wp) {
      const std::string why = compact()
                                  ? "(not tracked: the VMA is not uffd-wp registered)"
                                  : "(written not tracked: the VMA is not uffd-wp registered)";
      styled(kDim, why);
      used += why.size();
    } else {
      const std::uint32_t cells = strip_cells(indent);
      std::uint64_t in = 0;
      for (std::uint32_t b = 0; b < v.heat.bins(); ++b) in += v.heat.count(b, 0);
      fmt::print(out_, "[");
      styled(strip_colour(c), heat_text(heat_fractions(v.heat, cells), style_.ascii));
      double percent = 100.0 * static_cast<double>(in) / static_cast<double>(v.heat.pages());
      tail = fmt::format("{} {:.0f}%", to_string(c), std::floor(percent));
      fmt::print(out_, "] {}", tail);
      used += cells + 3 + tail.size();
    }
    if (style_.narrow) {
      heat_narrow_tail(v, note, indent, used, tail);
      return;
    }
    if (note) {
      // Notes line up after the percentages ("soft-dirty 100%" is the longest).
      const std::size_t pad = tail.empty() ? 0 : kTailWidth - std::min(tail.size(), kTailWidth);
      fmt::print(out_, "{:{}}  {}", "", pad, note->text);
    }
    fmt::print(out_, "\n");
  }

  // Narrow: the backing after the percentage if it fits, else on a line of its own under
  // the strip; then the note's text there too.
  void heat_narrow_tail(const VmaCounts& v, const RowNote* note, std::size_t indent,
                        std::size_t used, const std::string& tail) {
    const std::string text = backing(v) + not_scanned(v);
    const std::size_t pad = tail.empty() ? 0 : kTailWidth - std::min(tail.size(), kTailWidth);
    if (used + pad + 2 + display_columns(text) <= screen()) {
      fmt::print(out_, "{:{}}  {}\n", "", pad, text);
    } else {
      fmt::print(out_, "\n{:{}}{}\n", "", indent, shorten_path(text, screen() - indent));
    }
    if (note) fmt::print(out_, "{:{}}{}\n", "", indent, wrap_words(note->text, indent, screen()));
  }

  // Compact tables leave out the VMA count: the title line gives both.
  void totals(const char* name, const MapTotals& t) {
    styled(kBold, lead(name, "", "", size_text(t.bytes)));
    for (std::size_t i = 0; i < columns_.size(); ++i) cell(columns_[i].total(t), widths_[i]);
    if (!compact()) fmt::print(out_, "  {} VMA{}", t.vmas, t.vmas == 1 ? "" : "s");
    fmt::print(out_, "\n");
  }

  // What the cells and the columns left out mean.
  void footer() {
    auto list = [](const std::vector<std::string>& titles) {
      std::string text;
      for (const std::string& t : titles) text += (text.empty() ? "" : ", ") + t;
      return text;
    };
    if (!left_untracked_.empty()) {
      line("not shown: " + list(left_untracked_) +
           " (no VMA is uffd-wp registered: nothing is tracked)");
    }
    if (!left_unavailable_.empty()) {
      line("not shown: " + list(left_unavailable_) + " (this kernel's scan cannot report it)");
    }
    if (!left_zero_.empty()) line("not shown, 0 in every row: " + list(left_zero_));
    if (!left_for_width_.empty()) {
      line("not shown for width (--wide shows every column): " + list(left_for_width_));
    }
    if (shown_why_.count(kNotTracked)) {
      line(std::string(kNotTracked) +
           ": not tracked (WRITTEN is known only in uffd-wp registered VMAs)");
    }
    if (shown_why_.count(kUnknown)) {
      std::set<std::string> reasons;
      for (const VmaCounts* v : view_.rows) {
        if (!v->split_unknown.empty()) reasons.insert(v->split_unknown);
      }
      for (const std::string& why : reasons) line("?: " + why);
    }
    for (const auto& [why, names] : not_scanned_) line("not scanned (" + why + "): " + names);
  }

  static const char* strip_colour(Category c) {
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

  const MapView& view_;
  const MapReport& r_;
  const TableStyle& style_;
  std::FILE* out_;
  MapTotals process_, shown_;
  std::vector<Column> columns_;
  std::vector<std::size_t> widths_;
  std::vector<std::string> left_untracked_, left_unavailable_, left_zero_, left_for_width_;
  std::set<std::string> shown_why_;
  std::map<std::string, std::string> not_scanned_;  // reason -> the VMAs' names
  std::size_t address_width_ = 7;                   // "ADDRESS"
  std::size_t offset_width_ = 6;                    // "OFFSET"
  std::size_t size_width_ = 4;                      // "SIZE"
  std::size_t note_width_ = 0;                      // the longest note name
  bool backing_inline_ = true;
  std::size_t backing_room_ = 0;
};

}  // namespace

void render_map_table(const MapView& view, const TableStyle& style, std::FILE* out) {
  TableWriter(view, style, out).write();
}

}  // namespace pagescan::cli
