// pagescan demo and its surroundings: the text fits an 80-column screen (--width or
// COLUMNS, with Unicode or ASCII strips), and a bad PAGESCAN_BACKEND or
// PAGESCAN_WATCH_ENGINE stops the demo before it prints, forks or touches vm.nr_hugepages.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "pagescan/features.hpp"
#include "support/cli_process_tree.hpp"
#include "support/cli_runner.hpp"
#include "support/kernel_facts.hpp"
#include "support/watch_helpers.hpp"

namespace pagescan::test {
namespace {

constexpr std::size_t kColumns = 80;

// The demo at 80 columns, by --width or by COLUMNS, with Unicode or ASCII strips.
std::vector<CliRun> runs_at_80_columns() {
  ScopedEnv columns_env("COLUMNS", std::nullopt);
  std::vector<CliRun> runs;
  runs.push_back(run_cli({"demo", "--width", "80"}));
  runs.push_back(run_cli({"demo", "--ascii", "--width", "80"}));
  runs.push_back(run_cli({"demo"}, {"COLUMNS=80"}));
  return runs;
}

// Whether a line is the map table's (map/render_map_table.cpp lays it out, not the
// demo): from its "pid N ..." title to the line before the first blank or "note:" line.
std::vector<bool> map_table_lines(const std::vector<std::string>& lines) {
  std::vector<bool> table(lines.size(), false);
  bool in = false;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (!in && lines[i].rfind("pid ", 0) == 0) in = true;
    if (in && (lines[i].empty() || lines[i].rfind("note: ", 0) == 0)) break;
    table[i] = in;
  }
  return table;
}

long nr_hugepages() {
  std::ifstream in("/proc/sys/vm/nr_hugepages");
  long v = -1;
  in >> v;
  return v;
}

struct CliDemoText : ::testing::Test {
  static void SetUpTestSuite() { (void)features(); }
  void SetUp() override { PAGESCAN_REQUIRE_FACT(Fact::pagemap_scan); }
};

// The demo's own text (the intro, the features table, the parts not available, notes,
// the tracking rounds, the last lines) fits an 80-column screen: before, it assumed 100.
TEST_F(CliDemoText, ItsOwnTextFits80Columns) {
  for (const CliRun& run : runs_at_80_columns()) {
    ASSERT_EQ(run.exit_code, 0) << run.describe();
    const std::vector<std::string> lines = run.out_lines();
    ASSERT_GT(lines.size(), 20u) << run.out;
    const std::vector<bool> table = map_table_lines(lines);
    ASSERT_NE(std::find(table.begin(), table.end(), true), table.end()) << run.out;
    for (std::size_t i = 0; i < lines.size(); ++i) {
      if (!table[i]) EXPECT_LE(display_columns(lines[i]), kColumns) << "'" << lines[i] << "'";
    }
  }
}

// Every line, the map table's included.
TEST_F(CliDemoText, EveryLineFits80Columns) {
  for (const CliRun& run : runs_at_80_columns()) {
    ASSERT_EQ(run.exit_code, 0) << run.describe();
    ASSERT_GT(run.out_lines().size(), 20u) << run.out;
    for (const std::string& line : run.out_lines()) {
      EXPECT_LE(display_columns(line), kColumns) << "'" << line << "'";
    }
  }
}

// Every column the map counts is still in the demo's table header.
TEST_F(CliDemoText, NarrowTableKeepsEveryColumn) {
  CliRun run = run_cli({"demo"});
  ASSERT_EQ(run.exit_code, 0) << run.describe();
  std::string header;
  for (const std::string& line : run.out_lines()) {
    if (line.rfind("ADDRESS ", 0) == 0) header = line;
  }
  ASSERT_FALSE(header.empty()) << run.out;
  for (const char* column :
       {"PERM", "SIZE", "PRESENT", "SWAPPED", "PFNZERO", "HUGE", "FILE", "WRITTEN", "GUARD"}) {
    EXPECT_NE(header.find(column), std::string::npos) << column << ": " << header;
  }
}

// A bad value of a variable the library reads (the scan backend, the write-tracking
// engine) is read before anything happens: one line, nothing on stdout, no workload left,
// the hugetlb pool as it was.
void expect_demo_refuses(const char* variable, const std::string& message) {
  ScopedEnv inherited(variable, std::nullopt);  // it would win over ours
  const long pool = nr_hugepages();
  LeftoverCatcher catcher;
  CliRun run = run_cli({"demo"}, {std::string(variable) + "=bogus"});
  EXPECT_TRUE(catcher.leftovers().empty());
  EXPECT_EQ(run.exit_code, 2) << run.describe();
  EXPECT_EQ(run.out, "");
  EXPECT_EQ(run.err, "pagescan: " + message + "\n");
  EXPECT_EQ(nr_hugepages(), pool);
}

TEST(CliDemoEnvironment, BadPagescanBackendFailsBeforeTheDemoStarts) {
  expect_demo_refuses("PAGESCAN_BACKEND",
                      "PAGESCAN_BACKEND: unknown backend 'bogus' (expected auto, kernel or "
                      "emulated)");
}

TEST(CliDemoEnvironment, BadPagescanWatchEngineFailsBeforeTheDemoStarts) {
  expect_demo_refuses("PAGESCAN_WATCH_ENGINE",
                      "PAGESCAN_WATCH_ENGINE: unknown write-tracking engine 'bogus' (expected "
                      "auto, uffd, soft-dirty, mprotect or everything)");
}

}  // namespace
}  // namespace pagescan::test
