// `pagescan map --svg`: the whole address space as one SVG picture.
//
// Layout: one row per VMA in address order. On the left a text label (start address,
// permissions, size, backing); on the right a band of cells, one per page for VMAs of up
// to `cap` pages and `cap` equal stretches for larger ones, each cell coloured by the
// state most of its pages are in (state_of() decides a page's state), or tinted with the
// commonest other state when most of its pages are not present. Unmapped gaps
// between VMAs become a thin row with a break mark and the gap's size, so a 128 TiB
// hole costs 12 pixels. Every VMA is one <g class="vma"> with a <title> (the browser's
// tooltip) holding the full numbers.
//
// Size: a band is a light background rectangle plus one stroked <path> per other state,
// each run of equal cells one relative "m..h.." step, so a file stays near a kilobyte
// per VMA; 1 000 VMAs and 10 GiB stay far below 5 MB. Text comes from file names, which
// may hold any byte but '/' and NUL: it is decoded as UTF-8, anything that is not a
// valid XML character becomes U+FFFD, and markup characters are escaped.
#include <fmt/core.h>

#include <algorithm>
#include <array>
#include <iterator>

#include "cli/output.hpp"
#include "map/map_report.hpp"

namespace pagescan::cli {

namespace {

constexpr int kMargin = 16;
constexpr int kLabelWidth = 560;  // about 84 monospace characters at 11 px
constexpr int kBandX = kMargin + kLabelWidth + 8;
constexpr int kCellWidth = 4;
constexpr int kBandHeight = 10;
constexpr int kRowPitch = 16;
constexpr int kGapPitch = 12;
constexpr std::size_t kPathChars = 46;  // backing text shown in a label
constexpr const char* kSparseLabel = "tint: mostly not present";

// Colours per PageState, in enum order.
constexpr std::array<const char*, kPageStateCount> kColours = {
    "#37474f", "#d32f2f", "#4fc3f7", "#8e24aa", "#fb8c00", "#43a047", "#e0e0e0"};

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

bool xml_char(char32_t cp) {
  return cp == 0x9 || cp == 0xa || cp == 0xd || (cp >= 0x20 && cp <= 0xd7ff) ||
         (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff);
}

// Decodes UTF-8; invalid, overlong and surrogate sequences and non-XML characters
// become U+FFFD.
std::u32string decode(std::string_view text) {
  std::u32string out;
  std::size_t i = 0;
  while (i < text.size()) {
    auto b = static_cast<unsigned char>(text[i]);
    std::size_t len = b < 0x80           ? 1
                      : (b >> 5) == 0x6  ? 2
                      : (b >> 4) == 0xe  ? 3
                      : (b >> 3) == 0x1e ? 4
                                         : 0;
    char32_t cp = len == 1 ? b : len == 2 ? (b & 0x1f) : len == 3 ? (b & 0x0f) : (b & 0x07);
    bool ok = len != 0 && i + len <= text.size();
    for (std::size_t k = 1; ok && k < len; ++k) {
      auto c = static_cast<unsigned char>(text[i + k]);
      ok = (c & 0xc0) == 0x80;
      cp = (cp << 6) | (c & 0x3f);
    }
    static constexpr char32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    ok = ok && cp >= kMin[len] && !(cp >= 0xd800 && cp <= 0xdfff) && xml_char(cp);
    out += ok ? cp : U'\ufffd';
    i += ok ? len : 1;
  }
  return out;
}

std::string escape(std::u32string_view text) {
  std::string out;
  for (char32_t cp : text) {
    switch (cp) {
      case U'&':
        out += "&amp;";
        break;
      case U'<':
        out += "&lt;";
        break;
      case U'>':
        out += "&gt;";
        break;
      case U'"':
        out += "&quot;";
        break;
      case U'\'':
        out += "&apos;";
        break;
      default:
        append_utf8(out, cp);
    }
  }
  return out;
}

std::string escape(std::string_view text) {
  return escape(decode(text));
}

// The last `max` characters, with an ellipsis in front when cut.
std::string shortened(std::string_view text, std::size_t max) {
  std::u32string chars = decode(text);
  if (chars.size() > max) chars = U"\u2026" + chars.substr(chars.size() - (max - 1));
  return escape(chars);
}

class SvgWriter {
 public:
  explicit SvgWriter(const MapReport& r) : r_(r) {}

