// The pagescan binary's contract for `scan`, `--version` and `--help`, run as a user runs them
// (`demo` is in test_cli_demo.cpp).
//
// Each test runs the built binary (PAGESCAN_CLI_PATH) on a child process with a known
// layout and checks what it prints against the library's own scan() of the same child
// for the same request: the CLI must add formatting, never change the answer. Usage
// errors must exit 2 with one stderr line naming the bad value; runtime errors exit 1.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "pagescan/features.hpp"
#include "pagescan/scan.hpp"
#include "support/child_process.hpp"
#include "support/cli_runner.hpp"
#include "support/kernel_facts.hpp"
#include "support/memory.hpp"

namespace pagescan::test {
namespace {

using nlohmann::json;

constexpr int kMadvGuardInstall = 102;  // MADV_GUARD_INSTALL, Linux 6.13

std::string hex(std::uint64_t v) {
  std::ostringstream s;
  s << "0x" << std::hex << v;
  return s.str();
}

std::uint64_t from_hex(const std::string& text) {
  EXPECT_TRUE(text.rfind("0x", 0) == 0) << text;
  return std::stoull(text.substr(2), nullptr, 16);
}

// The child's layout: 16 anonymous pages, 0-3 written, 4-7 read (the zero page where the
// kernel has it, else private pages), 8-11 untouched (page 10 a guard page when the
// kernel has guard regions), 12-15 written; then a private file mapping of 4 pages whose
// first 2 were read.
std::vector<std::uint64_t> build_known_layout() {
  Mapping anon = Mapping::anonymous(16);
  ::madvise(anon.data(), anon.length(), MADV_NOHUGEPAGE);
  anon.write_pages(0, 4);
  for (std::size_t i = 4; i < 8; ++i) anon.read_page(i);
  if (kernel_has(Fact::guard_regions)) ::madvise(anon.page(10), page_size(), kMadvGuardInstall);
  anon.write_pages(12, 4);
  Mapping file = Mapping::file(4, /*shared=*/false);
  file.read_page(0);
  file.read_page(1);
  std::vector<std::uint64_t> addresses = {anon.start(), anon.end(), file.start(), file.end()};
  anon.release();  // the child keeps its layout until it is killed
  file.release();
  return addresses;
}

// Every category the kernel (or, without the ioctl, the emulator) reports: the CLI's
// default --return.
Categories default_return() {
  return kernel_has(Fact::pagemap_scan) ? accepted_scan_categories() : Categories::all_known();
}

// The regions of a `scan --json` answer, parsed back into library values.
std::vector<PageRegion> regions_of(const json& answer) {
  std::vector<PageRegion> regions;
  for (const json& r : answer.at("regions")) {
    PageRegion region;
    region.start = from_hex(r.at("start").get<std::string>());
    region.end = from_hex(r.at("end").get<std::string>());
    for (const json& name : r.at("categories")) {
      auto category = parse_category(name.get<std::string>());
      EXPECT_TRUE(category.has_value()) << name;
      if (category) region.categories |= *category;
    }
    regions.push_back(region);
  }
  return regions;
}

std::string describe(const std::vector<PageRegion>& regions) {
  std::string text;
  for (const PageRegion& r : regions) {
    text += "[" + hex(r.start) + "-" + hex(r.end) + " " + to_string(r.categories) + "] ";
  }
  return text;
}

// Checks the one-line usage-error contract: exit 2, nothing on stdout, one stderr line
// "pagescan: ..." that names `offending`.
void expect_usage_error(const CliRun& run, const std::string& offending) {
  EXPECT_EQ(run.exit_code, 2) << run.describe();
  EXPECT_EQ(run.out, "") << run.describe();
  ASSERT_EQ(run.err_lines().size(), 1u) << run.describe();
  EXPECT_EQ(run.err.rfind("pagescan: ", 0), 0u) << run.describe();
  EXPECT_NE(run.err.find(offending), std::string::npos)
      << "the message should name '" << offending << "': " << run.describe();
}

// One child with the known layout for the whole suite: forking per test would only
// repeat the same layout.
class CliScan : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    (void)kernel_fact(Fact::guard_regions);  // probed here, not in the child
    child_ = std::make_unique<ChildProcess>(build_known_layout);
    ASSERT_EQ(child_->addresses().size(), 4u);
    auto process = Process::attach(child_->pid());
    ASSERT_TRUE(process.has_value()) << process.error().message();
    process_ = std::make_unique<Process>(std::move(*process));
  }
  static void TearDownTestSuite() {
    process_.reset();
    child_.reset();
  }

