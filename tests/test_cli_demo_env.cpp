// pagescan demo and its surroundings: the text fits a 100-column terminal (every table,
// with Unicode or ASCII strips), and a bad PAGESCAN_BACKEND stops the demo before it
// prints, forks or touches vm.nr_hugepages.
#include <gtest/gtest.h>

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

constexpr std::size_t kColumns = 100;

// Terminal columns of a line without escape codes: one per UTF-8 character (the strips'
// blocks and '·' are single-width).
std::size_t columns(const std::string& line) {
  std::size_t n = 0;
  for (unsigned char c : line) n += (c & 0xc0) != 0x80;
  return n;
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

// The demo is read on a terminal: before, its table rows reached 192 columns and wrapped.
// Every line (features, the parts' rows, heat strips, notes, tracking rounds) fits.
TEST_F(CliDemoText, EveryLineFitsIn100Columns) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"demo"}, std::vector<std::string>{"demo", "--ascii"}}) {
    SCOPED_TRACE(args.back());
    CliRun run = run_cli(args);
    ASSERT_EQ(run.exit_code, 0) << run.describe();
    const std::vector<std::string> lines = run.out_lines();
    ASSERT_GT(lines.size(), 20u) << run.out;
    for (const std::string& line : lines) {
      EXPECT_LE(columns(line), kColumns) << "'" << line << "'";
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

// The variable is read before anything happens: one line, nothing on stdout, no workload
// left, the hugetlb pool as it was.
TEST(CliDemoEnvironment, BadPagescanBackendFailsBeforeTheDemoStarts) {
  ScopedEnv inherited("PAGESCAN_BACKEND", std::nullopt);  // it would win over ours
  const long pool = nr_hugepages();
  LeftoverCatcher catcher;
  CliRun run = run_cli({"demo"}, {"PAGESCAN_BACKEND=bogus"});
  EXPECT_TRUE(catcher.leftovers().empty());
  EXPECT_EQ(run.exit_code, 2) << run.describe();
  EXPECT_EQ(run.out, "");
  EXPECT_EQ(run.err,
            "pagescan: PAGESCAN_BACKEND: unknown backend 'bogus' (expected auto, kernel or "
            "emulated)\n");
  EXPECT_EQ(nr_hugepages(), pool);
}

}  // namespace
}  // namespace pagescan::test