  std::string write() {
    // Size the picture first: rows and gap rows.
    int height = kTop;
    std::uint64_t previous_end = 0;
    for (const VmaCounts& v : r_.vmas) {
      if (previous_end && v.vma.start > previous_end) height += kGapPitch;
      height += kRowPitch;
      previous_end = v.vma.end;
    }
    height += kMargin;
    const int width = std::max(kBandX + max_cells() * kCellWidth + kMargin, 1000);

    put(R"svg(<?xml version="1.0" encoding="UTF-8"?>)svg"
        "\n");
    put(fmt::format(
        R"svg(<svg xmlns="http://www.w3.org/2000/svg" width="{0}" height="{1}" viewBox="0 0 {0} {1}" font-family="monospace" font-size="11">)svg"
        "\n",
        width, height));
    style();
    put(fmt::format(R"svg(<rect width="{}" height="{}" fill="#ffffff"/>)svg"
                    "\n",
                    width, height));
    header();
    legend();
    int y = kTop;
    previous_end = 0;
    for (std::size_t i = 0; i < r_.vmas.size(); ++i) {
      const VmaCounts& v = r_.vmas[i];
      if (previous_end && v.vma.start > previous_end) {
        gap(y, v.vma.start - previous_end);
        y += kGapPitch;
      }
      vma(i, v, y);
      y += kRowPitch;
      previous_end = v.vma.end;
    }
    put("</svg>\n");
    return std::move(out_);
  }

 private:
  static constexpr int kTop = 118;  // first row, below title, legend and key

  void put(std::string_view text) { out_ += text; }

  int max_cells() const {
    int cells = 16;
    for (const VmaCounts& v : r_.vmas) cells = std::max(cells, static_cast<int>(v.picture.bins()));
    return cells;
  }

  void style() {
    put("<style>\n");
    for (std::size_t s = 0; s < kPageStateCount; ++s) {
      put(fmt::format(".s{}{{stroke:{};stroke-width:{};fill:none}}\n", s, kColours[s],
                      kBandHeight));
    }
    put(".t{fill:#212121}.h{font-family:sans-serif;font-size:15px;font-weight:bold}"
        ".k{fill:#555555}.gap text{fill:#777777;font-style:italic;font-size:10px}"
        ".gap path{stroke:#777777;fill:none}.band{shape-rendering:crispEdges}"
        ".sp{stroke-opacity:0.35}\n");
    put("</style>\n");
    put("<defs><pattern id=\"unscanned\" width=\"4\" height=\"4\" patternUnits=\"userSpaceOnUse\">"
        "<rect width=\"4\" height=\"4\" fill=\"#f5f5f5\"/>"
        "<path d=\"M0 4L4 0\" stroke=\"#9e9e9e\"/></pattern></defs>\n");
  }

  void header() {
    std::uint64_t mapped = 0, present = 0;
    const std::size_t present_column = map_column(Category::present);
    for (const VmaCounts& v : r_.vmas) {
      mapped += v.vma.length();
      present += v.pages[present_column] * r_.page_size;
    }
    put(fmt::format(
        R"svg(<text class="t h" x="{}" y="26">pagescan map · pid {} · {} VMAs · {} mapped · {} present · {} backend</text>)svg"
        "\n",
        kMargin, r_.pid, r_.vmas.size(), human_size(mapped), human_size(present),
        to_string(r_.backend)));
    put(fmt::format(
        R"svg(<text class="k" x="{0}" y="92">One row per VMA in address order: start, permissions, size, backing.</text>)svg"
        "\n"
        R"svg(<text class="k" x="{0}" y="106">Each cell is one page, or 1/{1} of a larger VMA, coloured by the state most of its pages are in (tinted when most are not present); // marks an unmapped gap.</text>)svg"
        "\n",
        kMargin, max_cells()));
  }

