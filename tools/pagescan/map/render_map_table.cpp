// `pagescan map` as a table: one row per VMA (sizes in human units), heat strips under
// the rows with --heat, then totals for the process (and for the rows shown if filtered).
#include <fmt/core.h>

#include <algorithm>
#include <cmath>

#include "cli/output.hpp"
#include "map/map_report.hpp"

namespace pagescan::cli {

namespace {

constexpr int kCountWidth = 11;         // "not tracked"
constexpr int kNarrowWidth = 7;         // "120.0K", "PRESENT"
constexpr std::size_t kTailWidth = 15;  // "soft-dirty 100%"
constexpr std::size_t kNarrowColumns = 100;
const char* kNotTracked = "n/t";

const char* kBold = "\x1b[1m";
const char* kDim = "\x1b[2m";
const char* kReset = "\x1b[0m";

// "64.0K" for "64.0 KiB", "512B" for "512 B": at most 7 characters.
std::string short_size(std::uint64_t bytes) {
  std::string text = human_size(bytes);
  const std::size_t space = text.find(' ');
  return text.substr(0, space) + text.substr(space + 1, 1);
}

// Columns on screen: the strips' blocks are one column but three bytes.
std::size_t columns(const std::string& text) {
  std::size_t n = 0;
  for (unsigned char c : text) n += (c & 0xc0) != 0x80;
  return n;
}

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
    count_width_ = style.narrow ? kNarrowWidth : kCountWidth;
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
    if (not_tracked_shown_) {
      styled(kDim, std::string(kNotTracked) +
                       ": not tracked (WRITTEN is known only in VMAs registered for uffd "
                       "write-protect)");
      fmt::print(out_, "\n");
    }
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

  // The row's first columns: "ADDRESS  PERM  OFFSET  SIZE" (narrow: "ADDRESS PERM SIZE").
  std::string lead(const std::string& address, const std::string& perms, const std::string& offset,
                   const std::string& size) const {
    if (style_.narrow) {
      return fmt::format("{:<{}} {:<4} {:>{}}", address, address_width_, perms, size, kNarrowWidth);
    }
    return fmt::format("{:<{}}  {:<4}  {:>{}}  {:>10}", address, address_width_, perms, offset,
                       offset_width_, size);
  }
  std::string size_text(std::uint64_t bytes) const {
    return style_.narrow ? short_size(bytes) : human_size(bytes);
  }
  const char* gap() const { return style_.narrow ? " " : "  "; }

  void header() {
    std::string line = lead("ADDRESS", "PERM", "OFFSET", "SIZE");
    for (Category c : kMapCategories) {
      line += fmt::format("{}{:>{}}", gap(), column_title(c), count_width_);
    }
    if (!style_.narrow) line += "  BACKING";
    styled(kBold, line);
    fmt::print(out_, "\n");
  }

  // Count cells: nothing meaningful shows why, zero is dimmed so non-zero stands out.
  void count_cell(const std::optional<std::uint64_t>& pages, const VmaCounts* v, Category c) {
    fmt::print(out_, "{}", gap());
    if (!pages) {
      std::string why = v && !v->scanned          ? "-"
                        : !r_.counted.contains(c) ? "n/a"
                        : c != Category::written  ? "-"
                        : style_.narrow           ? kNotTracked
                                                  : "not tracked";
      not_tracked_shown_ = not_tracked_shown_ || why == kNotTracked;
      styled(kDim, fmt::format("{:>{}}", why, count_width_));
    } else if (*pages == 0) {
      styled(kDim, fmt::format("{:>{}}", "0", count_width_));
    } else {
      fmt::print(out_, "{:>{}}", size_text(*pages * r_.page_size), count_width_);
    }
  }

