#include "census/census_runs.hpp"

#include <algorithm>

namespace pagescan::census {
namespace {

bool small(const KindSpan& span) {
  return span.end - span.start <= kSmallSpanBytes;
}

// No uncounted mapping bigger than a small span overlaps [start, end).
bool gap_is_free(std::uint64_t start, std::uint64_t end,
                 const std::vector<std::pair<std::uint64_t, std::uint64_t>>& uncounted) {
  for (const auto& [s, e] : uncounted) {
    if (s >= end) break;
    if (e > start && e - s > kSmallSpanBytes) return false;
  }
  return true;
}

}  // namespace

std::vector<Run> plan_runs(const std::vector<KindSpan>& spans, bool join_gaps,
                           const std::vector<std::pair<std::uint64_t, std::uint64_t>>& uncounted) {
  std::vector<Run> runs;
  std::uint64_t bytes_without_file = 0;  // of the current run's spans that need no FILE
  for (std::size_t i = 0; i < spans.size(); ++i) {
    const KindSpan& span = spans[i];
    if (!runs.empty()) {
      Run& run = runs.back();
      const std::uint64_t end = spans[run.last - 1].end;
      const bool adjacent =
          span.start == end || (join_gaps && gap_is_free(end, span.start, uncounted));
      const bool same = span.file_matters == run.ask_file;
      const bool rides_along = !span.file_matters && run.ask_file && small(span);
      const bool upgrades =
          span.file_matters && !run.ask_file && bytes_without_file <= kSmallSpanBytes;
      if (adjacent && (same || rides_along || upgrades)) {
        run.last = i + 1;
        run.ask_file = run.ask_file || span.file_matters;
        if (!span.file_matters) bytes_without_file += span.end - span.start;
        continue;
      }
    }
    runs.push_back(Run{i, i + 1, span.file_matters});
    bytes_without_file = span.file_matters ? 0 : span.end - span.start;
  }
  return runs;
}

std::uint64_t stop_after(const std::vector<KindSpan>& spans, const Run& run, std::uint64_t from,
                         std::uint64_t budget) {
  for (std::size_t i = run.first; i < run.last; ++i) {
    if (spans[i].end <= from) continue;
    const std::uint64_t start = std::max(from, spans[i].start);
    if (spans[i].end - start >= budget) return start + budget;
    budget -= spans[i].end - start;
  }
  return spans[run.last - 1].end;
}

}  // namespace pagescan::census
