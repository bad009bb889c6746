// The page census (pagescan/page_census.hpp) of census_target, a plain program whose parts
// are known: each part's census has exactly the bytes the program gave it, in the one
// (mapping, state) cell it belongs to, with the sparse, dense and adaptive walks alike;
// the adaptive walk turns dense over written pages and stays sparse over a reservation;
// the whole process adds up to its mappings; a twin
// without the parts differs by exactly the parts; a 64 GiB sparse reservation is scanned
// in bounded requests; an exited process is no_such_process.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "census/census_runs.hpp"
#include "pagescan/page_census.hpp"
#include "proc/maps.hpp"
#include "support/census_target.hpp"
#include "support/kernel_facts.hpp"
#include "support/system_settings.hpp"
#include "support/target_process.hpp"
#include "support/temp_dir.hpp"

namespace pagescan::test {
namespace {

const std::uint64_t kPage = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));

std::string describe(const PageCensus& c) {
  std::string out;
  for (MappingKind kind : kAllMappingKinds) {
    for (PageState state : kAllPageStates) {
      if (c.at(kind, state) == 0) continue;
      out += std::string(to_string(kind)) + "/" + std::string(to_string(state)) + "=" +
             std::to_string(c.at(kind, state)) + " ";
    }
  }
  return out.empty() ? "(nothing)" : out;
}

using Range = std::pair<std::uint64_t, std::uint64_t>;
Range range_of(const CensusTarget::Part& part) {
  return {part.start, part.end};
}

PageCensus census_with(const Process& process, CensusOptions options, CensusWalk walk) {
  options.walk = walk;
  auto census = take_census(process, options);
  EXPECT_TRUE(census) << census.error().message();
  return census ? *census : PageCensus{};
}

// The census of one part of the target (or of all of it), taken with each walk: the
// walks differ in what the kernel reports and must agree cell by cell.
PageCensus census_of(pid_t pid, std::span<const Range> ranges) {
  auto process = Process::attach(pid);
  EXPECT_TRUE(process) << process.error().message();
  if (!process) return {};
  CensusOptions options;
  options.ranges = ranges;
  const PageCensus sparse = census_with(*process, options, CensusWalk::sparse);
  const PageCensus dense = census_with(*process, options, CensusWalk::dense);
  const PageCensus adaptive = census_with(*process, options, CensusWalk::adaptive);
  EXPECT_EQ(sparse.dense_calls, 0u);
  EXPECT_EQ(dense.dense_calls, dense.kernel_calls);
  EXPECT_EQ(describe(dense), describe(sparse)) << "the dense walk differs from the sparse one";
  EXPECT_EQ(describe(adaptive), describe(sparse)) << "the adaptive walk differs";
  return sparse;
}
// The census of each range on its own (a census of one range never joins it with
// another in a run), added up.
PageCensus each_range_alone(const Process& process, const std::vector<Range>& ranges,
                            CensusOptions options) {
  PageCensus sum;
  for (const Range& range : ranges) {
    options.ranges = std::span(&range, 1);
    auto one = take_census(process, options);
    EXPECT_TRUE(one) << one.error().message();
    if (one) sum.add(*one);
  }
  return sum;
}
PageCensus census_of(pid_t pid, const CensusTarget::Part& part) {
  const Range range = range_of(part);
  return census_of(pid, std::span(&range, 1));
}

// Every cell of `c` is 0 but (kind, state), which holds `bytes`.
void expect_only(const PageCensus& c, MappingKind kind, PageState state, std::uint64_t bytes) {
  EXPECT_EQ(c.at(kind, state), bytes) << describe(c);
  PageCensus rest = c;
  rest.at(kind, state) = 0;
  EXPECT_EQ(describe(rest), "(nothing)") << "beyond " << to_string(kind) << "/" << to_string(state);
}

// The mapping kind of a file in `dir`: shmem on tmpfs, else file.
MappingKind file_kind(const std::string& dir) {
  return on_tmpfs(dir) ? MappingKind::shmem : MappingKind::file;
}

class PageCensusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PAGESCAN_REQUIRE_FACT(Fact::pagemap_scan);
    ASSERT_TRUE(write_census_file(dir_ / "data", kCensusFilePages));
  }
  TempDir dir_;
};

TEST_F(PageCensusTest, WrittenPagesArePresentAnonymous) {
  CensusTarget t("parts", dir_ / "data");
  ASSERT_GT(t.pid(), 0) << t.error();
  ASSERT_EQ(t.error(), "");
  expect_only(census_of(t.pid(), t.parts().at("written")), MappingKind::anon, PageState::present,
              kCensusWrittenPages * kPage);
}

TEST_F(PageCensusTest, ReadFaultedPagesAreZero) {
  PAGESCAN_REQUIRE_FACT(Fact::zero_page);
  CensusTarget t("parts", dir_ / "data");
  ASSERT_EQ(t.error(), "");
  expect_only(census_of(t.pid(), t.parts().at("zero")), MappingKind::anon, PageState::zero,
              kCensusZeroPages * kPage);
}

TEST_F(PageCensusTest, AReservationIsUntouched) {
  CensusTarget t("parts", dir_ / "data");
  ASSERT_EQ(t.error(), "");
  expect_only(census_of(t.pid(), t.parts().at("untouched")), MappingKind::anon,
              PageState::untouched, kCensusUntouchedPages * kPage);
}

TEST_F(PageCensusTest, AThpIsHuge) {
  PAGESCAN_REQUIRE_FACT(Fact::thp);
  CensusTarget t("parts", dir_ / "data");
  ASSERT_EQ(t.error(), "");
  expect_only(census_of(t.pid(), t.parts().at("thp")), MappingKind::anon, PageState::huge,
              kCensusThpBytes);
}

TEST_F(PageCensusTest, ReadFilePagesAreFile) {
  CensusTarget t("parts", dir_ / "data");
  ASSERT_EQ(t.error(), "");
  expect_only(census_of(t.pid(), t.parts().at("file")), file_kind(dir_.path()), PageState::file,
              kCensusFilePages * kPage);
}

TEST_F(PageCensusTest, PagedOutPagesAreSwapped) {
  SwapSpace swap;
  if (!swap.ok()) GTEST_SKIP() << "no swap: " << swap.why_not();
  CensusTarget t("parts", dir_ / "data");
  ASSERT_EQ(t.error(), "");
  ASSERT_TRUE(t.swapped_ok()) << "MADV_PAGEOUT left some of the target's pages in memory";
  expect_only(census_of(t.pid(), t.parts().at("swapped")), MappingKind::anon, PageState::swapped,
              kCensusSwappedPages * kPage);
}

TEST_F(PageCensusTest, GuardMarkersAreGuard) {
  PAGESCAN_REQUIRE_FACT(Fact::guard_regions);
  PAGESCAN_REQUIRE_FACT(Fact::scan_guard);
  CensusTarget t("parts", dir_ / "data");
  ASSERT_EQ(t.error(), "");
  expect_only(census_of(t.pid(), t.parts().at("guard")), MappingKind::anon, PageState::guard,
              kCensusGuardPages * kPage);
}

// Every page of every counted mapping is in exactly one cell: the cells add up to the
// mappings' sizes (maps read before and after agree, so nothing moved meanwhile).
TEST_F(PageCensusTest, TheWholeProcessAddsUpToItsMappings) {
  CensusTarget t("parts", dir_ / "data");
  ASSERT_EQ(t.error(), "");
  auto mapped = [&] {
    std::uint64_t sum = 0;
    auto vmas = proc::read_vmas(t.pid(), false);
    EXPECT_TRUE(vmas);
    if (vmas) {
      for (const proc::Vma& v : *vmas) sum += v.special() ? 0 : v.end - v.start;
    }
    return sum;
  };
  const std::uint64_t before = mapped();
  const PageCensus census = census_of(t.pid(), std::span<const Range>{});
  ASSERT_EQ(mapped(), before);
  std::uint64_t counted = 0;
  for (PageState state : kAllPageStates) counted += census.total(state);
  EXPECT_EQ(counted, before) << describe(census);
  EXPECT_GE(census.at(MappingKind::anon, PageState::untouched), kCensusUntouchedPages * kPage);
}

