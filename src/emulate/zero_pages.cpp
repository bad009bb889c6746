// Learning the PFN of the shared zero page from /proc/kpageflags, without mapping memory.
#include "emulate/zero_pages.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <vector>

#include "feature_probes.hpp"
#include "proc/proc_files.hpp"

namespace pagescan::emulate {

namespace {

// include/uapi/linux/kernel-page-flags.h
constexpr std::uint64_t kKpfZeroPage = 1ull << 24;
// At most this many PFNs of /proc/kpageflags are read (512 KiB): the image is tens of MiB.
constexpr std::uint64_t kMaxPfnsRead = 64 * 1024;

// The first PFN marked KPF_ZERO_PAGE in the kernel image's physical ranges, or 0.
std::uint64_t learn_zero_pfn(std::uint64_t page) {
  auto iomem = proc::read_text_file("/proc/iomem");
  if (!iomem) return 0;
  int flags = ::open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);
  if (flags < 0) return 0;
  std::uint64_t found = 0, budget = kMaxPfnsRead;
  std::vector<std::uint64_t> words;
  std::size_t at = 0;
  while (!found && budget && at < iomem->size()) {
    std::size_t eol = iomem->find('\n', at);
    if (eol == std::string::npos) eol = iomem->size();
    const std::string line = iomem->substr(at, eol - at);
    at = eol + 1;
    unsigned long long lo = 0, hi = 0;
    char name[64] = {};
    // "  01000000-0225b13f : Kernel code"; without root every address reads as 0.
    if (std::sscanf(line.c_str(), " %llx-%llx : %63[^\n]", &lo, &hi, name) != 3) continue;
    if (std::strncmp(name, "Kernel ", 7) != 0 || hi <= lo) continue;
    const std::uint64_t first = lo / page;
    const std::uint64_t count = std::min<std::uint64_t>(hi / page - first + 1, budget);
    budget -= count;
    words.resize(count);
    const auto bytes = static_cast<ssize_t>(count * 8);
    if (::pread(flags, words.data(), static_cast<std::size_t>(bytes),
                static_cast<off_t>(first * 8)) != bytes) {
      continue;
    }
    for (std::uint64_t i = 0; i < count; ++i) {
      if (words[i] & kKpfZeroPage) {
        found = first + i;
        break;
      }
    }
  }
  ::close(flags);
  return found;
}

ZeroPages learn() {
  ZeroPages z;
  const std::uint64_t page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  z.pfns_visible = probe::pfns_visible();
  if (z.pfns_visible) z.zero_pfn = learn_zero_pfn(page);
  return z;
}

}  // namespace

const ZeroPages& zero_pages() {
  static const ZeroPages z = learn();
  return z;
}

}  // namespace pagescan::emulate
