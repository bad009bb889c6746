// The values of the CLI's shared arguments: numbers, ranges, targets, screen widths.
#include "cli/arguments.hpp"

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string>
#include <utility>

namespace pagescan::cli {

Parsed<std::uint64_t> parse_number(std::string_view text, std::string_view what) {
  std::string_view digits = text;
  int base = 10;
  if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
    digits.remove_prefix(2);
    base = 16;
  }
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v, base);
  if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size()) {
    std::string why = ec == std::errc::result_out_of_range
                          ? "does not fit in 64 bits"
                          : "expected a number in hex (0x...) or decimal";
    return {std::nullopt,
            UsageError{"bad " + std::string(what) + " '" + std::string(text) + "': " + why}};
  }
  return {v, std::nullopt};
}

Parsed<std::uint64_t> parse_size(std::string_view text, std::string_view what) {
  auto bad = [&] {
    return Parsed<std::uint64_t>{std::nullopt,
                                 UsageError{"bad " + std::string(what) + " '" + std::string(text) +
                                            "': expected a size such as 4096, 64K, 2M or 1G"}};
  };
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, 10);
  if (ec != std::errc() || end == text.data()) return bad();
  std::string unit(end, text.data() + text.size());
  for (char& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  static const std::pair<const char*, int> kUnits[] = {{"", 0},   {"B", 0},  {"K", 10},
                                                       {"M", 20}, {"G", 30}, {"T", 40}};
  for (const auto& [name, shift] : kUnits) {
    std::string n = name;
    if (unit == n || (shift && (unit == n + "B" || unit == n + "IB"))) {
      if (shift && value > (~std::uint64_t{0} >> shift)) return bad();
      return {value << shift, std::nullopt};
    }
  }
  return bad();
}

Parsed<AddressRange> parse_range(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return Parsed<AddressRange>{std::nullopt,
                                UsageError{"bad range '" + std::string(text) + "': " + why}};
  };
  std::size_t dash = text.find('-');
  if (dash == std::string_view::npos || dash == 0 || dash + 1 == text.size()) {
    return bad("expected START-END, e.g. 0x7f0000000000-0x7f0000100000");
  }
  auto start = parse_number(text.substr(0, dash), "range start");
  if (!start.value)
    return bad("start " + start.error->message.substr(start.error->message.find(':') + 2));
  auto end = parse_number(text.substr(dash + 1), "range end");
  if (!end.value) return bad("end " + end.error->message.substr(end.error->message.find(':') + 2));
  if (*end.value < *start.value) return bad("end is before start");
  return {AddressRange{*start.value, *end.value}, std::nullopt};
}

Parsed<Target> parse_target(std::string_view text) {
  if (text == "self") return {Target{true, 0}, std::nullopt};
  std::uint64_t pid = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), pid, 10);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || pid == 0 ||
      pid > 0x3fffffff) {
    return {std::nullopt, UsageError{"bad target '" + std::string(text) +
                                     "': expected a process id (a number > 0) or 'self'"}};
  }
  return {Target{false, static_cast<pid_t>(pid)}, std::nullopt};
}

Result<Process> open_target(const Target& target) {
  return target.self ? Process::self() : Process::attach(target.pid);
}

Parsed<unsigned> parse_width(std::string_view text) {
  auto n = parse_number(text, "--width");
  if (!n.value) return {std::nullopt, n.error};
  if (*n.value < kMinWidth || *n.value > kMaxWidth) {
    return {std::nullopt, UsageError{"bad --width '" + std::string(text) + "': expected " +
                                     std::to_string(kMinWidth) + " to " +
                                     std::to_string(kMaxWidth) + " columns"}};
  }
  return {static_cast<unsigned>(*n.value), std::nullopt};
}

std::string one_of(const std::vector<std::string>& names) {
  std::string text;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i) text += i + 1 == names.size() ? " or " : ", ";
    text += names[i];
  }
  return text;
}

Parsed<double> parse_seconds(std::string_view text, std::string_view option,
                             std::string_view example) {
  const std::string copy(text);
  char* end = nullptr;
  errno = 0;
  const double seconds = copy.empty() ? 0 : std::strtod(copy.c_str(), &end);
  if (copy.empty() || errno != 0 || end != copy.c_str() + copy.size() || !std::isfinite(seconds) ||
      seconds <= 0 || seconds > 86'400 || std::isspace(static_cast<unsigned char>(copy[0]))) {
    return {std::nullopt, UsageError{"bad " + std::string(option) + " '" + copy +
                                     "': expected seconds > 0, e.g. " + std::string(example)}};
  }
  return {seconds, std::nullopt};
}

Parsed<std::uint64_t> parse_count(std::string_view text, std::string_view option,
                                  std::string_view things) {
  auto n = parse_number(text, option);
  if (!n.value) return n;
  if (*n.value == 0) {
    return {std::nullopt, UsageError{"bad " + std::string(option) + " '" + std::string(text) +
                                     "': expected a number of " + std::string(things) + " > 0"}};
  }
  return n;
}

Parsed<pid_t> another_process(const Target& target, std::string_view command) {
  if (target.self) {
    return {std::nullopt, UsageError{"bad target 'self': " + std::string(command) +
                                     " needs another process's id (pagescan cannot trace itself)"}};
  }
  return {target.pid, std::nullopt};
}

}  // namespace pagescan::cli
