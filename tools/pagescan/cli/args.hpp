// Parsing the CLI's shared arguments: targets, ranges, numbers. Errors are usage errors
// with one line naming the bad value and what is expected.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "pagescan/process.hpp"
#include "pagescan/result.hpp"

namespace pagescan::cli {

// A usage error (exit 2): "<what>: <why>".
struct UsageError {
  std::string message;
};

template <class T>
struct Parsed {
  std::optional<T> value;
  std::optional<UsageError> error;
};

// "0x7f00" or "4096" (the whole string).
Parsed<std::uint64_t> parse_number(std::string_view text, std::string_view what);

struct AddressRange {
  std::uint64_t start = 0;
  std::uint64_t end = 0;
};
// "START-END".
Parsed<AddressRange> parse_range(std::string_view text);

// "self" or a pid: which process, not yet opened.
struct Target {
  bool self = false;
  pid_t pid = 0;
};
Parsed<Target> parse_target(std::string_view text);

// Opens the target; runtime errors (no such process, permission) are library errors.
Result<Process> open_target(const Target& target);

}  // namespace pagescan::cli