  static std::string pid() { return std::to_string(child_->pid()); }
  static std::uint64_t anon_start() { return child_->addresses()[0]; }
  static std::uint64_t anon_end() { return child_->addresses()[1]; }
  static std::string anon_range() { return hex(anon_start()) + "-" + hex(anon_end()); }

  // The library's answer for the child.
  static ScanResult library_scan(const ScanRequest& request) {
    auto result = scan(*process_, request);
    EXPECT_TRUE(result.has_value()) << result.error().message();
    return result.has_value() ? *result : ScanResult{};
  }

  // Runs the CLI, expects success, parses stdout as JSON.
  static json run_json(const std::vector<std::string>& args) {
    CliRun run = run_cli(args);
    EXPECT_EQ(run.exit_code, 0) << run.describe();
    EXPECT_EQ(run.err, "") << run.describe();
    json answer = json::parse(run.out, nullptr, /*allow_exceptions=*/false);
    EXPECT_FALSE(answer.is_discarded()) << "not JSON: " << run.out.substr(0, 2000);
    return answer.is_discarded() ? json::object() : answer;
  }

  static std::unique_ptr<ChildProcess> child_;
  static std::unique_ptr<Process> process_;
};

std::unique_ptr<ChildProcess> CliScan::child_;
std::unique_ptr<Process> CliScan::process_;

TEST_F(CliScan, JsonRegionsEqualLibraryScanOfChild) {
  json answer = run_json({"scan", pid(), "--range", anon_range(), "--json"});
  ScanResult expected =
      library_scan(ScanRequest::over(anon_start(), anon_end()).returning(default_return()));
  std::vector<PageRegion> got = regions_of(answer);
  EXPECT_EQ(got, expected.regions)
      << "cli: " << describe(got) << "\nlibrary: " << describe(expected.regions);
  // Written, zero-page and untouched pages differ in category, so a scan that merged
  // everything into one region would be wrong even if the library agreed.
  EXPECT_GE(got.size(), 3u) << describe(got);
  EXPECT_EQ(answer.at("totals").at("regions").get<std::uint64_t>(), expected.regions.size());
  EXPECT_EQ(answer.at("totals").at("pages").get<std::uint64_t>(), expected.pages);
  EXPECT_EQ(answer.at("walk_end").get<std::string>(), hex(expected.walk_end));
  EXPECT_EQ(answer.at("backend").get<std::string>(), std::string(to_string(expected.backend)));
  EXPECT_TRUE(answer.at("complete").get<bool>());
}

