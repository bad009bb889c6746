// `pagescan map` reconciles with the kernel's own accounting: its totals line up with
// /proc/PID/smaps_rollup line by line, each VMA carries its smaps figures, SWAPPED splits
// into swap entries and markers, and swapped-out shmem (invisible to pagemap) shows in
// Swap.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <optional>

#include <nlohmann/json.hpp>

#include "pagescan/process.hpp"
#include "pagescan/smaps.hpp"
#include "support/backend_runs.hpp"
#include "support/child_process.hpp"
#include "support/cli_runner.hpp"
#include "support/kernel_facts.hpp"
#include "support/map_smaps_layout.hpp"
#include "support/memory.hpp"
#include "support/system_settings.hpp"

using namespace pagescan;
using namespace pagescan::test;
using namespace pagescan::test::map_smaps;
using nlohmann::json;

namespace {

const json& vma_at(const json& map, std::uint64_t start) {
  static const json none;
  for (const json& v : map["vmas"]) {
    if (v["start"] == diff::hex(start)) return v;
  }
  return none;
}

// Swap, swapped shmem, guard markers and a THP: what the issue asks the totals to survive.
class CliMapSmaps : public ::testing::Test {
 protected:
  void SetUp() override {
    PAGESCAN_REQUIRE_FACT(Fact::swap);
    PAGESCAN_REQUIRE_FACT(Fact::guard_regions);
    PAGESCAN_REQUIRE_FACT(Fact::thp);
    swap_.emplace(64u << 20);
    ASSERT_TRUE(swap_->ok()) << swap_->why_not();
    child_.emplace(build);
    const auto& a = child_->addresses();
    for (Part p : {kShmem, kAnonSwap, kGuard, kThp}) {
      ASSERT_NE(a[2 * p], 0u) << "the child could not build its " << part_name(p) << " part";
    }
    if (a[2 * kPartCount] != 1) GTEST_SKIP() << "MADV_PAGEOUT left pages in memory";
  }
  void TearDown() override {
    if (child_) child_->kill_and_reap();
  }
  std::uint64_t start(Part p) const { return child_->addresses()[2 * p]; }

  json map_json() {
    CliRun run = run_cli({"map", std::to_string(child_->pid()), "--json"});
    EXPECT_EQ(run.exit_code, 0) << run.describe();
    return json::parse(run.out);
  }

  std::optional<SwapSpace> swap_;  // outlives the child, whose pages it holds
  std::optional<ChildProcess> child_;
};

}  // namespace

