// Category names, printing and parsing of comma lists such as "present,!file".
#include "pagescan/categories.hpp"

#include <cctype>
#include <cerrno>
#include <cstdio>

namespace pagescan {

std::string_view to_string(Category category) {
  switch (category) {
    case Category::wpallowed:
      return "wpallowed";
    case Category::written:
      return "written";
    case Category::file:
      return "file";
    case Category::present:
      return "present";
    case Category::swapped:
      return "swapped";
    case Category::pfnzero:
      return "pfnzero";
    case Category::huge:
      return "huge";
    case Category::soft_dirty:
      return "soft-dirty";
    case Category::guard:
      return "guard";
  }
  return "?";
}

std::string to_string(Categories categories) {
  std::string out;
  for (Category c : kAllCategories) {
    if (!categories.contains(c)) continue;
    if (!out.empty()) out += ',';
    out += to_string(c);
  }
  if (!categories.unknown().empty()) {
    char hex[32];
    std::snprintf(hex, sizeof hex, "0x%llx",
                  static_cast<unsigned long long>(categories.unknown().bits()));
    if (!out.empty()) out += ',';
    out += hex;
  }
  return out;
}

static std::string valid_names() {
  std::string names;
  for (Category c : kAllCategories) {
    if (!names.empty()) names += ", ";
    names += to_string(c);
  }
  return names;
}

static std::string normalise(std::string_view name) {
  std::string out;
  for (char ch : name) {
    char lower = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    out += lower == '_' ? '-' : lower;
  }
  return out;
}

Result<Category> parse_category(std::string_view name) {
  std::string wanted = normalise(name);
  for (Category c : kAllCategories) {
    if (to_string(c) == wanted) return c;
  }
  return Error(
      EINVAL, ErrorKind::invalid_argument,
      "unknown category '" + std::string(name) + "' (expected one of: " + valid_names() + ")");
}

static std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

Result<CategoryFilter> parse_category_filter(std::string_view list) {
  CategoryFilter filter;
  std::string_view rest = list;
  if (trim(rest).empty()) {
    return Error(EINVAL, ErrorKind::invalid_argument,
                 "empty category list (expected names such as present,!file)");
  }
  while (true) {
    std::size_t comma = rest.find(',');
    std::string_view item = trim(rest.substr(0, comma));
    bool inverted = !item.empty() && item.front() == '!';
    if (inverted) item = trim(item.substr(1));
    if (item.empty()) {
      return Error(EINVAL, ErrorKind::invalid_argument,
                   "empty element in category list '" + std::string(list) + "'");
    }
    if (normalise(item) == "all") {
      if (inverted) {
        return Error(EINVAL, ErrorKind::invalid_argument,
                     "'!all' in category list '" + std::string(list) +
                         "' (invert single categories instead)");
      }
      filter.set |= Categories::all_known();
    } else {
      auto category = parse_category(item);
      if (!category) return category.error();
      (inverted ? filter.clear : filter.set) |= *category;
    }
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  Categories both = filter.set & filter.clear;
  if (!both.empty()) {
    return Error(EINVAL, ErrorKind::invalid_argument,
                 "category list '" + std::string(list) + "' names " + to_string(both) +
                     " both plain and inverted");
  }
  return filter;
}

Result<Categories> parse_categories(std::string_view list) {
  auto filter = parse_category_filter(list);
  if (!filter) return filter.error();
  if (!filter->clear.empty()) {
    return Error(EINVAL, ErrorKind::invalid_argument,
                 "category list '" + std::string(list) + "' may not invert (" +
                     to_string(filter->clear) + "): expected plain names");
  }
  return filter->set;
}

}  // namespace pagescan