// A whole-process census joins mappings into runs across gaps and FILE boundaries
// (census_runs.hpp); a census of each mapping on its own (a partial census never joins
// across mappings) must add up to the same cells.
TEST_F(PageCensusTest, JoinedRunsCountWhatACallPerMappingCounts) {
  CensusTarget t("parts", dir_ / "data");
  ASSERT_EQ(t.error(), "");
  auto process = Process::attach(t.pid());
  ASSERT_TRUE(process);
  auto vmas = proc::read_vmas(t.pid(), false);
  ASSERT_TRUE(vmas);
  auto whole = take_census(*process);
  ASSERT_TRUE(whole) << whole.error().message();
  std::vector<Range> mappings;
  for (const proc::Vma& v : *vmas) mappings.emplace_back(v.start, v.end);
  PageCensus each = each_range_alone(*process, mappings, {});
  ASSERT_EQ(proc::read_vmas(t.pid(), false)->size(), vmas->size()) << "the mappings moved";
  // The stack may differ by a page a deeper call of the target reached: compare the rest.
  for (PageState state : kAllPageStates) each.at(MappingKind::stack, state) = 0;
  PageCensus joined = *whole;
  for (PageState state : kAllPageStates) joined.at(MappingKind::stack, state) = 0;
  EXPECT_EQ(describe(joined), describe(each));
  EXPECT_LT(whole->kernel_calls, each.kernel_calls) << "no run joined two mappings";
}

// A small anonymous mapping right below a private file mapping starts a run that turns
// to asking FILE when it reaches the file (census_runs.hpp): one call, and the file's
// pages still counted as file, as a census of each part on its own counts them.
TEST_F(PageCensusTest, ASmallAnonymousMappingJoinsTheFileMappingAboveIt) {
  CensusTarget t("parts", dir_ / "data");
  ASSERT_EQ(t.error(), "");
  const Range below = range_of(t.parts().at("swapped")), file = range_of(t.parts().at("file"));
  // census_target maps its parts in turn, each below the last: swapped right below file.
  ASSERT_EQ(below.second, file.first) << "census_target's layout changed";
  ASSERT_LE(below.second - below.first, census::kSmallSpanBytes);
  auto process = Process::attach(t.pid());
  ASSERT_TRUE(process);
  CensusOptions options;
  options.walk = CensusWalk::sparse;
  const std::vector<Range> both = {below, file};
  options.ranges = both;
  auto joined = take_census(*process, options);
  ASSERT_TRUE(joined) << joined.error().message();
  EXPECT_EQ(joined->kernel_calls, 1u);
  const PageCensus each = each_range_alone(*process, both, options);
  EXPECT_EQ(describe(*joined), describe(each));
  EXPECT_EQ(joined->at(file_kind(dir_.path()), PageState::file), kCensusFilePages * kPage);
}