// Every line of smaps_rollup that per-VMA smaps also prints equals the map's total; the
// Pss lines may fall short by the kernel's truncation to kB of each VMA's line (smaps.hpp),
// and Pss moves with the other processes mapping the same clean file pages.
//
// The forked child shares pages with this process until either writes them, and this
// process writes while the CLI runs (its own heap; under ASan, shadow and quarantine pages
// all over the address space, round after round). Each such write turns one of the
// child's pages from shared to private: Shared_* fall, Private_* and Pss rise, and nothing
// else moves, Shared_X + Private_X included. So the rollup is read before and after the
// map: the lines this process cannot move, and those two sums, must not have moved and
// must equal the map's; a line it can move must lie between the two readings.
TEST_F(CliMapSmaps, TotalsLineUpWithSmapsRollupLineByLine) {
  auto process = Process::attach(child_->pid());
  ASSERT_TRUE(process) << process.error().message();
  const auto moved_by_sharing = [](SmapsField f) {
    return f == SmapsField::shared_clean || f == SmapsField::shared_dirty ||
           f == SmapsField::private_clean || f == SmapsField::private_dirty ||
           f == SmapsField::pss || f == SmapsField::pss_dirty || f == SmapsField::pss_anon ||
           f == SmapsField::pss_file || f == SmapsField::pss_shmem || f == SmapsField::swap_pss;
  };
  const auto clean = [](const SmapsFigures& s) {
    return s[SmapsField::shared_clean] + s[SmapsField::private_clean];
  };
  const auto dirty = [](const SmapsFigures& s) {
    return s[SmapsField::shared_dirty] + s[SmapsField::private_dirty];
  };
  // What this process cannot move stays still, but the child could still be settling:
  // a few rounds until it does.
  json map;
  std::optional<SmapsFigures> before, after;
  for (int round = 0; round < 5; ++round) {
    auto b = read_smaps_rollup(*process);
    ASSERT_TRUE(b) << b.error().message();
    map = map_json();
    auto a = read_smaps_rollup(*process);
    ASSERT_TRUE(a) << a.error().message();
    bool still = clean(*b) == clean(*a) && dirty(*b) == dirty(*a);
    for (std::size_t i = 0; i < kSmapsFieldCount; ++i) {
      const auto f = static_cast<SmapsField>(i);
      if (!moved_by_sharing(f) && (*b)[f] != (*a)[f]) still = false;
    }
    if (still) {
      before = *b;
      after = *a;
      break;
    }
  }
  ASSERT_TRUE(after) << "the child's smaps_rollup moved beyond its sharing in each of 5 rounds";
  const json& totals = map["totals"]["smaps"];
  const std::uint64_t vmas = map["totals"]["vmas"];
  std::size_t compared = 0;
  for (std::size_t i = 0; i < kSmapsFieldCount; ++i) {
    const auto f = static_cast<SmapsField>(i);
    const std::string name(smaps_name(f));
    if (!after->has(f)) continue;
    if (f == SmapsField::pss_anon || f == SmapsField::pss_file || f == SmapsField::pss_shmem) {
      EXPECT_FALSE(totals.contains(name)) << name << " is not a per-VMA line";
      continue;
    }
    ASSERT_TRUE(totals.contains(name)) << name << "\n" << totals.dump(2);
    const std::uint64_t sum = totals[name];
    const std::uint64_t low = std::min((*before)[f], (*after)[f]);
    const std::uint64_t high = std::max((*before)[f], (*after)[f]);
    if (f == SmapsField::pss) {
      // A clean shared page (libc's text) is shared with every process mapping it, the CLI
      // among them while it reads smaps: its share moves with them, within Shared_Clean.
      const std::uint64_t moving = (*after)[SmapsField::shared_clean] + vmas * 1024;
      EXPECT_LE(sum, high + moving) << name;
      EXPECT_LE(low, sum + moving) << name;
    } else if (f == SmapsField::pss_dirty || f == SmapsField::swap_pss) {
      EXPECT_LE(sum, high) << name;
      EXPECT_LT(low - std::min(low, sum), vmas * 1024) << name << ": more than 1 kB per VMA apart";
    } else if (moved_by_sharing(f)) {
      EXPECT_LE(low, sum) << name;
      EXPECT_LE(sum, high) << name;
    } else {
      EXPECT_EQ(sum, (*after)[f]) << name;
    }
    ++compared;
  }
  const auto map_line = [&](SmapsField f) {
    return totals.value(std::string(smaps_name(f)), std::uint64_t{0});
  };
  EXPECT_EQ(map_line(SmapsField::shared_clean) + map_line(SmapsField::private_clean),
            clean(*after));
  EXPECT_EQ(map_line(SmapsField::shared_dirty) + map_line(SmapsField::private_dirty),
            dirty(*after));
  EXPECT_GE(compared, 15u) << totals.dump(2);
  EXPECT_GT((*after)[SmapsField::swap], 0u) << "the child's swap should show";
}

// A swapped-out shmem page is pte_none: the scan sees nothing, smaps' Swap counts it.
TEST_F(CliMapSmaps, SwappedShmemShowsInSmapsSwapAndIsLabelledShmem) {
  const json map = map_json();
  const json& v = vma_at(map, start(kShmem));
  ASSERT_FALSE(v.is_null()) << map.dump(2);
  EXPECT_EQ(v["backing"], "shm");
  EXPECT_EQ(v["counts"]["swapped"], 0) << "pagemap cannot see swapped shmem";
  EXPECT_EQ(v["counts"]["present"], kShmemPages - kShmemOut);
  EXPECT_EQ(v["smaps"]["Swap"], kShmemOut * page_size()) << v.dump(2);
  EXPECT_EQ(v["smaps"]["Rss"], (kShmemPages - kShmemOut) * page_size());
}