  // The backing, and the offset where there is a file (/proc/PID/maps shows 0 for the
  // rest), for narrow tables: "anon", "/usr/bin/pagescan at offset 0x2000".
  static std::string backing_and_offset(const VmaCounts& v) {
    std::string text = backing_text(v.vma);
    if (!v.vma.path.empty() && v.vma.path[0] == '/' && v.vma.backing != Backing::anonymous) {
      text += " at offset " + hex(v.vma.offset);
    }
    if (!v.scanned) text += " (not scanned: " + v.not_scanned_reason + ")";
    return text;
  }

  void row(const VmaCounts& v, const RowNote* note) {
    fmt::print(out_, "{}",
               lead(address(v), v.vma.perms, hex(v.vma.offset), size_text(v.vma.length())));
    for (std::size_t i = 0; i < kMapColumns; ++i) {
      count_cell(shown_count(r_, v, i), &v, kMapCategories[i]);
    }
    if (style_.narrow) {
      fmt::print(out_, "\n");
      if (!style_.heat) {
        fmt::print(out_, "  {}\n", backing_and_offset(v));
        if (note) fmt::print(out_, "  {}: {}\n", note->name, note->text);
      }
      return;
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
    std::size_t strip_columns = 2 + (note_width_ ? note_width_ + 2 : 0);  // so far
    if (!v.scanned) {
      styled(kDim, "(not scanned)");
      strip_columns += 13;
    } else if (c == Category::written && !v.vma.uffd_wp) {
      const std::string why = "(written not tracked: the VMA is not uffd-wp registered)";
      styled(kDim, why);
      strip_columns += why.size();
    } else {
      std::uint64_t in = 0;
      for (std::uint32_t b = 0; b < v.heat.bins(); ++b) in += v.heat.count(b, 0);
      fmt::print(out_, "[");
      styled(strip_colour(c), heat_text(heat_fractions(v.heat, style_.width), style_.ascii));
      double percent = 100.0 * static_cast<double>(in) / static_cast<double>(v.heat.pages());
      tail = fmt::format("{} {:.0f}%", to_string(c), std::floor(percent));
      fmt::print(out_, "] {}", tail);
      strip_columns += style_.width + 3 + tail.size();
    }
    if (style_.narrow) {
      heat_narrow_tail(v, note, strip_columns, tail);
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
  void heat_narrow_tail(const VmaCounts& v, const RowNote* note, std::size_t used,
                        const std::string& tail) {
    const std::size_t indent = 2 + (note_width_ ? note_width_ + 2 : 0);
    const std::string backing = backing_and_offset(v);
    const std::size_t pad = tail.empty() ? 0 : kTailWidth - std::min(tail.size(), kTailWidth);
    if (used + pad + 2 + columns(backing) <= kNarrowColumns) {
      fmt::print(out_, "{:{}}  {}\n", "", pad, backing);
    } else {
      fmt::print(out_, "\n{:{}}{}\n", "", indent, backing);
    }
    if (note) fmt::print(out_, "{:{}}{}\n", "", indent, note->text);
  }

  // Narrow tables leave out the VMA count: the line above the table gives both.
  void totals(const char* name, const MapTotals& t) {
    styled(kBold, lead(name, "", "", size_text(t.bytes)));
    for (std::size_t i = 0; i < kMapColumns; ++i)
      count_cell(t.pages[i], nullptr, kMapCategories[i]);
    if (!style_.narrow) fmt::print(out_, "  {} VMA{}", t.vmas, t.vmas == 1 ? "" : "s");
    fmt::print(out_, "\n");
  }

  const MapView& view_;
  const MapReport& r_;
  const TableStyle& style_;
  std::FILE* out_;
  std::size_t address_width_ = 7;  // "ADDRESS"
  std::size_t offset_width_ = 6;   // "OFFSET"
  std::size_t note_width_ = 0;     // the longest note name
  int count_width_ = kCountWidth;
  bool not_tracked_shown_ = false;  // "n/t" was used: explain it under the table
};

}  // namespace

void render_map_table(const MapView& view, const TableStyle& style, std::FILE* out) {
  TableWriter(view, style, out).write();
}

}  // namespace pagescan::cli
