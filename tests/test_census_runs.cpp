// How the page census groups its spans into runs of kernel calls (census/census_runs.hpp):
// spans that ask the same join; a small span that needs no FILE rides along in a run that
// asks it, a big one does not; gaps join only in a census of the whole process and only
// when no big mapping the census leaves out lies in them; a call's stop counts mapped
// bytes, never the gaps. (That the runs give the same census as a call per mapping is
// checked against the kernel in test_page_census.)
#include <gtest/gtest.h>

#include <cstdint>
#include <tuple>
#include <utility>
#include <vector>

#include "census/census_runs.hpp"

namespace pagescan::test {
namespace {

using census::KindSpan;

constexpr std::uint64_t kKiB = 1024, kMiB = 1024 * kKiB;
const std::vector<std::pair<std::uint64_t, std::uint64_t>> kNothingElse;

KindSpan anon(std::uint64_t start, std::uint64_t bytes) {
  return {start, start + bytes, MappingKind::anon, false, false};
}
KindSpan private_file(std::uint64_t start, std::uint64_t bytes) {
  return {start, start + bytes, MappingKind::file, true, false};
}

// Each run as (first, last, ask_file).
std::vector<std::tuple<std::size_t, std::size_t, bool>> shape(
    const std::vector<census::Run>& runs) {
  std::vector<std::tuple<std::size_t, std::size_t, bool>> out;
  for (const census::Run& r : runs) out.emplace_back(r.first, r.last, r.ask_file);
  return out;
}

TEST(CensusRuns, TouchingSpansThatAskTheSameAreOneRun) {
  const std::vector<KindSpan> spans = {anon(0, kMiB), anon(kMiB, 2 * kMiB)};
  EXPECT_EQ(shape(census::plan_runs(spans, false, kNothingElse)),
            (std::vector<std::tuple<std::size_t, std::size_t, bool>>{{0, 2, false}}));
}

TEST(CensusRuns, ASmallSpanRidesAlongInARunThatAsksFileABigOneDoesNot) {
  // A library's text, its .bss (small), then a heap (big).
  const std::vector<KindSpan> spans = {private_file(0, kMiB), anon(kMiB, 64 * kKiB),
                                       anon(kMiB + 64 * kKiB, 4 * kMiB)};
  EXPECT_EQ(shape(census::plan_runs(spans, false, kNothingElse)),
            (std::vector<std::tuple<std::size_t, std::size_t, bool>>{{0, 2, true}, {2, 3, false}}));
  // A small anonymous span followed by a file mapping: the run turns to asking FILE.
  const std::vector<KindSpan> upgraded = {anon(0, 64 * kKiB), private_file(64 * kKiB, kMiB)};
  EXPECT_EQ(shape(census::plan_runs(upgraded, false, kNothingElse)),
            (std::vector<std::tuple<std::size_t, std::size_t, bool>>{{0, 2, true}}));
  // A big one before it does not.
  const std::vector<KindSpan> big = {anon(0, 4 * kMiB), private_file(4 * kMiB, kMiB)};
  EXPECT_EQ(census::plan_runs(big, false, kNothingElse).size(), 2u);
}

TEST(CensusRuns, GapsJoinOnlyInAWholeProcessCensusAndOnlyWhenNothingBigLiesInThem) {
  const std::vector<KindSpan> spans = {anon(0, kMiB), anon(100 * kMiB, kMiB)};
  EXPECT_EQ(census::plan_runs(spans, false, kNothingElse).size(), 2u) << "a partial census";
  EXPECT_EQ(census::plan_runs(spans, true, kNothingElse).size(), 1u);
  // A [vdso]-sized mapping in the gap is crossed; a big one the census leaves out is not.
  const std::vector<std::pair<std::uint64_t, std::uint64_t>> vdso = {
      {50 * kMiB, 50 * kMiB + 8 * kKiB}};
  EXPECT_EQ(census::plan_runs(spans, true, vdso).size(), 1u);
  const std::vector<std::pair<std::uint64_t, std::uint64_t>> big = {{50 * kMiB, 60 * kMiB}};
  EXPECT_EQ(census::plan_runs(spans, true, big).size(), 2u);
}

TEST(CensusRuns, AStepCountsMappedBytesNotGaps) {
  const std::vector<KindSpan> spans = {anon(0, kMiB), anon(100 * kMiB, 4 * kMiB)};
  const census::Run run{0, 2, false};
  // 2 MiB from the start: the first span's 1 MiB, then 1 MiB of the second.
  EXPECT_EQ(census::stop_after(spans, run, 0, 2 * kMiB), 101 * kMiB);
  // From inside the gap: the second span's first 2 MiB.
  EXPECT_EQ(census::stop_after(spans, run, 50 * kMiB, 2 * kMiB), 102 * kMiB);
  // More than is left: the run's end.
  EXPECT_EQ(census::stop_after(spans, run, 0, 64 * kMiB), 104 * kMiB);
}

}  // namespace
}  // namespace pagescan::test