// The exporter's end-to-end test compares the process with its blank twin: the twin must
// differ by exactly the parts, in every (mapping, state) cell of the anonymous and file
// mappings (the stack may differ by the page a deeper call reached).
TEST_F(PageCensusTest, ATwinWithoutThePartsDiffersByExactlyTheParts) {
  PAGESCAN_REQUIRE_FACT(Fact::zero_page);
  PAGESCAN_REQUIRE_FACT(Fact::thp);
  PAGESCAN_REQUIRE_FACT(Fact::guard_regions);
  SwapSpace swap;
  if (!swap.ok()) GTEST_SKIP() << "no swap: " << swap.why_not();
  CensusTarget parts("parts", dir_ / "data");
  CensusTarget blank("blank", dir_ / "data");
  ASSERT_EQ(parts.error(), "");
  ASSERT_EQ(blank.error(), "");
  ASSERT_TRUE(parts.swapped_ok());
  auto p = Process::attach(parts.pid());
  auto b = Process::attach(blank.pid());
  ASSERT_TRUE(p && b);
  auto with = take_census(*p);
  auto without = take_census(*b);
  ASSERT_TRUE(with && without);
  const MappingKind fk = file_kind(dir_.path());
  auto diff = [&](MappingKind k, PageState s) {
    return static_cast<std::int64_t>(with->at(k, s)) - static_cast<std::int64_t>(without->at(k, s));
  };
  const auto bytes = [](std::uint64_t pages) { return static_cast<std::int64_t>(pages * kPage); };
  EXPECT_EQ(diff(MappingKind::anon, PageState::present), bytes(kCensusWrittenPages));
  EXPECT_EQ(diff(MappingKind::anon, PageState::zero), bytes(kCensusZeroPages));
  EXPECT_EQ(diff(MappingKind::anon, PageState::untouched), bytes(kCensusUntouchedPages));
  EXPECT_EQ(diff(MappingKind::anon, PageState::huge), static_cast<std::int64_t>(kCensusThpBytes));
  EXPECT_EQ(diff(MappingKind::anon, PageState::swapped), bytes(kCensusSwappedPages));
  EXPECT_EQ(diff(MappingKind::anon, PageState::guard), bytes(kCensusGuardPages));
  EXPECT_EQ(diff(MappingKind::anon, PageState::file), 0);
  EXPECT_EQ(diff(fk, PageState::file), bytes(kCensusFilePages));
  EXPECT_EQ(diff(MappingKind::heap, PageState::present), 0);
  EXPECT_EQ(diff(MappingKind::file, PageState::untouched), 0) << describe(*with) << "\n"
                                                              << describe(*without);
}

// A 64 GiB sparse reservation (as sanitizers make) is scanned in bounded calls: at most
// max_grown_range_bytes each (the steps grow from max_range_bytes while calls are cheap),
// and counts whole as untouched.
TEST_F(PageCensusTest, ASparseReservationIsScannedInBoundedCalls) {
  TargetProcess target({"writer"});
  ASSERT_GT(target.pid(), 0) << target.error();
  ASSERT_TRUE(target.send("reserve 64"));
  std::string mapped = target.read_line();
  ASSERT_EQ(mapped.rfind("mapped ", 0), 0u) << mapped;
  ASSERT_EQ(target.read_line(), "done");
  const std::uint64_t start = std::stoull(mapped.substr(7), nullptr, 16);
  const std::pair<std::uint64_t, std::uint64_t> range{start, start + (64ull << 30)};
  auto process = Process::attach(target.pid());
  ASSERT_TRUE(process);
  CensusOptions options;
  options.ranges = std::span(&range, 1);
  auto census = take_census(*process, options);
  ASSERT_TRUE(census) << census.error().message();
  EXPECT_EQ(census->at(MappingKind::anon, PageState::untouched), 64ull << 30) << describe(*census);
  EXPECT_EQ(census->dense_calls, 0u) << "the adaptive walk reported empty entries";
  // The first call covers 2 MiB. With every call cheap the steps then double up to
  // max_range_bytes, with none after the first max_range_bytes each: the most calls
  // there can be with steps held at max_range_bytes, and the fewest.
  constexpr std::uint64_t kSize = 64ull << 30, kFirst = 2u << 20;
  std::uint64_t most = 0;
  for (std::uint64_t covered = 0, step = kFirst; covered < kSize; ++most) {
    covered += step;
    step = std::min(2 * step, options.max_range_bytes);
  }
  const std::uint64_t fewest =
      1 + (kSize - kFirst + options.max_range_bytes - 1) / options.max_range_bytes;
  EXPECT_GE(census->kernel_calls, kSize / options.max_grown_range_bytes);
  EXPECT_LE(census->kernel_calls, most);
  // With the steps held at max_range_bytes: one call per step.
  options.max_grown_range_bytes = options.max_range_bytes;
  census = take_census(*process, options);
  ASSERT_TRUE(census);
  EXPECT_GE(census->kernel_calls, fewest);
  EXPECT_LE(census->kernel_calls, most);
}

