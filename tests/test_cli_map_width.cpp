// `pagescan map` fits the screen: every line of the default table, with and without heat
// strips and with the smaps columns, is at most the width (--width, COLUMNS, else 80 when
// not a terminal), measured in display columns; columns with nothing to say are left out
// and named; long paths keep their file name; --wide shows everything however wide.
#include <gtest/gtest.h>

#include <optional>

#include "support/child_process.hpp"
#include "support/cli_runner.hpp"
#include "support/kernel_facts.hpp"
#include "support/map_smaps_layout.hpp"
#include "support/system_settings.hpp"

using namespace pagescan::test;
using namespace pagescan::test::map_smaps;

namespace {

std::string longest_line(const CliRun& run, std::size_t& columns) {
  std::string longest;
  columns = 0;
  for (const std::string& l : run.out_lines()) {
    if (display_columns(l) > columns) {
      columns = display_columns(l);
      longest = l;
    }
  }
  return longest;
}

// The child with every kind of memory map shows: swap when it can be added, guard
// markers, a THP, uffd-wp markers (a WRITTEN column), a long path.
class CliMapWidth : public ::testing::Test {
 protected:
  void SetUp() override {
    if (kernel_has(Fact::swap)) swap_.emplace(64u << 20);
    child_.emplace(build);
  }
  void TearDown() override {
    if (child_) child_->kill_and_reap();
  }
  std::string pid() const { return std::to_string(child_->pid()); }

  std::optional<SwapSpace> swap_;
  std::optional<ChildProcess> child_;
};

}  // namespace

TEST_F(CliMapWidth, EveryLineFitsEightyColumnsWithAndWithoutHeat) {
  const std::vector<std::vector<std::string>> variants = {{},
                                                          {"--heat"},
                                                          {"--heat", "--ascii"},
                                                          {"--heat", "--category", "written"},
                                                          {"--heat", "--category", "swapped"},
                                                          {"--only", "anon,file", "--heat"},
                                                          {"--sort", "size"}};
  for (const auto& extra : variants) {
    for (const std::vector<std::string>& width :
         std::vector<std::vector<std::string>>{{}, {"--width", "80"}}) {
      std::vector<std::string> args = {"map", pid()};
      args.insert(args.end(), extra.begin(), extra.end());
      args.insert(args.end(), width.begin(), width.end());
      std::string what;
      for (const std::string& a : args) what += a + " ";
      CliRun run = run_cli(args);
      ASSERT_EQ(run.exit_code, 0) << what << run.describe();
      std::size_t columns = 0;
      const std::string longest = longest_line(run, columns);
      EXPECT_LE(columns, 80u) << what << "longest line:\n" << longest << "\n\n" << run.out;
      EXPECT_NE(run.out.find("RSS"), std::string::npos) << what << "smaps columns shown";
    }
  }
}

TEST_F(CliMapWidth, ColumnsFollowTheWidthFromWidthOrColumns) {
  for (const std::string& w : {"60", "100", "132"}) {
    CliRun run = run_cli({"map", pid(), "--heat", "--width", w});
    ASSERT_EQ(run.exit_code, 0) << run.describe();
    std::size_t columns = 0;
    const std::string longest = longest_line(run, columns);
    EXPECT_LE(columns, std::stoul(w)) << "--width " << w << ":\n" << longest;
  }
  CliRun env = run_cli({"map", pid(), "--heat"}, {"COLUMNS=70"});
  ASSERT_EQ(env.exit_code, 0) << env.describe();
  std::size_t columns = 0;
  const std::string longest = longest_line(env, columns);
  EXPECT_LE(columns, 70u) << "COLUMNS=70:\n" << longest;
}

TEST_F(CliMapWidth, LongPathsKeepTheirFileNameAndWideShowsThemWhole) {
  ASSERT_NE(child_->addresses()[2 * kLongFile], 0u) << "the child could not map its long file";
  const std::string name = "and-a-file-name-that-is-long-as-well.bin";
  CliRun compact = run_cli({"map", pid()});
  ASSERT_EQ(compact.exit_code, 0) << compact.describe();
  bool found = false;
  for (const std::string& l : compact.out_lines()) {
    if (l.find(name) == std::string::npos) continue;
    found = true;
    EXPECT_NE(l.find("…"), std::string::npos) << "the path is shortened: " << l;
    EXPECT_LE(display_columns(l), 80u) << l;
  }
  EXPECT_TRUE(found) << "the file name is kept:\n" << compact.out;

  CliRun wide = run_cli({"map", pid(), "--wide"});
  ASSERT_EQ(wide.exit_code, 0) << wide.describe();
  EXPECT_NE(wide.out.find("/tmp/pagescan-map-a-directory-name-long-enough-to-need-shortening-"),
            std::string::npos);
  std::size_t columns = 0;
  longest_line(wide, columns);
  EXPECT_GT(columns, 80u) << "--wide is as wide as it takes";
  for (const char* title : {"OFFSET", "SWAPPED", "SWAPENT", "MARKERS", "PFNZERO", "GUARD"}) {
    EXPECT_NE(wide.out.find(title), std::string::npos) << title;
  }
}

// WRITTEN says "not tracked" in every row of a process without a uffd-wp VMA: the
// compact table leaves it out and says why; a tracked VMA brings it back.
TEST(CliMapColumns, WrittenIsLeftOutWhenNothingIsTrackedAndNamedUnderTheTable) {
  CliRun run = run_cli({"map", "self"});  // the CLI itself registers nothing
  ASSERT_EQ(run.exit_code, 0) << run.describe();
  std::string header;
  for (const std::string& l : run.out_lines()) {
    if (l.rfind("ADDRESS ", 0) == 0) header = l;
  }
  EXPECT_EQ(header.find("WRITTEN"), std::string::npos) << header;
  EXPECT_EQ(run.out.find("not tracked  "), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("not shown: WRITTEN (no VMA is uffd-wp registered"), std::string::npos)
      << run.out;
}

// A tracked VMA makes WRITTEN meaningful: shown when there is room, else named among the
// columns left out for width, never as untracked.
TEST_F(CliMapWidth, ATrackedVmaBringsTheWrittenColumnBack) {
  if (child_->addresses()[2 * kUffd] == 0) {
    GTEST_SKIP() << "no async uffd-wp: " << kernel_fact(Fact::uffd_wp_async).finding;
  }
  auto header_of = [](const CliRun& run) {
    for (const std::string& l : run.out_lines()) {
      if (l.rfind("ADDRESS ", 0) == 0) return l;
    }
    return std::string();
  };
  CliRun roomy = run_cli({"map", pid(), "--width", "200"});
  ASSERT_EQ(roomy.exit_code, 0) << roomy.describe();
  EXPECT_NE(header_of(roomy).find("WRITTEN"), std::string::npos) << roomy.out;

  CliRun narrow = run_cli({"map", pid()});
  ASSERT_EQ(narrow.exit_code, 0) << narrow.describe();
  bool named_for_width = false;
  for (const std::string& l : narrow.out_lines()) {
    if (l.rfind("not shown for width", 0) == 0 && l.find("WRITTEN") != std::string::npos) {
      named_for_width = true;
    }
  }
  EXPECT_TRUE(header_of(narrow).find("WRITTEN") != std::string::npos || named_for_width)
      << narrow.out;
  EXPECT_EQ(narrow.out.find("no VMA is uffd-wp registered"), std::string::npos) << narrow.out;
}
