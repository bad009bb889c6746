#include "census/census_tally.hpp"

#include <algorithm>
#include <optional>

namespace pagescan::census {
namespace {

std::optional<MappingKind> kind_of(Backing backing) {
  switch (backing) {
    case Backing::heap:
      return MappingKind::heap;
    case Backing::stack:
      return MappingKind::stack;
    case Backing::anonymous:
      return MappingKind::anon;
    case Backing::file:
      return MappingKind::file;
    case Backing::shared_memory:
      return MappingKind::shmem;
    case Backing::special:
      return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace

std::vector<KindSpan> counted_spans(
    const std::vector<proc::Vma>& vmas, const proc::TmpfsDevices& tmpfs,
    std::span<const std::pair<std::uint64_t, std::uint64_t>> ranges) {
  std::vector<KindSpan> out;
  for (const proc::Vma& v : vmas) {
    if (v.pfnmap()) continue;  // never walked (maps lacks VmFlags: [vvar] is special anyway)
    auto kind = kind_of(proc::classify(v, tmpfs));
    if (!kind) continue;
    const bool file_matters = !v.shared() && v.inode != 0, all_file = v.shared();
    if (ranges.empty()) {
      out.push_back({v.start, v.end, *kind, file_matters, all_file});
      continue;
    }
    for (const auto& [start, end] : ranges) {
      const std::uint64_t s = std::max(start, v.start), e = std::min(end, v.end);
      if (s < e) out.push_back({s, e, *kind, file_matters, all_file});
    }
  }
  return out;
}

PageState state_of(Categories c, bool all_file) {
  if (c.contains(Category::guard)) return PageState::guard;
  if (c.contains(Category::swapped)) return PageState::swapped;
  if (!c.contains(Category::present)) return PageState::untouched;
  if (c.contains(Category::pfnzero)) return PageState::zero;
  if (c.contains(Category::huge)) return PageState::huge;
  if (all_file || c.contains(Category::file)) return PageState::file;
  return PageState::present;
}

Tally::Tally(const std::vector<KindSpan>& spans, PageCensus& census)
    : spans_(spans), census_(census) {
  for (const KindSpan& span : spans_) {
    census_.at(span.kind, PageState::untouched) += span.end - span.start;
  }
}

template <typename Fn>
void Tally::each_overlap(std::uint64_t start, std::uint64_t end, Fn&& fn) {
  while (next_ < spans_.size() && spans_[next_].end <= start) ++next_;
  for (std::size_t i = next_; i < spans_.size() && spans_[i].start < end; ++i) {
    const std::uint64_t s = std::max(start, spans_[i].start);
    const std::uint64_t e = std::min(end, spans_[i].end);
    if (s < e) fn(spans_[i], e - s);
  }
}

PageState Tally::left_state(const KindSpan& span, Left left) const {
  if (left == Left::untouched) return PageState::untouched;
  return span.all_file ? PageState::file : PageState::present;
}

std::uint64_t Tally::cover(std::uint64_t from, std::uint64_t to, Left left) {
  std::uint64_t covered = 0;
  each_overlap(from, to, [&](const KindSpan& span, std::uint64_t bytes) {
    covered += bytes;
    if (left == Left::untouched) return;  // where every page already is
    census_.at(span.kind, PageState::untouched) -= bytes;
    census_.at(span.kind, left_state(span, left)) += bytes;
  });
  return covered;
}

void Tally::add(const PageRegion& region, Left left) {
  each_overlap(region.start, region.end, [&](const KindSpan& span, std::uint64_t bytes) {
    census_.at(span.kind, left_state(span, left)) -= bytes;
    census_.at(span.kind, state_of(region.categories, span.all_file)) += bytes;
  });
}

}  // namespace pagescan::census
