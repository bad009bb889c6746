// Scans racing a changing target: an address space that maps, unmaps, mprotects and
// mremaps while scan() and scan_each() read it, on both backends, from another process
// and from a thread of the scanning process; and targets that exit in the middle of a scan.
//
// What a scan of a changing address space may answer (scan.hpp): each kernel call sees a
// consistent page table under the mmap lock, but the complete scan is several calls, and
// the emulator reads smaps once and pagemap later. So the regions need not be one moment's
// picture; they must still be sorted, disjoint, inside the request and within pages that
// were mapped at some moment during the scan (race_churn.hpp keeps the log that says
// which). The contract lists the errors a scan may return; for a live target none of them
// applies (the request is valid and supported, the target is ours and alive), so every
// scan must succeed. For a target that exits, the only admissible error is
// no_such_process, and a success must be the whole, unchanged layout.
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "pagescan/features.hpp"
#include "pagescan/scan.hpp"
#include "support/kernel_facts.hpp"
#include "support/race_address_space.hpp"
#include "support/race_churn.hpp"
#include "support/race_exiting_target.hpp"
#include "support/scan_helpers.hpp"

using namespace pagescan;
using namespace pagescan::test;

namespace {

using Clock = std::chrono::steady_clock;

std::string hex(std::uint64_t v) {
  std::ostringstream s;
  s << "0x" << std::hex << v;
  return s.str();
}

std::string describe(const ScanRequest& r, const ScanOptions& o, bool streaming) {
  std::ostringstream s;
  s << (streaming ? "scan_each" : "scan") << " [" << hex(r.start) << "-" << hex(r.end)
    << ") mask=" << to_string(r.category_mask) << " inverted=" << to_string(r.category_inverted)
    << " anyof=" << to_string(r.category_anyof_mask) << " return=" << to_string(r.return_mask)
    << " max_pages=" << r.max_pages << " chunk=" << o.chunk_regions;
  return s.str();
}

// Every category the running kernel's scan reports (the emulator reports the same set).
Categories reportable() {
  return accepted_scan_categories() & ~Categories(Category::soft_dirty);
}

// A random request over a random part of [lo, hi).
ScanRequest random_request(std::mt19937_64& rng, std::uint64_t lo, std::uint64_t hi) {
  const std::uint64_t page = page_size(), pages = (hi - lo) / page;
  std::uint64_t a = 0, b = pages;
  if (rng() % 2) {  // a sub-range half the time
    a = rng() % pages;
    b = a + 1 + rng() % (pages - a);
  }
  ScanRequest r = ScanRequest::over(lo + a * page, lo + b * page);
  switch (rng() % 5) {
    case 0:
      break;  // every page of every VMA in range
    case 1:
      r.all_of(Category::present);
      break;
    case 2:
      r.none_of(Category::present);
      break;
    case 3:
      r.any_of(Category::present | Category::file);
      break;
    default:
      r.all_of(Category::written).none_of(Category::file);
      break;
  }
  static const Categories kReturns[] = {reportable(), Category::present,
                                        Category::present | Category::file, Categories{}};
  r.return_mask = kReturns[rng() % 4] & reportable();
  if (rng() % 5 == 0) r.max_pages = 1 + rng() % 64;
  return r;
}

// The checks every answer must pass, however the target changed during the scan: see the
// file comment. `merged`: scan() joins adjacent regions with equal categories (one
// unbounded kernel call would have), scan_each() delivers each call's regions as they come.
testing::AssertionResult consistent(const std::vector<PageRegion>& regions, const ScanRequest& r,
                                    std::uint64_t arena, const std::vector<char>& mapped,
                                    bool merged) {
  const std::uint64_t page = page_size();
  const Categories must = r.category_mask & r.return_mask;
  for (std::size_t i = 0; i < regions.size(); ++i) {
    const PageRegion& g = regions[i];
    auto fail = [&] {
      return testing::AssertionFailure()
             << "region " << i << " of " << regions.size() << " [" << hex(g.start) << "-"
             << hex(g.end) << ") " << to_string(g.categories) << ": ";
    };
    if (g.start % page || g.end % page || g.start >= g.end) return fail() << "malformed";
    if (g.start < r.start || g.end > r.end) return fail() << "outside the scanned range";
    if (i > 0 && g.start < regions[i - 1].end) {
      return fail() << "overlaps or precedes the previous region (ending "
                    << hex(regions[i - 1].end) << ")";
    }
    if (merged && i > 0 && g.start == regions[i - 1].end &&
        g.categories == regions[i - 1].categories) {
      return fail() << "continues the previous region with equal categories: not merged";
    }
    if (!r.return_mask.contains(g.categories)) return fail() << "categories outside return_mask";
    if (((g.categories ^ r.category_inverted) & must) != must) {
      return fail() << "does not match the request's required categories";
    }
    for (std::uint64_t a = g.start; a < g.end; a += page) {
      if (!mapped[(a - arena) / page]) {
        return fail() << "page " << hex(a) << " was not mapped at any moment during the scan";
      }
    }
  }
  return testing::AssertionSuccess();
}

std::uint64_t pages_in(const std::vector<PageRegion>& regions) {
  std::uint64_t n = 0;
  for (const PageRegion& g : regions) n += g.pages(page_size());
  return n;
}

// The summary agrees with the regions and says how the walk ended.
testing::AssertionResult summary_agrees(const ScanSummary& s, const std::vector<PageRegion>& got,
                                        const ScanRequest& r) {
  if (s.region_count != got.size()) {
    return testing::AssertionFailure()
           << "region_count " << s.region_count << " for " << got.size() << " regions";
  }
  if (s.pages != pages_in(got)) {
    return testing::AssertionFailure() << "pages " << s.pages << " for " << pages_in(got);
  }
  switch (s.stop_reason) {
    case StopReason::complete:
      if (s.walk_end != r.end) {
        return testing::AssertionFailure() << "complete with walk_end " << hex(s.walk_end);
      }
      if (r.max_pages && s.pages > r.max_pages) {
        return testing::AssertionFailure() << s.pages << " pages beyond max_pages";
      }
      break;
    case StopReason::max_pages:
      if (!r.max_pages || s.pages != r.max_pages) {
        return testing::AssertionFailure() << "max_pages stop with " << s.pages << " pages";
      }
      if (s.walk_end > r.end || (!got.empty() && s.walk_end < got.back().end)) {
        return testing::AssertionFailure() << "max_pages stop at " << hex(s.walk_end);
      }
      break;
    case StopReason::stopped_by_caller:
      return testing::AssertionFailure() << "stopped_by_caller though the sink never stopped";
  }
  return testing::AssertionSuccess();
}

// ---- 1. a target that churns its address space while it is scanned ----

enum class ChurnIn { child, thread };

struct ChurnCase {
  ChurnIn where;
  BackendChoice backend;
};

std::string churn_case_label(const ChurnCase& c) {
  std::string name = c.where == ChurnIn::child ? "ChildProcess" : "Thread";
  return name + (c.backend == BackendChoice::kernel ? "Kernel" : "Emulated");
}

std::string churn_case_name(const testing::TestParamInfo<ChurnCase>& info) {
  return churn_case_label(info.param);
}

class ScanRacingChurn : public testing::TestWithParam<ChurnCase> {};

TEST_P(ScanRacingChurn, AnswersAreSortedDisjointAndInsideMappingsOfTheScan) {
  const ChurnCase c = GetParam();
  if (c.backend == BackendChoice::kernel) PAGESCAN_SKIP_WITHOUT_SCAN();
  const std::uint64_t seed = 0x5ca1ab1e + static_cast<std::uint64_t>(c.where) * 2 +
                             (c.backend == BackendChoice::kernel ? 0 : 1);
  std::mt19937_64 rng(seed);
  Churner churner(512, seed);
  ASSERT_TRUE(churner.ready()) << "no quiet arena: " << churner.why_not();
  std::optional<Result<Process>> attached;
  if (c.where == ChurnIn::child) {
    churner.start_child();
    ASSERT_GT(churner.child_pid(), 0) << "fork failed";
    attached.emplace(Process::attach(churner.child_pid()));
  } else {
    churner.start_thread();
    attached.emplace(Process::self());
  }
  ASSERT_TRUE(*attached) << attached->error().message();
  const Process& target = **attached;

  // The race happened: many scans, many changes, and the scans saw mappings. An emulated
  // scan of an arena holding shared memory reads smaps from its start, which under a
  // sanitizer walks the shadow memory's page tables too (25-40 ms a scan under ASan,
  // ~450 ms under TSan), so the churn log fills after a few scans there; the default
  // build holds the emulated cases to the full count.
  const std::uint64_t min_rounds =
      kUnderSanitizer && c.backend == BackendChoice::emulated ? 3u : 50u;
  // The budget is a least duration, not a window the counts must fit in: the loop goes on
  // until they are reached (or the log is full), however slowly a loaded machine runs it.
  const auto budget = race_budget(std::chrono::milliseconds(2500));
  const auto t0 = Clock::now();
  std::uint64_t rounds = 0, regions_seen = 0;
  std::vector<PageRegion> got;
  auto more = [&] {
    return Clock::now() - t0 < budget || rounds < min_rounds || churner.operations() < 1000;
  };
  while (more() && !churner.log_full()) {
    const ScanRequest request = random_request(rng, churner.start(), churner.end());
    static const std::size_t kChunks[] = {0, 1, 2, 7, 64};
    const ScanOptions options{kChunks[rng() % 5], c.backend};
    const bool streaming = rng() % 2;
    const std::uint64_t before = churner.published();
    got.clear();
    std::optional<Result<ScanSummary>> summary;
    if (streaming) {
      summary.emplace(scan_each(
          target, request,
          [&](std::span<const PageRegion> chunk) {
            got.insert(got.end(), chunk.begin(), chunk.end());
            return true;
          },
          options));
    } else {
      auto result = scan(target, request, options);
      if (result) {
        got = result->regions;
        summary.emplace(static_cast<const ScanSummary&>(*result));
      } else {
        summary.emplace(result.error());
      }
    }
    const std::uint64_t after = churner.published();
    const std::string what = "seed " + std::to_string(seed) + " round " + std::to_string(rounds) +
                             ": " + describe(request, options, streaming);
    ASSERT_TRUE(*summary) << what
                          << ": a live target's scan failed: " << to_string(summary->error().kind())
                          << ": " << summary->error().message();
    ASSERT_EQ((**summary).backend,
              c.backend == BackendChoice::kernel ? Backend::kernel : Backend::emulated);
    const std::vector<char> mapped = churner.mapped_between(before, after);
    ASSERT_TRUE(consistent(got, request, churner.start(), mapped, !streaming)) << what;
    ASSERT_TRUE(summary_agrees(**summary, got, request)) << what;
    ++rounds;
    regions_seen += got.size();
  }
  const std::string stopped = churner.stop();
  EXPECT_EQ(stopped, "");
  std::printf("    %s: %llu scans, %llu regions, %llu churn syscalls, %llu log events\n",
              churn_case_label(c).c_str(), static_cast<unsigned long long>(rounds),
              static_cast<unsigned long long>(regions_seen),
              static_cast<unsigned long long>(churner.operations()),
              static_cast<unsigned long long>(churner.published()));
  EXPECT_GE(rounds, min_rounds);
  EXPECT_GE(churner.operations(), 1000u);
  EXPECT_GT(regions_seen, 0u);
}

INSTANTIATE_TEST_SUITE_P(Targets, ScanRacingChurn,
                         testing::Values(ChurnCase{ChurnIn::child, BackendChoice::kernel},
                                         ChurnCase{ChurnIn::child, BackendChoice::emulated},
                                         ChurnCase{ChurnIn::thread, BackendChoice::kernel},
                                         ChurnCase{ChurnIn::thread, BackendChoice::emulated}),
                         churn_case_name);

// ---- 2. a target that exits during a scan ----

class ScanRacingExit : public testing::TestWithParam<BackendChoice> {};

std::string backend_name(const testing::TestParamInfo<BackendChoice>& info) {
  return info.param == BackendChoice::kernel ? "Kernel" : "Emulated";
}

// One scan of `t` (scan() or scan_each()); the regions delivered go to `got`.
Result<ScanSummary> scan_target(const Process& p, const ExitingTarget& t, bool streaming,
                                const ScanOptions& options, std::vector<PageRegion>& got) {
  const ScanRequest request =
      ScanRequest::over(t.start(), t.end()).all_of(Category::present).returning(Category::present);
  got.clear();
  if (streaming) {
    return scan_each(
        p, request,
        [&](std::span<const PageRegion> chunk) {
          got.insert(got.end(), chunk.begin(), chunk.end());
          return true;
        },
        options);
  }
  auto result = scan(p, request, options);
  if (!result) return result.error();
  got = result->regions;
  return static_cast<const ScanSummary&>(*result);
}

// The target exits (by itself or killed) at a random moment within about two scan
// durations of the scan's start, or has exited (a zombie) or been reaped before it.
// Every answer is the whole layout, complete, or no_such_process naming the pid; the
// regions a streaming scan delivered before failing are still the layout's.
TEST_P(ScanRacingExit, EveryAnswerIsWholeOrNoSuchProcess) {
  const BackendChoice backend = GetParam();
  if (backend == BackendChoice::kernel) PAGESCAN_SKIP_WITHOUT_SCAN();
  constexpr std::size_t kRegions = 2048;
  const std::uint64_t seed = backend == BackendChoice::kernel ? 7001 : 7002;
  std::mt19937_64 rng(seed);

  // How long one scan of a live target takes: the exit delays are spread over it.
  std::vector<double> samples;
  {
    ExitingTarget live(kRegions, ExitingTarget::Exit::by_itself);
    ASSERT_TRUE(live.valid());
    auto p = Process::attach(live.pid());
    ASSERT_TRUE(p) << p.error().message();
    std::vector<PageRegion> got;
    for (int i = 0; i < 5; ++i) {
      const auto t = Clock::now();
      auto r = scan_target(*p, live, false, ScanOptions{32, backend}, got);
      samples.push_back(std::chrono::duration<double>(Clock::now() - t).count());
      ASSERT_TRUE(r) << r.error().message();
      ASSERT_EQ(got, live.expected());
    }
  }
  std::sort(samples.begin(), samples.end());
  const auto scan_ns = static_cast<std::int64_t>(samples[2] * 1e9);

  const int rounds = kUnderSanitizer ? 32 : 64;
  int whole = 0, refused = 0, refused_after_chunks = 0;
  for (int round = 0; round < rounds; ++round) {
    const auto how = round % 2 ? ExitingTarget::Exit::killed : ExitingTarget::Exit::by_itself;
    const bool streaming = (round / 2) % 2;
    const int timing = round % 8;  // 0-5: during the scan; 6: zombie before; 7: reaped before
    static const std::size_t kChunks[] = {0, 8, 32, 128};
    const ScanOptions options{kChunks[rng() % 4], backend};
    const std::int64_t delay = static_cast<std::int64_t>(rng() % (2 * scan_ns + 1));

    ExitingTarget t(kRegions, how);
    ASSERT_TRUE(t.valid()) << "round " << round << ": the target did not start";
    const pid_t pid = t.pid();
    auto p = Process::attach(pid);
    ASSERT_TRUE(p) << p.error().message();
    if (timing >= 6) {
      t.exit_after(std::chrono::nanoseconds(0));
      t.wait_exited();
      if (timing == 7) t.reap();
    } else {
      t.exit_after(std::chrono::nanoseconds(delay));
    }
    std::vector<PageRegion> got;
    auto r = scan_target(*p, t, streaming, options, got);
    const std::string what = "seed " + std::to_string(seed) + " round " + std::to_string(round) +
                             (streaming ? " scan_each" : " scan") + " chunk " +
                             std::to_string(options.chunk_regions) + " delay " +
                             std::to_string(delay) + " ns, timing " + std::to_string(timing);
    const std::vector<PageRegion> expected = t.expected();
    if (r) {
      ASSERT_LT(timing, 6) << what << ": a scan of an exited target succeeded with " << got.size()
                           << " regions";
      ASSERT_EQ(r->stop_reason, StopReason::complete) << what;
      ASSERT_EQ(got.size(), expected.size()) << what << ": a partial answer presented as whole";
      ASSERT_EQ(got, expected) << what;
      ASSERT_EQ(r->region_count, expected.size()) << what;
      ++whole;
    } else {
      const Error& e = r.error();
      ASSERT_EQ(e.kind(), ErrorKind::no_such_process)
          << what << ": " << to_string(e.kind()) << ": " << e.message();
      EXPECT_EQ(e.errno_value(), ESRCH) << what << ": " << e.message();
      EXPECT_NE(e.message().find("pid " + std::to_string(pid)), std::string::npos)
          << what << ": the message does not name the target: " << e.message();
      // What a streaming scan delivered before the failure is still true.
      ASSERT_LE(got.size(), expected.size()) << what;
      ASSERT_TRUE(std::equal(got.begin(), got.end(), expected.begin())) << what;
      ++refused;
      if (!got.empty()) ++refused_after_chunks;
    }
    t.reap();
  }
  std::printf(
      "    %s: scan %.3f ms; %d rounds: %d whole, %d no_such_process (%d after delivering "
      "chunks)\n",
      backend == BackendChoice::kernel ? "kernel" : "emulated", samples[2] * 1e3, rounds, whole,
      refused, refused_after_chunks);
  // The zombie and reaped rounds always refuse.
  EXPECT_GE(refused, rounds / 4);
}

INSTANTIATE_TEST_SUITE_P(Backends, ScanRacingExit,
                         testing::Values(BackendChoice::kernel, BackendChoice::emulated),
                         backend_name);

}  // namespace
