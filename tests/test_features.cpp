// The library's feature probe checked against the tests' own (support/kernel_facts.hpp):
// every field of pagescan::features() with an independent counterpart must agree with
// it. These tests never skip for a missing feature: "absent" is an answer to compare too.
// KernelFacts.* list each fact's finding and honour PAGESCAN_REQUIRE.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>

#include "pagescan/features.hpp"
#include "pagescan/watch.hpp"
#include "support/cli_runner.hpp"
#include "support/io.hpp"
#include "support/kernel_facts.hpp"
#include "support/memory.hpp"
#include "support/watch_helpers.hpp"

using namespace pagescan;
using namespace pagescan::test;

namespace {

std::string first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

// "library says X; the tests' probe found: <finding>" for a disagreement.
std::string versus(Fact fact) {
  return "the tests' probe (" + std::string(fact_name(fact)) +
         ") found: " + kernel_fact(fact).finding;
}

}  // namespace

TEST(Features, ProbedOnceAndCached) {
  EXPECT_EQ(&features(), &features());
}

TEST(Features, PagemapScanAgreesWithTheTestsProbe) {
  const Features& f = features();
  EXPECT_EQ(f.pagemap_scan, kernel_has(Fact::pagemap_scan))
      << "library errno " << f.pagemap_scan_errno << "; " << versus(Fact::pagemap_scan);
  if (!f.pagemap_scan) EXPECT_NE(f.pagemap_scan_errno, 0);
}

TEST(Features, EachScanCategoryAgreesWithTheTestsProbe) {
  const Features& f = features();
  for (Category c : kAllCategories) {
    EXPECT_EQ(f.scan_categories.contains(c), kernel_has(scan_fact(c)))
        << to_string(c) << ": " << versus(scan_fact(c));
  }
  // 6.7 accepts 0x7f, 6.8 adds soft-dirty, 6.16 guard: always a prefix of the bits.
  if (f.pagemap_scan) {
    const std::uint64_t bits = accepted_scan_categories().bits();
    EXPECT_EQ(bits & (bits + 1), 0u) << std::hex << bits;
    EXPECT_GE(bits, 0x7fu);
  }
}

TEST(Features, UserAddressLimitAgreesWithTheTestsProbe) {
  EXPECT_EQ(features().user_address_limit, kernel_user_address_limit());
  EXPECT_EQ(features().user_address_limit % page_size(), 0u);
}

TEST(Features, AsyncWriteProtectAgreesWithTheTestsProbe) {
  const Features& f = features();
  EXPECT_EQ(f.uffd_wp_async && f.uffd_wp_unpopulated && f.uffd_wp_hugetlbfs_shmem,
            kernel_has(Fact::uffd_wp_async))
      << "library: " << f.userfaultfd_detail << "; " << versus(Fact::uffd_wp_async);
  if (!f.userfaultfd) EXPECT_FALSE(f.userfaultfd_detail.empty());
}

TEST(Features, SoftDirtyAgreesWithTheTestsProbe) {
  EXPECT_EQ(features().soft_dirty, kernel_has(Fact::soft_dirty))
      << "library: " << features().soft_dirty_detail << "; " << versus(Fact::soft_dirty);
  EXPECT_FALSE(features().soft_dirty_detail.empty());
}

TEST(Features, GuardRegionsAgreeWithTheTestsProbe) {
  EXPECT_EQ(features().guard_regions, kernel_has(Fact::guard_regions))
      << versus(Fact::guard_regions);
}

TEST(Features, PfnVisibilityAgreesWithTheTestsProbe) {
  EXPECT_EQ(features().pfns_visible, kernel_has(Fact::pfns_visible)) << versus(Fact::pfns_visible);
}

// The library reads the THP knobs; the tests' probe watches what a fault maps. With THP
// at work, the use_zero_page knob decides whether a read fault maps the huge zero page.
TEST(Features, ThpAgreesWithSysfsAndTheTestsProbe) {
  const Features& f = features();
  const std::string dir = "/sys/kernel/mm/transparent_hugepage/";
  const std::string enabled = first_line(dir + "enabled");
  if (enabled.empty()) {
    EXPECT_EQ(f.thp_mode, "");
    EXPECT_FALSE(kernel_has(Fact::thp)) << versus(Fact::thp);
    return;
  }
  EXPECT_NE(enabled.find("[" + f.thp_mode + "]"), std::string::npos) << enabled;
  EXPECT_EQ(std::to_string(f.thp_pmd_size), first_line(dir + "hpage_pmd_size"));
  if (kernel_has(Fact::thp)) {
    EXPECT_TRUE(f.thp_mode == "always" || f.thp_mode == "madvise") << f.thp_mode;
    EXPECT_EQ(f.thp_use_zero_page, kernel_has(Fact::huge_zero_page))
        << versus(Fact::huge_zero_page);
  }
}

