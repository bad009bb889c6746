// pagescan scan (and --version, --help) run as a real binary: its JSON against the
// library's own answer, CSV against JSON, and every usage error's message and exit code.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "pagescan/scan.hpp"
#include "support/child_process.hpp"
#include "support/cli_runner.hpp"
#include "support/kernel_facts.hpp"
#include "support/memory.hpp"
#include "support/scan_helpers.hpp"

using namespace pagescan;
using namespace pagescan::test;
using nlohmann::json;

namespace {

std::string hex(std::uint64_t v) {
  std::ostringstream s;
  s << "0x" << std::hex << v;
  return s.str();
}

// A child with 4 written pages, 4 read (the zero page, or private zero-filled pages on a
// kernel without it) and 4 untouched ones.
std::vector<std::uint64_t> layout() {
  const std::size_t page = page_size();
  auto* p = static_cast<char*>(
      ::mmap(nullptr, 12 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  ::madvise(p, 12 * page, MADV_NOHUGEPAGE);
  for (int i = 0; i < 4; ++i) p[i * page] = 1;
  for (int i = 4; i < 8; ++i) (void)*static_cast<volatile char*>(p + i * page);
  return {reinterpret_cast<std::uint64_t>(p), reinterpret_cast<std::uint64_t>(p) + 12 * page};
}

struct CliScan : ::testing::Test {
  void SetUp() override { PAGESCAN_REQUIRE_FACT(Fact::pagemap_scan); }
};

}  // namespace

TEST_F(CliScan, JsonHasTheDocumentedShapeAndTheLibrarysRegions) {
  ChildProcess child(layout);
  const std::uint64_t lo = child.addresses()[0], hi = child.addresses()[1];
  std::string range = hex(lo) + "-" + hex(hi);
  CliRun run = run_cli({"scan", std::to_string(child.pid()), "--range", range, "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  json j = json::parse(run.out);
  for (const char* key : {"pid", "backend", "page_size", "start", "end", "walk_end", "complete",
                          "regions", "totals"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_EQ(j["pid"], child.pid());
  EXPECT_EQ(j["backend"], "kernel");
  EXPECT_EQ(j["page_size"], page_size());
  EXPECT_EQ(j["start"], hex(lo));
  EXPECT_EQ(j["end"], hex(hi));
  EXPECT_EQ(j["walk_end"], hex(hi));
  EXPECT_EQ(j["complete"], true);
  EXPECT_FALSE(j.contains("approximate")) << "only present when non-empty";

  auto proc = Process::attach(child.pid());
  ASSERT_TRUE(proc);
  auto lib = scan(*proc, ScanRequest::over(lo, hi).returning(accepted_scan_categories()));
  ASSERT_TRUE(lib);
  ASSERT_EQ(j["regions"].size(), lib->regions.size());
  std::uint64_t pages = 0;
  for (std::size_t i = 0; i < lib->regions.size(); ++i) {
    const json& r = j["regions"][i];
    EXPECT_EQ(r["start"], hex(lib->regions[i].start));
    EXPECT_EQ(r["end"], hex(lib->regions[i].end));
    EXPECT_EQ(r["pages"], lib->regions[i].pages(page_size()));
    std::vector<std::string> names;
    for (Category c : kAllCategories) {
      if (lib->regions[i].categories.contains(c)) names.emplace_back(to_string(c));
    }
    EXPECT_EQ(r["categories"].get<std::vector<std::string>>(), names);
    pages += lib->regions[i].pages(page_size());
  }
  EXPECT_EQ(j["totals"]["regions"], lib->regions.size());
  EXPECT_EQ(j["totals"]["pages"], pages);
  // The zero pages carry pfnzero, spelled as the kernel does; addresses are lowercase hex.
  if (kernel_has(Fact::zero_page)) {
    EXPECT_NE(run.out.find("\"pfnzero\""), std::string::npos);
  } else {
    EXPECT_EQ(run.out.find("\"pfnzero\""), std::string::npos)
        << kernel_fact(Fact::zero_page).finding;
  }
  EXPECT_EQ(run.out.find("0X"), std::string::npos);
}

TEST_F(CliScan, CsvAndTableAgreeWithJson) {
  ChildProcess child(layout);
  std::string range = hex(child.addresses()[0]) + "-" + hex(child.addresses()[1]);
  std::string pid = std::to_string(child.pid());
  CliRun js = run_cli({"scan", pid, "--range", range, "--format", "json"});
  CliRun csv = run_cli({"scan", pid, "--range", range, "--format", "csv"});
  CliRun table = run_cli({"scan", pid, "--range", range});
  ASSERT_EQ(js.exit_code, 0);
  ASSERT_EQ(csv.exit_code, 0);
  ASSERT_EQ(table.exit_code, 0);
  json j = json::parse(js.out);
  std::istringstream lines(csv.out);
  std::string line;
  std::getline(lines, line);
  EXPECT_EQ(line, "start,end,pages,bytes,categories");
  std::size_t i = 0;
  while (std::getline(lines, line)) {
    ASSERT_LT(i, j["regions"].size());
    const json& r = j["regions"][i++];
    std::string cats;
    for (const auto& c : r["categories"]) cats += (cats.empty() ? "" : "|") + c.get<std::string>();
    std::uint64_t pages = r["pages"];
    EXPECT_EQ(line, r["start"].get<std::string>() + "," + r["end"].get<std::string>() + "," +
                        std::to_string(pages) + "," + std::to_string(pages * page_size()) + "," +
                        cats);
  }
  EXPECT_EQ(i, j["regions"].size());
  // The table: a row per region (each region's start appears) and a totals line.
  for (const auto& r : j["regions"]) {
    EXPECT_NE(table.out.find(r["start"].get<std::string>()), std::string::npos);
  }
  EXPECT_NE(table.out.find("total: " + std::to_string(j["regions"].size()) + " region"),
            std::string::npos)
      << table.out;
}

TEST_F(CliScan, MaxPagesSaysTheOutputStoppedEarly) {
  ChildProcess child(layout);
  std::string range = hex(child.addresses()[0]) + "-" + hex(child.addresses()[1]);
  std::string pid = std::to_string(child.pid());
  CliRun js =
      run_cli({"scan", pid, "--range", range, "--all-of", "present", "--max-pages", "2", "--json"});
  ASSERT_EQ(js.exit_code, 0) << js.err;
  json j = json::parse(js.out);
  EXPECT_EQ(j["complete"], false);
  EXPECT_EQ(j["totals"]["pages"], 2);
  EXPECT_EQ(j["walk_end"], hex(child.addresses()[0] + 2 * page_size()));
  CliRun table =
      run_cli({"scan", pid, "--range", range, "--all-of", "present", "--max-pages", "2"});
  EXPECT_NE(table.out.find("; stopped at max-pages\nresume at " +
                           hex(child.addresses()[0] + 2 * page_size()) + " (--range "),
            std::string::npos)
      << table.out;
}

TEST_F(CliScan, FiltersReachTheKernel) {
  ChildProcess child(layout);
  std::string range = hex(child.addresses()[0]) + "-" + hex(child.addresses()[1]);
  CliRun run = run_cli({"scan", std::to_string(child.pid()), "--range", range, "--all-of",
                        "present,!pfnzero", "--return", "present", "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  json j = json::parse(run.out);
  // The written pages, and the read ones unless they are the zero page.
  const int read_private = kernel_has(Fact::zero_page) ? 0 : 4;
  ASSERT_EQ(j["regions"].size(), 1u);
  EXPECT_EQ(j["regions"][0]["pages"], 4 + read_private) << kernel_fact(Fact::zero_page).finding;
  EXPECT_EQ(j["regions"][0]["categories"], json::array({"present"}));
}

struct UsageCase {
  std::vector<std::string> args;
  std::string must_name;  // the bad value, in the message
};

TEST(CliUsage, EveryUsageErrorIsOneLineNamingTheValueWithExit2) {
  const std::vector<UsageCase> cases = {
      {{"scan", "self", "--all-of", "present,dirty"}, "'dirty'"},
      {{"scan", "self", "--any-of", "bogus"}, "'bogus'"},
      {{"scan", "self", "--return", "!file"}, "!file"},
      {{"scan", "self", "--range", "0x2000"}, "'0x2000'"},
      {{"scan", "self", "--range", "0xzz-0x1000"}, "'0xzz-0x1000'"},
      {{"scan", "self", "--range", "0x2000-0x1000"}, "end is before start"},
      {{"scan", "self", "--range", "0x1001-0x2000"}, "0x1001"},
      {{"scan", "abc"}, "'abc'"},
      {{"scan", "-5"}, ""},
      {{"scan", "self", "--all-of", "present", "--any-of", "!present"}, "present"},
      {{"scan", "self", "--all-of", "file,!file"}, "file"},
      {{"scan", "self", "--format", "xml"}, "'xml'"},
      {{"scan", "self", "--max-pages", "12x"}, "'12x'"},
      {{"scan", "self", "--backend", "magic"}, "'magic'"},
      {{"scan", "self", "--json", "--format", "csv"}, "'csv'"},
      {{"nosuchcommand"}, "nosuchcommand"},
      {{}, ""},
  };
  for (const UsageCase& c : cases) {
    CliRun run = run_cli(c.args);
    std::string shown;
    for (const auto& a : c.args) shown += a + " ";
    SCOPED_TRACE(shown);
    EXPECT_EQ(run.exit_code, 2) << run.err;
    std::string line = single_line(run.err);
    EXPECT_FALSE(line.empty()) << "expected one line on stderr, got: " << run.err;
    EXPECT_EQ(line.rfind("pagescan: ", 0), 0u) << line;
    EXPECT_NE(line.find(c.must_name), std::string::npos) << line;
    EXPECT_TRUE(run.out.empty()) << "no partial output on error";
  }
}

TEST(CliUsage, MissingProcessIsARuntimeErrorWithExit1) {
  CliRun run = run_cli({"scan", "1073741823"});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(single_line(run.err).find("no process with pid 1073741823"), std::string::npos)
      << run.err;
  EXPECT_TRUE(run.out.empty());
}

TEST(CliUsage, VersionAndHelp) {
  CliRun version = run_cli({"--version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_EQ(version.out.rfind("pagescan ", 0), 0u) << version.out;
  CliRun help = run_cli({"scan", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("Examples:"), std::string::npos);
  EXPECT_NE(help.out.find("--all-of"), std::string::npos);
}
