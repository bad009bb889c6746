// Text measured as a terminal shows it (see screen_text.hpp).
#include "cli/screen_text.hpp"

#include <algorithm>

namespace pagescan::cli {

namespace {

bool is_continuation(char c) {
  return (static_cast<unsigned char>(c) & 0xc0) == 0x80;
}

}  // namespace

std::size_t display_columns(std::string_view text) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\x1b' && i + 1 < text.size() && text[i + 1] == '[') {
      // CSI: parameters and intermediates up to the final byte (0x40-0x7e).
      for (i += 2; i < text.size() && !(text[i] >= '@' && text[i] <= '~'); ++i) {
      }
      continue;
    }
    n += !is_continuation(text[i]);
  }
  return n;
}

std::string shorten_path(const std::string& text, std::size_t room) {
  if (display_columns(text) <= room) return text;
  const std::string ellipsis = "…";
  auto boundary = [&](std::size_t at) {  // back to the start of a UTF-8 character
    while (at > 0 && at < text.size() && is_continuation(text[at])) --at;
    return at;
  };
  std::size_t slash = text.rfind('/');
  std::string tail = slash == std::string::npos ? std::string() : text.substr(slash);
  if (tail.empty() || display_columns(tail) + 2 > room) {
    // No room for the name whole: its end, which tells versions and suffixes apart.
    std::size_t keep = room > 1 ? room - 1 : 0, at = text.size();
    while (at > 0 && display_columns(std::string_view(text).substr(at)) < keep) {
      at = boundary(at - 1);
    }
    return ellipsis + text.substr(at);
  }
  std::size_t head = boundary(std::min(text.size(), room - 1 - display_columns(tail)));
  while (head > 0 &&
         display_columns(std::string_view(text).substr(0, head)) + 1 + display_columns(tail) >
             room) {
    head = boundary(head - 1);
  }
  return text.substr(0, head) + ellipsis + tail;
}

}  // namespace pagescan::cli