TEST_F(CliScan, JsonHasDocumentedFieldsAndTypes) {
  json a = run_json({"scan", pid(), "--range", anon_range(), "--format", "json"});
  const std::regex address("0x[0-9a-f]+");
  ASSERT_TRUE(a.is_object()) << a.dump();
  EXPECT_TRUE(a.at("pid").is_number_integer());
  EXPECT_EQ(a.at("pid").get<long>(), child_->pid());
  EXPECT_TRUE(a.at("backend").is_string());
  EXPECT_EQ(a.at("page_size").get<std::uint64_t>(), page_size());
  for (const char* key : {"start", "end", "walk_end"}) {
    ASSERT_TRUE(a.at(key).is_string()) << key;
    EXPECT_TRUE(std::regex_match(a.at(key).get<std::string>(), address)) << key << ": " << a[key];
  }
  EXPECT_EQ(a.at("start").get<std::string>(), hex(anon_start()));
  EXPECT_EQ(a.at("end").get<std::string>(), hex(anon_end()));
  EXPECT_TRUE(a.at("complete").is_boolean());
  ASSERT_TRUE(a.at("regions").is_array());
  ASSERT_FALSE(a.at("regions").empty());
  for (const json& r : a.at("regions")) {
    ASSERT_TRUE(r.is_object());
    EXPECT_TRUE(std::regex_match(r.at("start").get<std::string>(), address)) << r;
    EXPECT_TRUE(std::regex_match(r.at("end").get<std::string>(), address)) << r;
    EXPECT_TRUE(r.at("pages").is_number_unsigned()) << r;
    EXPECT_EQ(r.at("pages").get<std::uint64_t>() * page_size(),
              from_hex(r.at("end").get<std::string>()) - from_hex(r.at("start").get<std::string>()))
        << r;
    ASSERT_TRUE(r.at("categories").is_array()) << r;
    // Names exactly as the library prints them, in bit order.
    std::vector<std::string> names = r.at("categories").get<std::vector<std::string>>();
    std::vector<std::string> in_bit_order;
    for (Category c : kAllCategories) {
      if (std::find(names.begin(), names.end(), to_string(c)) != names.end()) {
        in_bit_order.emplace_back(to_string(c));
      }
    }
    EXPECT_EQ(names, in_bit_order) << r;
  }
  ASSERT_TRUE(a.at("totals").is_object());
  EXPECT_TRUE(a.at("totals").at("regions").is_number_unsigned());
  EXPECT_TRUE(a.at("totals").at("pages").is_number_unsigned());
  EXPECT_EQ(a.at("totals").at("regions").get<std::size_t>(), a.at("regions").size());
}

TEST_F(CliScan, FiltersGiveTheLibraryAnswerForTheSameRequest) {
  const std::string all_of = "present,!pfnzero", any_of = "written,file";
  const std::string returning = "present,pfnzero,written";
  json answer = run_json({"scan", pid(), "--range", anon_range(), "--all-of", all_of, "--any-of",
                          any_of, "--return", returning, "--json"});
  auto all = parse_category_filter(all_of);
  auto any = parse_category_filter(any_of);
  auto ret = parse_categories(returning);
  ASSERT_TRUE(all && any && ret);
  auto request = make_request(anon_start(), anon_end(), *all, *any, *ret);
  ASSERT_TRUE(request.has_value()) << request.error().message();
  ScanResult expected = library_scan(*request);
  std::vector<PageRegion> got = regions_of(answer);
  EXPECT_EQ(got, expected.regions)
      << "cli: " << describe(got) << "\nlibrary: " << describe(expected.regions);
  // The untouched pages are filtered out, and the read ones (4-7) when they are the zero
  // page; private read pages join the written pages 0-3 in one region.
  EXPECT_EQ(got.size(), 2u) << describe(got);
  std::uint64_t pages = 0;
  for (const PageRegion& r : got) pages += r.pages(page_size());
  EXPECT_EQ(pages, kernel_has(Fact::zero_page) ? 8u : 12u) << kernel_fact(Fact::zero_page).finding;
  for (const PageRegion& r : got) EXPECT_EQ(r.categories, Category::present | Category::written);
}

TEST_F(CliScan, ReturnListIsNotWidened) {
  // Only what was asked for comes back: no category beyond --return.
  json answer = run_json({"scan", pid(), "--range", anon_range(), "--return", "pfnzero", "--json"});
  ScanResult expected = library_scan(
      ScanRequest::over(anon_start(), anon_end()).returning(Categories(Category::pfnzero)));
  std::vector<PageRegion> got = regions_of(answer);
  EXPECT_EQ(got, expected.regions) << describe(got);
  for (const PageRegion& r : got) EXPECT_TRUE(Categories(Category::pfnzero).contains(r.categories));
}

