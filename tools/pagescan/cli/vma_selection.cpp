// --vma NAME|ADDR and the names rows give VMAs (the rule is in vma_selection.hpp).
#include "cli/vma_selection.hpp"

#include <algorithm>
#include <cctype>

#include "cli/output.hpp"
#include "cli/screen_text.hpp"

namespace pagescan::cli {

namespace {

std::string_view file_name(std::string_view path) {
  std::size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

// "libc" names libc.so.6 and libc-2.31.so, not libcap.so.2: a version or suffix may follow.
bool names_file(std::string_view file, std::string_view name) {
  if (file.size() < name.size() || file.substr(0, name.size()) != name) return false;
  return file.size() == name.size() || file[name.size()] == '.' || file[name.size()] == '-';
}

// The paths `text` selects by, per the rule: exact paths, or file names.
bool selects(const MappedRegion& vma, std::string_view text, bool exact) {
  if (vma.path.empty()) return false;
  return exact ? vma.path == text : names_file(file_name(vma.path), text);
}

// "a, b, c" of at most about `room` characters, then "…".
std::string short_list(const std::vector<std::string>& names, std::size_t room) {
  std::string out;
  for (const std::string& n : names) {
    if (!out.empty() && out.size() + n.size() + 2 > room) return out + ", …";
    out += (out.empty() ? "" : ", ") + n;
  }
  return out;
}

// What a process has to choose from, for "no VMA is named so": bracketed names, then the
// file names, each once.
std::vector<std::string> choosable_names(const std::vector<MappedRegion>& vmas) {
  std::vector<std::string> brackets, files;
  for (const MappedRegion& v : vmas) {
    if (v.path.empty()) continue;
    auto& list = v.path.front() == '[' ? brackets : files;
    std::string name(v.path.front() == '[' ? std::string_view(v.path) : file_name(v.path));
    if (std::find(list.begin(), list.end(), name) == list.end()) list.push_back(name);
  }
  brackets.insert(brackets.end(), files.begin(), files.end());
  return brackets;
}

}  // namespace

Parsed<VmaSelector> parse_vma_selector(std::string_view text) {
  if (text.empty()) {
    return {std::nullopt,
            UsageError{"bad --vma '': expected a VMA name (heap, stack, vdso, a file name such "
                       "as libc or a path) or an address in one"}};
  }
  VmaSelector selector{std::string(text), std::nullopt};
  if (std::isdigit(static_cast<unsigned char>(text.front()))) {
    auto address = parse_number(text, "--vma");
    if (!address.value) return {std::nullopt, address.error};
    selector.address = *address.value;
  }
  return {selector, std::nullopt};
}

Parsed<VmaSelection> select_vmas(const VmaSelector& selector, const std::vector<MappedRegion>& vmas,
                                 pid_t pid) {
  const std::string bad = "bad --vma '" + selector.text + "': ";
  auto fail = [](std::string message) {
    return Parsed<VmaSelection>{std::nullopt, UsageError{std::move(message)}};
  };
  if (selector.address) {
    const std::uint64_t a = *selector.address;
    for (std::size_t i = 0; i < vmas.size(); ++i) {
      if (vmas[i].start <= a && a < vmas[i].end) {
        return {VmaSelection{i, i, {vmas[i].start, vmas[i].end}}, std::nullopt};
      }
    }
    return fail(bad + "no VMA of pid " + std::to_string(pid) + " contains " + hex(a));
  }
  // Which rule: an exact path, a bracketed kernel name given bare, or a file name.
  std::string text = selector.text;
  bool exact = text.front() == '[' || text.find('/') != std::string::npos;
  if (!exact && std::any_of(vmas.begin(), vmas.end(),
                            [&](const MappedRegion& v) { return v.path == "[" + text + "]"; })) {
    text = "[" + text + "]";
    exact = true;
  }
  std::vector<std::size_t> matched;
  std::vector<std::string> paths;
  for (std::size_t i = 0; i < vmas.size(); ++i) {
    if (!selects(vmas[i], text, exact)) continue;
    matched.push_back(i);
    if (std::find(paths.begin(), paths.end(), vmas[i].path) == paths.end()) {
      paths.push_back(vmas[i].path);
    }
  }
  if (matched.empty()) {
    return fail(bad + "no VMA of pid " + std::to_string(pid) + " is named so (it has " +
                short_list(choosable_names(vmas), 120) + ")");
  }
  if (paths.size() > 1) {
    std::sort(paths.begin(), paths.end());
    return fail(bad + "it matches " + std::to_string(paths.size()) + " files (" +
                short_list(paths, 160) + "): give more of the name, or the path");
  }
  // Together: every VMA between the first and the last match is a match too.
  for (std::size_t k = 1; k < matched.size(); ++k) {
    if (matched[k] != matched[k - 1] + 1) {
      return fail(bad + "its VMAs lie apart (at " + hex(vmas[matched[k - 1]].start) + " and " +
                  hex(vmas[matched[k]].start) +
                  ", other VMAs between): give an address in the one you want");
    }
  }
  const std::size_t first = matched.front(), last = matched.back();
  return {VmaSelection{first, last, {vmas[first].start, vmas[last].end}}, std::nullopt};
}

UsageError vma_contradicts_range(const std::string& vma, const std::string& range) {
  return UsageError{"--vma '" + vma + "' contradicts --range '" + range +
                    "' (both choose the range: give one)"};
}

std::string vma_name(const MappedRegion& vma) {
  return vma.path.empty() ? "[anon]" : vma.path;
}

std::string short_vma_name(const MappedRegion& vma, std::size_t columns) {
  return shorten_path(vma_name(vma), columns);
}

}  // namespace pagescan::cli
