// Fuzzes the /proc/PID/maps and smaps parser: any text parses or fails cleanly, and what
// parses is consistent (start <= end, flags are two-letter codes).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "proc/maps.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto vmas = pagescan::proc::parse_maps(text);
  if (!vmas) return 0;
  for (const auto& v : *vmas) {
    if (v.start > v.end) std::abort();
    for (const auto& f : v.vm_flags) {
      if (f.empty() || f.find(' ') != std::string::npos) std::abort();
    }
    (void)v.private_anonymous();
    (void)v.special();
  }
  return 0;
}