TEST_F(CliScan, DefaultRangeIsTheWholeAddressSpaceOfAnotherPid) {
  json answer = run_json({"scan", pid(), "--json"});
  EXPECT_EQ(answer.at("start").get<std::string>(), "0x0");
  EXPECT_EQ(answer.at("end").get<std::string>(), hex(kernel_user_address_limit()));
  EXPECT_TRUE(answer.at("complete").get<bool>());
  ScanResult expected =
      library_scan(ScanRequest::over(0, kernel_user_address_limit()).returning(default_return()));
  std::vector<PageRegion> got = regions_of(answer);
  EXPECT_EQ(got, expected.regions)
      << "cli: " << describe(got) << "\nlibrary: " << describe(expected.regions);
  // The child's known mappings lie inside the answer.
  auto covers = [&](std::uint64_t address) {
    return std::any_of(got.begin(), got.end(),
                       [&](const PageRegion& r) { return r.start <= address && address < r.end; });
  };
  EXPECT_TRUE(covers(anon_start()));
  EXPECT_TRUE(covers(child_->addresses()[2]));
}

TEST_F(CliScan, MaxPagesStopIsReportedIncompleteWithResumePoint) {
  json answer = run_json({"scan", pid(), "--range", anon_range(), "--max-pages", "5", "--json"});
  ScanResult expected = library_scan(
      ScanRequest::over(anon_start(), anon_end()).returning(default_return()).limit_pages(5));
  ASSERT_EQ(expected.stop_reason, StopReason::max_pages);
  EXPECT_FALSE(answer.at("complete").get<bool>());
  EXPECT_EQ(answer.at("stop_reason").get<std::string>(), "max_pages");
  EXPECT_EQ(answer.at("walk_end").get<std::string>(), hex(expected.walk_end));
  EXPECT_EQ(answer.at("totals").at("pages").get<std::uint64_t>(), 5u);
  EXPECT_EQ(regions_of(answer), expected.regions);
}

TEST_F(CliScan, TableTotalsLineSaysWhereToResumeAfterMaxPages) {
  CliRun run = run_cli({"scan", pid(), "--range", anon_range(), "--max-pages", "5"});
  ASSERT_EQ(run.exit_code, 0) << run.describe();
  ScanResult expected = library_scan(
      ScanRequest::over(anon_start(), anon_end()).returning(default_return()).limit_pages(5));
  std::vector<std::string> lines = run.out_lines(), totals;
  std::string resume;  // the line after the totals
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].rfind("total", 0) == 0) {
      totals.push_back(lines[i]);
      if (i + 1 < lines.size()) resume = lines[i + 1];
    }
  }
  ASSERT_EQ(totals.size(), 1u) << run.out;
  EXPECT_NE(totals[0].find("stopped at max-pages"), std::string::npos) << totals[0];
  EXPECT_EQ(resume, "resume at " + hex(expected.walk_end) + " (--range " + hex(expected.walk_end) +
                        "-" + hex(anon_end()) + ")")
      << run.out;
}