// The library read-faults scratch memory and scans it; the tests' probe asks kpageflags,
// compares PFNs or reads pagemap's flag bits. Whether read pages can be pfnzero at all.
TEST(Features, ZeroPageAgreesWithTheTestsProbe) {
  const Features& f = features();
  EXPECT_EQ(f.zero_page, kernel_has(Fact::zero_page))
      << "library: " << f.zero_page_detail << "; " << versus(Fact::zero_page);
  EXPECT_FALSE(f.zero_page_detail.empty());
  EXPECT_EQ(probe_features().zero_page, f.zero_page) << "probed afresh";
}

TEST(Features, HugeZeroPageAgreesWithTheTestsProbe) {
  const Features& f = features();
  EXPECT_EQ(f.huge_zero_page, kernel_has(Fact::huge_zero_page))
      << "library: " << f.huge_zero_page_detail << "; " << versus(Fact::huge_zero_page);
  EXPECT_FALSE(f.huge_zero_page_detail.empty());
  // The knob is named in the detail whenever a THP region was faulted.
  if (kernel_has(Fact::thp)) {
    const std::string knob =
        "use_zero_page=" + first_line("/sys/kernel/mm/transparent_hugepage/use_zero_page");
    EXPECT_NE(f.huge_zero_page_detail.find(knob), std::string::npos) << f.huge_zero_page_detail;
  }
}

// Writes a sysfs knob while it lives and puts the old value back, also when the test fails.
class KnobSetting {
 public:
  KnobSetting(std::string path, const std::string& value)
      : path_(std::move(path)), old_(first_line(path_)) {
    std::ofstream out(path_);
    out << value << "\n";
    out.flush();
    ok_ = out.good() && first_line(path_) == value;
  }
  ~KnobSetting() {
    std::ofstream out(path_);
    out << old_ << "\n";
  }
  KnobSetting(const KnobSetting&) = delete;
  bool ok() const { return ok_; }

 private:
  std::string path_, old_;
  bool ok_ = false;
};

// use_zero_page decides the huge case: with the knob at 0 a THP read fault gets a private
// huge page, and the library, probing afresh, says so; back at the value the tests' probe
// saw, it agrees with that probe again.
TEST(Features, HugeZeroPageFollowsTheUseZeroPageKnob) {
  PAGESCAN_REQUIRE_FACT(Fact::thp);
  const std::string path = "/sys/kernel/mm/transparent_hugepage/use_zero_page";
  const std::string was = first_line(path);
  {
    KnobSetting off(path, "0");
    if (!off.ok()) GTEST_SKIP() << "cannot write 0 to " << path << " (needs root)";
    const Features f = probe_features();
    EXPECT_FALSE(f.huge_zero_page) << f.huge_zero_page_detail;
    EXPECT_NE(f.huge_zero_page_detail.find("private huge page"), std::string::npos)
        << f.huge_zero_page_detail;
  }
  ASSERT_EQ(first_line(path), was) << "the knob was not put back";
  const Features f = probe_features();
  EXPECT_EQ(f.huge_zero_page, kernel_has(Fact::huge_zero_page))
      << f.huge_zero_page_detail << "; " << versus(Fact::huge_zero_page);
}

TEST(Features, HugetlbPageSizeAgreesWithTheTestsProbe) {
  const std::uint64_t kb = meminfo_value("Hugepagesize").value_or(0);
  EXPECT_EQ(features().hugetlb_page_size, kb * 1024);
  if (kernel_has(Fact::hugetlb))
    EXPECT_NE(features().hugetlb_page_size, 0u) << versus(Fact::hugetlb);
}

// An engine passes the library's self-test exactly when the kernel has what it needs.
TEST(Features, EachWatchEngineIsAvailableExactlyWhenTheKernelHasWhatItNeeds) {
  for (WatchEngine engine : kForcibleEngines) {
    bool needs_met = true;
    std::string findings;
    for (Fact f : engine_facts(engine)) {
      needs_met = needs_met && kernel_has(f);
      findings += "\n  " + std::string(fact_name(f)) + ": " + kernel_fact(f).finding;
    }
    auto available = watch_engine_available(engine);
    EXPECT_EQ(available.has_value(), needs_met)
        << to_string(engine) << ": "
        << (available ? std::string("available") : available.error().message()) << findings;
  }
}

