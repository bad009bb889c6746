// The values `pagescan dump` takes beyond the shared ones: the output name with its %n
// placeholder, the coredump_filter mask, and where a core may be written.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "cli/arguments.hpp"
#include "pagescan/result.hpp"

namespace pagescan::cli {

// -o FILE: a file name in which "%n" is the dump's number (1, 2, ...) and "%%" a '%'.
class OutputName {
 public:
  // Errors: "-" (a core is a file with holes renamed into place, never a stream), an
  // empty name, a '%' that starts neither placeholder.
  static Parsed<OutputName> parse(std::string_view text);
  // The file name of dump `number`.
  std::string for_dump(std::uint64_t number) const;
  // Whether dumps get names of their own (else each replaces the last).
  bool numbered() const { return numbered_; }

 private:
  std::string text_;
  bool numbered_ = false;
};

// --filter HEX: "33", "0x33" (core(5) coredump_filter bits 0-8).
Parsed<std::uint32_t> parse_coredump_filter(std::string_view text);

// Whether a core can be written at `path` before the target is touched: an existing
// path must be a regular file (usage error otherwise, naming what it is), and its
// directory must exist and be writable (kernel_failure naming the directory and errno).
struct OutputCheck {
  std::optional<UsageError> usage;
  std::optional<Error> error;
};
OutputCheck check_output_path(const std::string& path);

}  // namespace pagescan::cli