TEST_F(CliScan, TableHasOneRowPerRegionPlusTotals) {
  json answer = run_json({"scan", pid(), "--range", anon_range(), "--json"});
  CliRun run = run_cli({"scan", pid(), "--range", anon_range()});
  ASSERT_EQ(run.exit_code, 0) << run.describe();
  EXPECT_EQ(run.err, "");
  std::vector<std::string> rows, totals;
  for (const std::string& line : run.out_lines()) {
    if (line.rfind("0x", 0) == 0) rows.push_back(line);
    if (line.rfind("total", 0) == 0) totals.push_back(line);
  }
  const json& regions = answer.at("regions");
  ASSERT_EQ(rows.size(), regions.size()) << run.out;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    std::istringstream fields(rows[i]);
    std::string start, end, pages;
    fields >> start >> end >> pages;
    EXPECT_EQ(start, regions[i].at("start").get<std::string>()) << rows[i];
    EXPECT_EQ(end, regions[i].at("end").get<std::string>()) << rows[i];
    EXPECT_EQ(pages, std::to_string(regions[i].at("pages").get<std::uint64_t>())) << rows[i];
    // Every category of the region is in its row.
    for (const json& name : regions[i].at("categories")) {
      EXPECT_NE(rows[i].find(name.get<std::string>()), std::string::npos) << rows[i];
    }
  }
  ASSERT_EQ(totals.size(), 1u) << run.out;
  std::uint64_t pages = answer.at("totals").at("pages").get<std::uint64_t>();
  EXPECT_NE(totals[0].find(std::to_string(regions.size()) + " region"), std::string::npos)
      << totals[0];
  EXPECT_NE(totals[0].find(std::to_string(pages) + " page"), std::string::npos) << totals[0];
}

TEST_F(CliScan, CsvAgreesWithJson) {
  json answer = run_json({"scan", pid(), "--range", anon_range(), "--json"});
  CliRun run = run_cli({"scan", pid(), "--range", anon_range(), "--format", "csv"});
  ASSERT_EQ(run.exit_code, 0) << run.describe();
  EXPECT_EQ(run.err, "");
  std::vector<std::string> lines = run.out_lines();
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines[0], "start,end,pages,bytes,categories");
  const json& regions = answer.at("regions");
  ASSERT_EQ(lines.size(), regions.size() + 1) << run.out;
  for (std::size_t i = 0; i < regions.size(); ++i) {
    std::vector<std::string> cells;
    std::stringstream row(lines[i + 1]);
    for (std::string cell; std::getline(row, cell, ',');) cells.push_back(cell);
    if (lines[i + 1].back() == ',') cells.emplace_back();
    ASSERT_EQ(cells.size(), 5u) << lines[i + 1];
    const json& r = regions[i];
    EXPECT_EQ(cells[0], r.at("start").get<std::string>());
    EXPECT_EQ(cells[1], r.at("end").get<std::string>());
    EXPECT_EQ(cells[2], std::to_string(r.at("pages").get<std::uint64_t>()));
    EXPECT_EQ(cells[3], std::to_string(from_hex(r.at("end").get<std::string>()) -
                                       from_hex(r.at("start").get<std::string>())));
    std::string joined;
    for (const json& name : r.at("categories")) {
      if (!joined.empty()) joined += '|';
      joined += name.get<std::string>();
    }
    EXPECT_EQ(cells[4], joined) << lines[i + 1];
  }
}

// Usage errors: exit 2, one line naming the bad value. "{pid}" becomes the child's pid
// and "{range}" the child's anonymous mapping (so only the tested value is wrong).
struct UsageCase {
  const char* name;
  std::vector<std::string> args;
  std::string offending;
};

class CliUsageError : public CliScan, public ::testing::WithParamInterface<UsageCase> {};

TEST_P(CliUsageError, ExitsTwoWithOneLineNamingTheValue) {
  std::vector<std::string> args = GetParam().args;
  for (std::string& a : args) {
    if (a == "{pid}") a = pid();
    if (a == "{range}") a = anon_range();
  }
  expect_usage_error(run_cli(args), GetParam().offending);
}

