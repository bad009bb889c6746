// Keeps transparent huge pages off a watched range while it is watched (thp_guard.hpp).
#include "watch/thp_guard.hpp"

#include <sys/mman.h>

#include <algorithm>

#include "feature_probes.hpp"

namespace pagescan::watch {

// The kernel maps a PMD THP only at a PMD-aligned address, wholly inside one VMA.
bool ThpGuard::could_get_thp(const proc::Vma& v, std::uint64_t lo, std::uint64_t hi,
                             std::string_view thp_mode, std::uint64_t pmd_size) {
  if (thp_mode.empty() || thp_mode == "never" || pmd_size == 0 || lo >= hi) return false;
  if (v.hugetlb()) return false;
  if (!v.has_flag("hg") && !(thp_mode == "always" && !v.has_flag("nh"))) return false;
  const std::uint64_t mask = ~(pmd_size - 1);
  const std::uint64_t first_in_vma = (v.start + pmd_size - 1) & mask;
  const std::uint64_t block = std::max(first_in_vma, lo & mask);  // first one reaching lo
  return block < hi && block + pmd_size <= v.end;
}

ThpGuard ThpGuard::disable(std::uint64_t start, std::uint64_t end,
                           const std::vector<proc::Vma>& vmas) {
  ThpGuard guard;
  const Features& f = probe::thp();
  for (const proc::Vma& v : vmas) {
    const std::uint64_t lo = std::max(start, v.start), hi = std::min(end, v.end);
    if (!could_get_thp(v, lo, hi, f.thp_mode, f.thp_pmd_size)) continue;
    if (::madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_NOHUGEPAGE) == 0) {
      guard.parts_.push_back(Part{lo, hi});
    }
  }
  return guard;
}

ThpGuard ThpGuard::disable(std::uint64_t start, std::uint64_t end) {
  const Features& f = probe::thp();
  if (f.thp_mode.empty() || f.thp_mode == "never" || f.thp_pmd_size == 0) return {};
  // Only the VMAs up to the range: smaps walks the page tables of every VMA it formats.
  auto vmas = proc::read_vmas_below(0, true, end);
  if (!vmas) return {};  // THP stays possible: coarser results, nothing lost
  return disable(start, end, *vmas);
}

ThpGuard& ThpGuard::operator=(ThpGuard&& other) noexcept {
  if (this != &other) {
    restore();
    parts_ = std::exchange(other.parts_, {});
  }
  return *this;
}

void ThpGuard::restore() {
  if (parts_.empty()) return;
  const std::vector<Part> parts = std::exchange(parts_, {});
  // Only where `nh` is still set: memory unmapped and mapped afresh since (or advised
  // otherwise by the application) keeps what it has now.
  auto vmas = proc::read_vmas_below(0, true, parts.back().end);
  for (const Part& p : parts) {
    if (!vmas) {
      ::madvise(reinterpret_cast<void*>(p.start), p.end - p.start, MADV_HUGEPAGE);
      continue;
    }
    for (const proc::Vma& v : *vmas) {
      const std::uint64_t lo = std::max(p.start, v.start), hi = std::min(p.end, v.end);
      if (lo < hi && v.has_flag("nh")) {
        ::madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_HUGEPAGE);
      }
    }
  }
}

}  // namespace pagescan::watch