// Swap entries equal smaps' Swap for anonymous memory; guard markers are markers, not swap.
TEST_F(CliMapSmaps, SwappedSplitsIntoSwapEntriesAndMarkers) {
  const json map = map_json();
  const json& anon = vma_at(map, start(kAnonSwap));
  ASSERT_FALSE(anon.is_null());
  EXPECT_EQ(anon["counts"]["swapped"], kAnonOut);
  EXPECT_EQ(anon["swapped_split"]["swap_entries"], kAnonOut);
  EXPECT_EQ(anon["swapped_split"]["markers"], 0);
  EXPECT_EQ(anon["smaps"]["Swap"], kAnonOut * page_size());

  const json& guard = vma_at(map, start(kGuard));
  ASSERT_FALSE(guard.is_null());
  EXPECT_EQ(guard["counts"]["swapped"], kGuarded) << "guard markers read as SWAPPED";
  EXPECT_EQ(guard["swapped_split"]["swap_entries"], 0);
  EXPECT_EQ(guard["swapped_split"]["markers"], kGuarded);
  EXPECT_EQ(guard["smaps"]["Swap"], 0);

  const json& thp = vma_at(map, start(kThp));
  ASSERT_FALSE(thp.is_null());
  EXPECT_EQ(thp["counts"]["huge"], kThpSize / page_size());
  EXPECT_EQ(thp["smaps"]["AnonHugePages"], kThpSize);

  // Every VMA whose split is known: its swap entries are smaps' Swap, shmem aside.
  for (const json& v : map["vmas"]) {
    if (v["backing"] == "shm" || v["swapped_split"]["swap_entries"].is_null()) continue;
    EXPECT_EQ(v["swapped_split"]["swap_entries"].get<std::uint64_t>() * page_size(),
              v["smaps"]["Swap"].get<std::uint64_t>())
        << v.dump(2);
  }
  EXPECT_EQ(map["totals"]["swapped_split"]["markers"].is_null(),
            map["totals"]["swapped_split"].contains("unknown_vmas"));
}

// uffd-wp markers sit in a uffd-wp registered VMA: only pagemap's swap type (visible with
// CAP_SYS_ADMIN) tells them from swap entries; without it the split says why it is unknown.
TEST_F(CliMapSmaps, UffdWpMarkersAreMarkersOrTheSplitSaysWhyNot) {
  if (child_->addresses()[2 * kUffd] == 0) {
    GTEST_SKIP() << "no async uffd-wp: " << kernel_fact(Fact::uffd_wp_async).finding;
  }
  const json map = map_json();
  const json& v = vma_at(map, start(kUffd));
  ASSERT_FALSE(v.is_null());
  EXPECT_EQ(v["counts"]["swapped"], kUffdPages - kUffdWritten);
  if (kernel_has(Fact::pfns_visible)) {
    EXPECT_EQ(v["swapped_split"]["markers"], kUffdPages - kUffdWritten) << v.dump(2);
    EXPECT_EQ(v["swapped_split"]["swap_entries"], 0);
  } else {
    EXPECT_TRUE(v["swapped_split"]["markers"].is_null());
    EXPECT_NE(v["swapped_split"]["unknown_because"].get<std::string>().find("CAP_SYS_ADMIN"),
              std::string::npos);
  }
}

// Without CAP_SYS_ADMIN pagemap hides the swap type: the uffd-wp VMA's split is unknown
// and says why, the totals' split is null and counts the VMAs left unsplit, the table shows
// '?' and explains it; the other VMAs are still split (guard markers come from the scan).
TEST_F(CliMapSmaps, WithoutCapSysAdminTheSplitSaysWhatCannotBeSplit) {
  if (child_->addresses()[2 * kUffd] == 0) {
    GTEST_SKIP() << "no async uffd-wp: " << kernel_fact(Fact::uffd_wp_async).finding;
  }
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to drop CAP_SYS_ADMIN alone";
  const char* setpriv = "/usr/bin/setpriv";
  if (::access(setpriv, X_OK) != 0) GTEST_SKIP() << setpriv << " (util-linux) is missing";
  auto run = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {"--bounding-set", "-sys_admin", PAGESCAN_CLI_PATH, "map",
                                     std::to_string(child_->pid())};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_program(setpriv, args);
  };
  CliRun j = run({"--json"});
  ASSERT_EQ(j.exit_code, 0) << j.describe();
  const json map = json::parse(j.out);
  const json& tracked = vma_at(map, start(kUffd));
  ASSERT_FALSE(tracked.is_null());
  EXPECT_TRUE(tracked["swapped_split"]["markers"].is_null()) << tracked.dump(2);
  EXPECT_TRUE(tracked["swapped_split"]["swap_entries"].is_null());
  EXPECT_NE(tracked["swapped_split"]["unknown_because"].get<std::string>().find("CAP_SYS_ADMIN"),
            std::string::npos);
  EXPECT_TRUE(map["totals"]["swapped_split"]["markers"].is_null());
  EXPECT_EQ(map["totals"]["swapped_split"]["unknown_vmas"], 1);
  EXPECT_EQ(vma_at(map, start(kGuard))["swapped_split"]["markers"], kGuarded);

  CliRun table = run({});
  ASSERT_EQ(table.exit_code, 0) << table.describe();
  bool explained = false;
  for (const std::string& l : table.out_lines()) {
    if (l.rfind("?: uffd-wp markers cannot be told from swap entries", 0) == 0) explained = true;
  }
  EXPECT_TRUE(explained) << table.out;
}