  void legend() {
    put("<g id=\"legend\">\n");
    int x = kMargin;
    const int y = 56;
    for (std::size_t s = 0; s < kPageStateCount; ++s) {
      std::string name(label(static_cast<PageState>(s)));
      put(fmt::format(
          R"svg(<rect x="{}" y="{}" width="12" height="12" fill="{}" stroke="#9e9e9e"/><text class="t" x="{}" y="{}">{}</text>)svg"
          "\n",
          x, y, kColours[s], x + 16, y + 10, escape(name)));
      x += 16 + static_cast<int>(name.size()) * 7 + 18;
    }
    put(fmt::format(
        R"svg(<rect x="{}" y="{}" width="12" height="12" fill="{}" fill-opacity="0.35" stroke="#9e9e9e"/><text class="t" x="{}" y="{}">{}</text>)svg"
        "\n",
        x, y, kColours[static_cast<std::size_t>(PageState::present)], x + 16, y + 10,
        kSparseLabel));
    x += 16 + static_cast<int>(std::string_view(kSparseLabel).size()) * 7 + 18;
    put(fmt::format(
        R"svg(<rect x="{}" y="{}" width="12" height="12" fill="url(#unscanned)" stroke="#9e9e9e"/><text class="t" x="{}" y="{}">not scanned</text>)svg"
        "\n",
        x, y, x + 16, y + 10));
    put("</g>\n");
  }

  void gap(int y, std::uint64_t bytes) {
    const int mid = y + kGapPitch / 2;
    put(fmt::format(
        R"svg(<g class="gap"><path d="M{} {}l4 -8M{} {}l4 -8"/><text x="{}" y="{}">{} unmapped</text></g>)svg"
        "\n",
        kBandX, mid + 4, kBandX + 4, mid + 4, kBandX + 14, mid + 4, human_size(bytes)));
  }

  std::string tooltip(const VmaCounts& v) const {
    std::string text =
        fmt::format("{}-{} {} offset {} · {} · {}", hex(v.vma.start), hex(v.vma.end), v.vma.perms,
                    hex(v.vma.offset), human_size(v.vma.length()), backing_text(v.vma));
    if (!v.scanned) return escape(text + " · not scanned: " + v.not_scanned_reason);
    for (std::size_t i = 0; i < kMapColumns; ++i) {
      auto n = shown_count(r_, v, i);
      text += fmt::format("{} {} {}", i ? "," : " ·", to_string(kMapCategories[i]),
                          n                                        ? human_size(*n * r_.page_size)
                          : r_.counted.contains(kMapCategories[i]) ? "not tracked"
                                                                   : "n/a");
    }
    if (v.picture.bins()) {
      std::uint64_t per_cell = v.picture.pages() / v.picture.bins();
      text += fmt::format(" · 1 cell = {} page{}", per_cell, per_cell == 1 ? "" : "s");
    }
    return escape(text);
  }

  void vma(std::size_t index, const VmaCounts& v, int y) {
    put(fmt::format(
        R"svg(<g class="vma" id="vma-{}" data-start="{}" data-end="{}"><title>{}</title>)svg",
        index, hex(v.vma.start), hex(v.vma.end), tooltip(v)));
    std::string text = fmt::format("{:<14} {:<4} {:>10}  ", hex(v.vma.start), v.vma.perms,
                                   human_size(v.vma.length()));
    put(fmt::format(R"svg(<text class="t" x="{}" y="{}" xml:space="preserve">{}{}</text>)svg",
                    kMargin, y + kBandHeight, escape(text),
                    shortened(backing_text(v.vma), kPathChars)));
    const int top = y + 2;
    if (!v.scanned || v.picture.bins() == 0) {
      put(fmt::format(
          R"svg(<rect class="band" x="{}" y="{}" width="{}" height="{}" fill="url(#unscanned)"/>)svg",
          kBandX, top, 16 * kCellWidth, kBandHeight));
      put("</g>\n");
      return;
    }
    const Strip& s = v.picture;
    put(fmt::format(R"svg(<rect class="band" x="{}" y="{}" width="{}" height="{}" fill="{}"/>)svg",
                    kBandX, top, s.bins() * kCellWidth, kBandHeight,
                    kColours[static_cast<std::size_t>(PageState::absent)]));
    // Each cell's dominant state; ties go to the earlier (more specific) state. A cell
    // where "not present" wins but some pages are in another state is drawn in that
    // state's tint: a 10 MiB VMA with a few hundred scattered pages would otherwise look
    // empty. Codes: 0 = background, 1 + state = solid, 1 + kPageStateCount + state = tint.
    std::vector<std::uint8_t> code(s.bins());
    const auto absent = static_cast<std::uint32_t>(PageState::absent);
    for (std::uint32_t b = 0; b < s.bins(); ++b) {
      std::uint32_t best = 0;
      for (std::uint32_t k = 1; k < absent; ++k) {
        if (s.count(b, k) > s.count(b, best)) best = k;
      }
      if (s.count(b, best) == 0) continue;
      bool sparse = s.count(b, absent) > s.count(b, best);
      code[b] = static_cast<std::uint8_t>(1 + best + (sparse ? kPageStateCount : 0));
    }
    const int mid = top + kBandHeight / 2;
    for (std::uint32_t c = 1; c < 1 + 2 * kPageStateCount; ++c) {
      std::string d;
      int pen = 0;  // x where the last run ended, 0 before the first
      for (std::uint32_t b = 0; b < s.bins();) {
        if (code[b] != c) {
          ++b;
          continue;
        }
        std::uint32_t e = b;
        while (e < s.bins() && code[e] == c) ++e;
        const int x = kBandX + static_cast<int>(b) * kCellWidth;
        const int w = static_cast<int>(e - b) * kCellWidth;
        d += pen ? fmt::format("m{} 0h{}", x - pen, w) : fmt::format("M{} {}h{}", x, mid, w);
        pen = x + w;
        b = e;
      }
      if (d.empty()) continue;
      const std::size_t state = (c - 1) % kPageStateCount;
      put(fmt::format(R"svg(<path class="band s{}{}" d="{}"/>)svg", state,
                      c > kPageStateCount ? " sp" : "", d));
    }
    put("</g>\n");
  }

  const MapReport& r_;
  std::string out_;
};

}  // namespace

std::string render_svg(const MapReport& report) {
  return SvgWriter(report).write();
}

}  // namespace pagescan::cli