// What create() checks before using a forced engine (no self-test) holds exactly when the
// kernel has what the engine needs; automatic needs nothing.
TEST(Features, EachWatchEngineIsSupportedExactlyWhenTheKernelHasWhatItNeeds) {
  EXPECT_TRUE(watch_engine_supported(WatchEngine::automatic).has_value());
  for (WatchEngine engine : kForcibleEngines) {
    bool needs_met = true;
    for (Fact f : engine_facts(engine)) needs_met = needs_met && kernel_has(f);
    auto supported = watch_engine_supported(engine);
    EXPECT_EQ(supported.has_value(), needs_met)
        << to_string(engine) << ": "
        << (supported ? std::string("supported") : supported.error().message());
    if (!supported) EXPECT_EQ(supported.error().kind(), ErrorKind::unsupported);
  }
}

// PAGESCAN_WATCH_ENGINE read as create() reads it: a name, "auto", empty or unset; any
// other value is create()'s own error; an explicit engine is never overridden.
TEST(Features, WatchEngineRequestedReadsTheEnvironmentAsCreateDoes) {
  {
    ScopedEnv unset("PAGESCAN_WATCH_ENGINE", std::nullopt);
    EXPECT_EQ(watch_engine_requested().value(), WatchEngine::automatic);
  }
  for (const char* value : {"", "auto"}) {
    ScopedEnv env("PAGESCAN_WATCH_ENGINE", value);
    EXPECT_EQ(watch_engine_requested().value(), WatchEngine::automatic) << "'" << value << "'";
  }
  for (WatchEngine engine : kForcibleEngines) {
    ScopedEnv env("PAGESCAN_WATCH_ENGINE", std::string(to_string(engine)));
    EXPECT_EQ(watch_engine_requested().value(), engine);
    EXPECT_EQ(watch_engine_requested(WatchEngine::everything).value(), WatchEngine::everything);
  }
  ScopedEnv bogus("PAGESCAN_WATCH_ENGINE", "bogus");
  auto requested = watch_engine_requested();
  ASSERT_FALSE(requested);
  EXPECT_EQ(requested.error().message(),
            "PAGESCAN_WATCH_ENGINE: unknown write-tracking engine 'bogus' (expected auto, uffd, "
            "soft-dirty, mprotect or everything)");
  Mapping m = Mapping::anonymous(1);
  auto watch = WriteWatch::create(m.data(), page_size());
  ASSERT_FALSE(watch);
  EXPECT_EQ(watch.error().message(), requested.error().message());
  EXPECT_EQ(watch.error().errno_value(), EINVAL);
}

TEST(Features, ChunkIsPmdOverPageSize) {
  EXPECT_EQ(features().page_size, page_size());
  EXPECT_EQ(features().chunk_regions(), page_size() / 8);
}

// ---- the tests' own facts -------------------------------------------------------------

// One test per fact: it passes when the kernel has it and otherwise skips naming the
// finding (or fails, when PAGESCAN_REQUIRE names it), so every run's skip summary lists
// what this kernel lacks.
class KernelFacts : public testing::TestWithParam<Fact> {};

TEST_P(KernelFacts, Present) {
  std::printf("%s: %s\n", std::string(fact_name(GetParam())).c_str(),
              kernel_fact(GetParam()).finding.c_str());
  PAGESCAN_REQUIRE_FACT(GetParam());
  EXPECT_FALSE(kernel_fact(GetParam()).finding.empty());
}

INSTANTIATE_TEST_SUITE_P(Each, KernelFacts, testing::ValuesIn(all_facts()),
                         [](const testing::TestParamInfo<Fact>& info) {
                           return std::string(fact_name(info.param));
                         });

TEST(KernelFactNames, RoundTripAndNameEachCategory) {
  for (Fact f : all_facts()) {
    ASSERT_TRUE(fact_named(fact_name(f)).has_value()) << fact_name(f);
    EXPECT_EQ(*fact_named(fact_name(f)), f);
  }
  EXPECT_FALSE(fact_named("zero-page").has_value());
  for (Category c : kAllCategories) {
    std::string name = "scan_" + std::string(to_string(c));  // soft-dirty: scan_soft_dirty
    for (char& ch : name) ch = ch == '-' ? '_' : ch;
    EXPECT_EQ(fact_name(scan_fact(c)), name);
  }
}