INSTANTIATE_TEST_SUITE_P(
    Cli, CliUsageError,
    ::testing::Values(
        UsageCase{"UnknownCategory", {"scan", "{pid}", "--all-of", "present,presnt"}, "presnt"},
        UsageCase{"UnknownAnyOfCategory", {"scan", "{pid}", "--any-of", "swaped"}, "swaped"},
        UsageCase{"UnknownReturnCategory", {"scan", "{pid}", "--return", "writen"}, "writen"},
        UsageCase{"RangeWithoutEnd", {"scan", "{pid}", "--range", "0x1000"}, "0x1000"},
        UsageCase{"RangeBadNumber", {"scan", "{pid}", "--range", "0x1000-0xzz"}, "0xzz"},
        UsageCase{"RangeEndBeforeStart",
                  {"scan", "{pid}", "--range", "0x200000-0x100000"},
                  "0x200000-0x100000"},
        UsageCase{"NonNumericPid", {"scan", "12ab"}, "12ab"},
        UsageCase{"ContradictoryLists",
                  {"scan", "{pid}", "--all-of", "present", "--any-of", "!present,file"},
                  "present"},
        UsageCase{
            "ContradictoryWithinOneList", {"scan", "{pid}", "--all-of", "file,!file"}, "file"},
        UsageCase{"UnalignedStart", {"scan", "{pid}", "--range", "0x1001-0x200000"}, "0x1001"},
        UsageCase{
            "UnknownFormat", {"scan", "{pid}", "--range", "{range}", "--format", "xml"}, "xml"},
        UsageCase{"BadMaxPages", {"scan", "{pid}", "--max-pages", "ten"}, "ten"},
        UsageCase{"UnknownOption", {"scan", "{pid}", "--frobnicate"}, "--frobnicate"},
        UsageCase{"UnknownCommand", {"frobnicate"}, "frobnicate"}),
    [](const ::testing::TestParamInfo<UsageCase>& info) { return std::string(info.param.name); });

TEST(CliScanErrors, MissingTargetIsAUsageError) {
  CliRun run = run_cli({"scan"});
  EXPECT_EQ(run.exit_code, 2) << run.describe();
  ASSERT_EQ(run.err_lines().size(), 1u) << run.describe();
  EXPECT_EQ(run.err.rfind("pagescan: ", 0), 0u) << run.describe();
}

TEST(CliScanErrors, MissingProcessExitsOneWithMessage) {
  // A pid that just exited and was reaped: it names no process (pid reuse within the
  // next few milliseconds would need the whole pid space to wrap).
  pid_t gone = ::fork();
  ASSERT_GE(gone, 0);
  if (gone == 0) ::_exit(0);
  ASSERT_EQ(::waitpid(gone, nullptr, 0), gone);
  CliRun run = run_cli({"scan", std::to_string(gone), "--json"});
  EXPECT_EQ(run.exit_code, 1) << run.describe();
  EXPECT_EQ(run.out, "") << run.describe();
  ASSERT_EQ(run.err_lines().size(), 1u) << run.describe();
  EXPECT_EQ(run.err.rfind("pagescan: ", 0), 0u) << run.describe();
  EXPECT_NE(run.err.find(std::to_string(gone)), std::string::npos) << run.describe();
}

TEST(CliVersion, PrintsProgramNameAndVersion) {
  CliRun run = run_cli({"--version"});
  EXPECT_EQ(run.exit_code, 0) << run.describe();
  EXPECT_TRUE(std::regex_match(run.out, std::regex("pagescan [0-9]+\\.[0-9]+\\.[0-9]+\n")))
      << run.out;
}

TEST(CliHelp, HelpExitsZeroAndListsCommandsAndOptions) {
  CliRun top = run_cli({"--help"});
  EXPECT_EQ(top.exit_code, 0) << top.describe();
  EXPECT_NE(top.out.find("scan"), std::string::npos) << top.out;
  EXPECT_NE(top.out.find("demo"), std::string::npos) << top.out;
  CliRun scan_help = run_cli({"scan", "--help"});
  EXPECT_EQ(scan_help.exit_code, 0) << scan_help.describe();
  for (const char* option : {"--range", "--all-of", "--any-of", "--return", "--max-pages",
                             "--write-protect", "--check-wp-async", "--format", "--json"}) {
    EXPECT_NE(scan_help.out.find(option), std::string::npos) << option << "\n" << scan_help.out;
  }
}

}  // namespace
}  // namespace pagescan::test
