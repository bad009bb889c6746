// `pagescan scan` as a table: one row per region and a totals line, fitted to the screen.
//
// Columns are as wide as their widest value (an x86-64 address is 14 characters, not
// 18), so START END PAGES SIZE take about 45 columns; --with-vma's VMA column gets at
// most a quarter of the width, and the categories wrap at commas within what is left.
#include <fmt/core.h>

#include <algorithm>

#include "cli/output.hpp"
#include "cli/screen_text.hpp"
#include "cli/vma_selection.hpp"
#include "scan/scan_report.hpp"

namespace pagescan::cli {

namespace {

struct Widths {
  std::size_t address = 5;  // "START"
  std::size_t pages = 5;    // "PAGES"
  std::size_t size = 4;     // "SIZE"
  std::size_t vma = 0;      // 0: no VMA column
};

// Room the categories keep before the VMA column takes any: "written,file,present".
constexpr std::size_t kCategoriesRoom = 20;

Widths measure(const ScanReport& r, unsigned width, const std::vector<std::string>& names) {
  Widths w;
  for (const PageRegion& region : r.result.regions) {
    w.address = std::max({w.address, hex(region.start).size(), hex(region.end).size()});
    w.pages = std::max(w.pages, std::to_string(region.pages(r.page_size)).size());
    w.size = std::max(w.size, human_size(region.length()).size());
  }
  if (r.with_vma) {
    w.vma = 3;  // "VMA"
    for (const std::string& n : names) w.vma = std::max(w.vma, display_columns(n));
    const std::size_t used = w.address * 2 + w.pages + w.size + 5 + 2 + kCategoriesRoom;
    const std::size_t room = width > used ? width - used : 0;
    w.vma = std::min(w.vma, std::max<std::size_t>(room, 8));
  }
  return w;
}

// The parts joined by " · ", a new line where the next would pass `width`.
std::string fit_parts(const std::vector<std::string>& parts, unsigned width) {
  std::string out;
  std::size_t line = 0;
  for (const std::string& part : parts) {
    const std::size_t n = display_columns(part);
    if (line == 0) {
      out += part;
      line = n;
    } else if (line + 3 + n > width) {
      out += "\n" + part;
      line = n;
    } else {
      out += " · " + part;
      line += 3 + n;
    }
  }
  return out;
}

}  // namespace

void render_table(const ScanReport& r, bool colour, unsigned width, std::FILE* out) {
  const ScanResult& s = r.result;
  fmt::print(
      out, "{}\n",
      fit_parts(
          {"pid " + std::to_string(r.pid), fmt::format("{} backend", to_string(s.backend)),
           "[" + hex(r.start) + "-" + hex(r.end) + ")", "page size " + human_size(r.page_size)},
          width));
  if (!s.approximate.empty()) {
    fmt::print(
        out, "{}\n",
        wrap_words("approximate (emulated without full information): " + to_string(s.approximate),
                   0, width));
  }
  std::vector<std::string> names;  // --with-vma: each row's VMA, before shortening
  for (std::size_t i = 0; r.with_vma && i < s.regions.size(); ++i) {
    names.push_back(r.region_vma[i] == kNoVma ? "?" : vma_name(r.vmas[r.region_vma[i]]));
  }
  const Widths w = measure(r, width, names);
  const std::size_t categories_at = w.address * 2 + w.pages + w.size + 5 + (w.vma ? w.vma + 2 : 0);
  auto vma_cell = [&](const std::string& text) {
    return w.vma ? fmt::format("{}{}  ", text, std::string(w.vma - display_columns(text), ' '))
                 : std::string();
  };
  fmt::print(out, "{}{:<{}} {:<{}} {:>{}} {:>{}}  {}CATEGORIES{}\n", colour ? "\x1b[1m" : "",
             "START", w.address, "END", w.address, "PAGES", w.pages, "SIZE", w.size,
             vma_cell(w.vma ? "VMA" : ""), colour ? "\x1b[0m" : "");
  for (std::size_t i = 0; i < s.regions.size(); ++i) {
    const PageRegion& region = s.regions[i];
    std::string cats = to_string(region.categories);
    std::string vma;
    if (w.vma) {
      vma = r.region_vma[i] == kNoVma ? "?" : short_vma_name(r.vmas[r.region_vma[i]], w.vma);
    }
    fmt::print(out, "{:<{}} {:<{}} {:>{}} {:>{}}  {}{}\n", hex(region.start), w.address,
               hex(region.end), w.address, region.pages(r.page_size), w.pages,
               human_size(region.length()), w.size, vma_cell(vma),
               wrap_words(cats.empty() ? "-" : cats, categories_at, width));
  }
  std::string total = fmt::format("total: {} region{}, {} page{} ({})", s.regions.size(),
                                  s.regions.size() == 1 ? "" : "s", s.pages,
                                  s.pages == 1 ? "" : "s", human_size(s.pages * r.page_size));
  total += s.stop_reason == StopReason::complete ? "; complete" : "; stopped at max-pages";
  fmt::print(out, "{}\n", wrap_words(total, 0, width));
  if (s.stop_reason != StopReason::complete) {  // on a line of its own: it fits 80 columns
    fmt::print(out, "resume at {} (--range {}-{})\n", hex(s.walk_end), hex(s.walk_end), hex(r.end));
  }
  if (r.untracked_written_pages.value_or(0) > 0) {
    const std::uint64_t n = *r.untracked_written_pages;
    fmt::print(out, "{}\n",
               wrap_words(fmt::format("note: {} of the written page{} lie in VMAs no one tracks "
                                      "(not registered for userfaultfd write-protect), where the "
                                      "kernel reports every page as written: there, written "
                                      "does not mean the page was written to.",
                                      n, n == 1 ? "" : "s"),
                          0, width));
  }
}

}  // namespace pagescan::cli