// ---- PAGESCAN_REQUIRE and PAGESCAN_SKIP_LOG, on this very binary ----------------------

// Runs this binary on `filter` with PAGESCAN_REQUIRE and PAGESCAN_SKIP_LOG as given ("" for
// unset: CI sets both for the parent, which the child must not inherit). Its output has
// gtest's skip marker defused, so the log of this test reads plainly.
CliRun run_self(const std::string& filter, const std::string& require,
                const std::string& skip_log = "", const std::vector<std::string>& env = {}) {
  ScopedEnv required("PAGESCAN_REQUIRE", require);
  ScopedEnv logged("PAGESCAN_SKIP_LOG", skip_log);
  CliRun run = run_program("/proc/self/exe", {"--gtest_filter=" + filter}, env);
  for (std::string* text : {&run.out, &run.err}) {
    for (auto at = text->find("[  SKIPPED ]"); at != std::string::npos;
         at = text->find("[  SKIPPED ]", at)) {
      text->replace(at, 12, "[ (skipped) ]");
    }
  }
  return run;
}

TEST(PagescanRequire, AnUnknownNameFailsTheRunListingTheKnownOnes) {
  CliRun run = run_self("Features.ProbedOnceAndCached", "pagemap_scan,bogus");
  EXPECT_NE(run.exit_code, 0) << run.describe();
  EXPECT_NE(run.out.find("'bogus'"), std::string::npos) << run.out;
  for (Fact f : all_facts()) {
    EXPECT_NE(run.out.find(" " + std::string(fact_name(f))), std::string::npos)
        << fact_name(f) << " is listed\n"
        << run.out;
  }
}

// A fact this kernel lacks skips its test; named in PAGESCAN_REQUIRE, it fails it.
TEST(PagescanRequire, TurnsTheSkipOfAnAbsentFactIntoAFailure) {
  std::optional<Fact> absent;
  for (Fact f : all_facts()) {
    if (!kernel_has(f)) absent = f;
  }
  if (!absent) GTEST_SKIP() << "this kernel has every fact: none to require in vain";
  const std::string name(fact_name(*absent));
  const std::string filter = "Each/KernelFacts.Present/" + name;
  CliRun skipped = run_self(filter, "");
  EXPECT_EQ(skipped.exit_code, kAllSkippedExitCode) << skipped.describe();
  EXPECT_NE(skipped.out.find("[ (skipped) ]"), std::string::npos) << skipped.out;
  CliRun failed = run_self(filter, name);
  EXPECT_NE(failed.exit_code, 0) << failed.describe();
  EXPECT_NE(failed.out.find("PAGESCAN_REQUIRE names " + name), std::string::npos) << failed.out;
}

TEST(PagescanSkipLog, RecordsEachSkippedTestWithItsReason) {
  char path[] = "/tmp/pagescan-skips-XXXXXX";
  int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ::close(fd);
  CliRun run = run_self("PagescanSkipLog.SkipsOnPurpose:Features.ProbedOnceAndCached", "", path,
                        {"PAGESCAN_SKIP_ON_PURPOSE=1"});
  std::ifstream in(path);
  std::string log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ::unlink(path);
  EXPECT_EQ(run.exit_code, 0) << run.describe();
  EXPECT_EQ(log, "PagescanSkipLog.SkipsOnPurpose\tskipped on purpose: the skip log's own test\n");
}

// Skips only inside the run above; in a plain run it passes.
TEST(PagescanSkipLog, SkipsOnPurpose) {
  if (std::getenv("PAGESCAN_SKIP_ON_PURPOSE")) {
    GTEST_SKIP() << "skipped on purpose: the skip log's own test";
  }
  SUCCEED();
}

// The zero-page findings say which observation decided them, so a reader of a skip can
// check it; the two zero pages go together unless the knob or THP separates them.
TEST(KernelFactNames, ZeroPageFindingsAreConsistent) {
  if (kernel_has(Fact::huge_zero_page)) EXPECT_TRUE(kernel_has(Fact::thp));
  if (kernel_has(Fact::huge_zero_page)) {
    EXPECT_EQ(first_line("/sys/kernel/mm/transparent_hugepage/use_zero_page"), "1");
  }
  EXPECT_NE(kernel_fact(Fact::zero_page)
                .finding.find(kernel_has(Fact::zero_page) ? "zero page" : "no pfnzero"),
            std::string::npos)
      << kernel_fact(Fact::zero_page).finding;
}
