// Shared output helpers: error lines, exit codes, human units, hex addresses.
#include "output.hpp"

#include <fmt/core.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace pagescan::cli {

int report_usage(const UsageError& error) {
  fmt::print(stderr, "pagescan: {}\n", error.message);
  return kExitUsage;
}

int report_error(const Error& error) {
  fmt::print(stderr, "pagescan: {}\n", error.message());
  return error.kind() == ErrorKind::invalid_argument ? kExitUsage : kExitRuntime;
}

std::string human_size(std::uint64_t bytes) {
  static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024) return fmt::format("{} B", bytes);
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 6) {
    v /= 1024;
    ++u;
  }
  return fmt::format("{:.1f} {}", v, units[u]);
}

std::string hex(std::uint64_t value) {
  return fmt::format("0x{:x}", value);
}

bool use_colour() {
  // https://no-color.org: set and not empty disables colour. TERM=dumb has no escapes.
  const char* no_colour = std::getenv("NO_COLOR");
  const char* term = std::getenv("TERM");
  return ::isatty(STDOUT_FILENO) && !(no_colour && *no_colour) &&
         !(term && std::string_view(term) == "dumb");
}

}  // namespace pagescan::cli