// A call cut short by max_pages (or a full buffer) goes on where it stopped: every page
// counted once, whichever entries the calls report.
TEST_F(PageCensusTest, CallsCutByThePageBudgetOrTheBufferResume) {
  CensusTarget t("parts", dir_ / "data");
  ASSERT_EQ(t.error(), "");
  auto process = Process::attach(t.pid());
  ASSERT_TRUE(process);
  CensusOptions options;
  options.max_pages = 16;
  // The sparse walk reports the written pages, 16 a call.
  const Range range = range_of(t.parts().at("written"));
  options.ranges = std::span(&range, 1);
  PageCensus census = census_with(*process, options, CensusWalk::sparse);
  expect_only(census, MappingKind::anon, PageState::present, kCensusWrittenPages * kPage);
  EXPECT_EQ(census.kernel_calls, kCensusWrittenPages / 16);
  // The dense walk reports the untouched pages of a reservation, 16 a call.
  const Range empty = range_of(t.parts().at("untouched"));
  options.ranges = std::span(&empty, 1);
  census = census_with(*process, options, CensusWalk::dense);
  expect_only(census, MappingKind::anon, PageState::untouched, kCensusUntouchedPages * kPage);
  EXPECT_EQ(census.kernel_calls, kCensusUntouchedPages / 16);
  // A buffer of one region over two parts whose pages differ (written, read): every call
  // that reports both is cut by the buffer and resumed.
  options.max_pages = 0;
  options.chunk_regions = 1;
  std::vector<Range> two = {range, range_of(t.parts().at("zero"))};
  std::sort(two.begin(), two.end());
  options.ranges = two;
  for (CensusWalk walk : {CensusWalk::sparse, CensusWalk::dense}) {
    census = census_with(*process, options, walk);
    EXPECT_EQ(census.total(PageState::present) + census.total(PageState::zero),
              (kCensusWrittenPages + kCensusZeroPages) * kPage)
        << describe(census);
    EXPECT_GE(census.kernel_calls, 2u);
  }
}

// The adaptive walk asks each call for the fewer entries, judged by the call before: over
// written pages it turns dense after its first call, over a reservation it stays sparse.
TEST_F(PageCensusTest, TheAdaptiveWalkAsksForTheFewerEntries) {
  CensusTarget t("parts", dir_ / "data");
  ASSERT_EQ(t.error(), "");
  auto process = Process::attach(t.pid());
  ASSERT_TRUE(process);
  CensusOptions options;
  options.max_pages = 16;  // the first (sparse) call stops after 16 written pages
  const Range range = range_of(t.parts().at("written"));
  options.ranges = std::span(&range, 1);
  PageCensus census = census_with(*process, options, CensusWalk::adaptive);
  expect_only(census, MappingKind::anon, PageState::present, kCensusWrittenPages * kPage);
  EXPECT_EQ(census.kernel_calls, 2u) << "a sparse call of 16 pages, then one dense call";
  EXPECT_EQ(census.dense_calls, 1u);
  const Range empty = range_of(t.parts().at("untouched"));
  options.ranges = std::span(&empty, 1);
  census = census_with(*process, options, CensusWalk::adaptive);
  expect_only(census, MappingKind::anon, PageState::untouched, kCensusUntouchedPages * kPage);
  EXPECT_EQ(census.dense_calls, 0u);
}

TEST_F(PageCensusTest, AnExitedProcessIsNoSuchProcess) {
  CensusTarget t("parts", dir_ / "data");
  ASSERT_EQ(t.error(), "");
  auto process = Process::attach(t.pid());
  ASSERT_TRUE(process);
  t.close_input();
  t.wait_exit();
  auto census = take_census(*process);
  ASSERT_FALSE(census);
  EXPECT_EQ(census.error().kind(), ErrorKind::no_such_process) << census.error().message();
}

}  // namespace
}  // namespace pagescan::test
