// Fuzzes the CLI's parsers (category lists, ranges, targets, numbers) and the library's
// category-list parser: no crash, and every accepted value round-trips.
#include <cstdlib>
#include <string>
#include <string_view>

#include "cli/arguments.hpp"
#include "pagescan/categories.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto filter = pagescan::parse_category_filter(text)) {
    if (filter->set.intersects(filter->clear)) std::abort();
    // Printing and parsing the set again gives the same set.
    std::string printed = pagescan::to_string(filter->set);
    if (!printed.empty()) {
      auto again = pagescan::parse_categories(printed);
      if (!again || *again != filter->set) std::abort();
    }
  }
  auto range = pagescan::cli::parse_range(text);
  if (range.value && range.value->end < range.value->start) std::abort();
  if (!range.value && (!range.error || range.error->message.empty())) std::abort();
  auto target = pagescan::cli::parse_target(text);
  if (target.value && !target.value->self && target.value->pid <= 0) std::abort();
  auto number = pagescan::cli::parse_number(text, "number");
  if (number.value) {
    // Accepted text is all digits (after an optional 0x).
    std::string_view digits = text;
    if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
      digits.remove_prefix(2);
    }
    for (char c : digits) {
      if (!std::isxdigit(static_cast<unsigned char>(c))) std::abort();
    }
  }
  return 0;
}
