// The CLI rows of the bad-input matrix (docs/errors.md): every usage and runtime error of
// every command, run as a user runs the binary. Each row pins the exact stderr line, the
// exit code (2 usage, 1 runtime), an empty stdout and, for `map --svg`, that no file (nor
// temporary) is left behind.
//
// "{pid}" is a child process with four written pages at [{lo}, {hi}); "{tmp}" a fresh
// directory; "{page}" and "{limit}" the page size and the user address-space limit. A row
// can carry `pending` (the line is a proposal, skipped as "pending fix"); none does today.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "pagescan/features.hpp"
#include "support/child_process.hpp"
#include "support/cli_runner.hpp"
#include "support/error_matrix_state.hpp"
#include "support/kernel_facts.hpp"
#include "support/memory.hpp"
#include "support/temp_dir.hpp"
#include "support/watch_helpers.hpp"

namespace pagescan::test {
namespace {

const std::string kCategories =
    "(expected one of: wpallowed, written, file, present, swapped, pfnzero, huge, soft-dirty, "
    "guard)";
const std::string kRangeExpected = "expected START-END, e.g. 0x7f0000000000-0x7f0000100000";
const std::string kNumberExpected = "expected a number in hex (0x...) or decimal";
const std::string kPermission =
    ": permission denied (reading another process's page tables needs ptrace access: same user "
    "and ptrace_scope, or CAP_SYS_PTRACE)";

// The binary runs with the library's defaults: a PAGESCAN_BACKEND or PAGESCAN_WATCH_ENGINE
// in the caller's environment would change the messages (rows that need one add it).
class DefaultsEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    backend_.emplace("PAGESCAN_BACKEND", std::nullopt);
    engine_.emplace("PAGESCAN_WATCH_ENGINE", std::nullopt);
  }
  void TearDown() override {
    backend_.reset();
    engine_.reset();
  }

 private:
  std::optional<ScopedEnv> backend_, engine_;
};

[[maybe_unused]] ::testing::Environment* const kDefaults =
    ::testing::AddGlobalTestEnvironment(new DefaultsEnvironment);

std::vector<std::uint64_t> four_written_pages() {
  Mapping m = Mapping::anonymous(4);
  m.write_pages(0, 4);
  std::vector<std::uint64_t> a = {m.start(), m.end()};
  m.release();
  return a;
}

void replace_all(std::string& text, const std::string& from, const std::string& to) {
  for (std::size_t at = text.find(from); at != std::string::npos; at = text.find(from, at)) {
    text.replace(at, from.size(), to);
    at += to.size();
  }
}

struct CliRow {
  const char* name;
  std::vector<std::string> args;
  int exit_code;
  std::string line;  // stderr, without "pagescan: " and the newline
  std::vector<std::string> env = {};
  const char* pending = nullptr;  // why the line is a proposal, not today's text
};

// gtest prints a failing row by name, not as bytes.
void PrintTo(const CliRow& row, std::ostream* out) {
  *out << row.name;
}

class CliErrorMatrix : public ::testing::TestWithParam<CliRow> {
 protected:
  static void SetUpTestSuite() {
    (void)features();  // probe before forking
    child_ = std::make_unique<ChildProcess>(four_written_pages);
  }
  static void TearDownTestSuite() { child_.reset(); }

  std::string fill(std::string text, const std::string& tmp) const {
    replace_all(text, "{pid}", std::to_string(child_->pid()));
    replace_all(text, "{lo}", hex_address(child_->addresses()[0]));
    replace_all(text, "{hi}", hex_address(child_->addresses()[1]));
    replace_all(text, "{page}", std::to_string(page_size()));
    replace_all(text, "{limit}", hex_address(kernel_user_address_limit()));
    replace_all(text, "{tmp}", tmp);
    return text;
  }

  static std::unique_ptr<ChildProcess> child_;
};

std::unique_ptr<ChildProcess> CliErrorMatrix::child_;

TEST_P(CliErrorMatrix, OneExactLineTheExitCodeAndNothingLeftBehind) {
  const CliRow& row = GetParam();
  if (row.pending) GTEST_SKIP() << "pending fix: " << row.pending;
  PAGESCAN_REQUIRE_FACT(Fact::pagemap_scan);
  TempDir tmp;
  ASSERT_FALSE(tmp.path().empty());
  std::vector<std::string> args;
  for (const std::string& a : row.args) args.push_back(fill(a, tmp.path()));
  CliRun run = run_cli(args, row.env);
  EXPECT_EQ(run.exit_code, row.exit_code) << run.describe();
  EXPECT_EQ(run.out, "") << "no partial output on error";
  EXPECT_EQ(run.err, "pagescan: " + fill(row.line, tmp.path()) + "\n");
  EXPECT_EQ(tmp.entries(), std::vector<std::string>{}) << "a file was left behind";
}

std::string row_name(const ::testing::TestParamInfo<CliRow>& info) {
  return info.param.name;
}

const std::string kBackendEnv = "PAGESCAN_BACKEND=bogus";
const std::string kBadBackend =
    "PAGESCAN_BACKEND: unknown backend 'bogus' (expected auto, kernel or emulated)";
const std::string kEngineEnv = "PAGESCAN_WATCH_ENGINE=bogus";
const std::string kBadEngine =
    "PAGESCAN_WATCH_ENGINE: unknown write-tracking engine 'bogus' (expected auto, uffd, "
    "soft-dirty, mprotect or everything)";

INSTANTIATE_TEST_SUITE_P(
    TopLevel, CliErrorMatrix,
    ::testing::Values(
        CliRow{
            "NoCommand",
            {},
            2,
            "no command given (expected scan, map, features, demo, watch, top, dump, exporter or "
            "help)"},
        CliRow{"UnknownCommand",
               {"frobnicate"},
               2,
               "unknown command 'frobnicate' (expected scan, map, features, demo, watch, top, "
               "dump, exporter or help)"},
        CliRow{"UnknownOptionIsNamed",
               {"--frobnicate"},
               2,
               "unknown option '--frobnicate' (expected --help, --version or a command: scan, "
               "map, features, demo, watch, top, dump, exporter or help)"},
        CliRow{"UnknownOptionBeforeACommand",
               {"--frobnicate", "scan", "self"},
               2,
               "unknown option '--frobnicate' (expected --help, --version or a command: scan, "
               "map, features, demo, watch, top, dump, exporter or help)"}),
    row_name);

INSTANTIATE_TEST_SUITE_P(
    Scan, CliErrorMatrix,
    ::testing::Values(
        CliRow{"MissingTargetSaysWhatIsExpected",
               {"scan"},
               2,
               "scan: missing TARGET (expected a process id or 'self')"},
        CliRow{"MissingTargetBeforeOptions",
               {"scan", "--range", "0x1000-0x2000"},
               2,
               "scan: missing TARGET (expected a process id or 'self')"},
        CliRow{"TargetNotANumber",
               {"scan", "12ab"},
               2,
               "bad target '12ab': expected a process id (a number > 0) or 'self'"},
        CliRow{"TargetZero",
               {"scan", "0"},
               2,
               "bad target '0': expected a process id (a number > 0) or 'self'"},
        CliRow{"TargetNegative",
               {"scan", "-5"},
               2,
               "bad target '-5': expected a process id (a number > 0) or 'self'"},
        CliRow{"TargetAbovePidLimit",
               {"scan", "1073741824"},
               2,
               "bad target '1073741824': expected a process id (a number > 0) or 'self'"},
        CliRow{"ExtraArgumentSaysWhatIsExpected",
               {"scan", "{pid}", "extra"},
               2,
               "scan: unexpected argument 'extra' (expected one TARGET and options; see "
               "'pagescan scan --help')"},
        CliRow{"UnknownOption",
               {"scan", "{pid}", "--frobnicate"},
               2,
               "The following argument was not expected: --frobnicate"},
        CliRow{"OptionWithoutValue",
               {"scan", "{pid}", "--range"},
               2,
               "--range: 1 required START-END missing"},
        CliRow{"OptionTwice",
               {"scan", "{pid}", "--range", "0x1000-0x2000", "--range", "0x3000-0x4000"},
               2,
               "--range: At Most 1 required but received 2"},
        CliRow{"RangeWithoutEnd",
               {"scan", "{pid}", "--range", "0x1000"},
               2,
               "bad range '0x1000': " + kRangeExpected},
        CliRow{"RangeEndMissing",
               {"scan", "{pid}", "--range", "0x1000-"},
               2,
               "bad range '0x1000-': " + kRangeExpected},
        CliRow{"RangeStartMissing",
               {"scan", "{pid}", "--range", "-0x1000"},
               2,
               "bad range '-0x1000': " + kRangeExpected},
        CliRow{
            "RangeEmpty", {"scan", "{pid}", "--range", ""}, 2, "bad range '': " + kRangeExpected},
        CliRow{"RangeStartNotANumber",
               {"scan", "{pid}", "--range", "0xzz-0x2000"},
               2,
               "bad range '0xzz-0x2000': start " + kNumberExpected},
        CliRow{"RangeEndNotANumber",
               {"scan", "{pid}", "--range", "0x1000-0xzz"},
               2,
               "bad range '0x1000-0xzz': end " + kNumberExpected},
        CliRow{"RangeEndAbove64Bits",
               {"scan", "{pid}", "--range", "0x1000-0x1ffffffffffffffff"},
               2,
               "bad range '0x1000-0x1ffffffffffffffff': end does not fit in 64 bits"},
        CliRow{"RangeEndBeforeStart",
               {"scan", "{pid}", "--range", "0x2000-0x1000"},
               2,
               "bad range '0x2000-0x1000': end is before start"},
        CliRow{"RangeStartNotPageAligned",
               {"scan", "{pid}", "--range", "0x1001-0x2000"},
               2,
               "scan of pid {pid} [0x1001-0x2000): start 0x1001 is not page-aligned (page size "
               "{page})"},
        CliRow{"RangeBeyondUserSpace",
               {"scan", "{pid}", "--range", "0x0-0x800000000000"},
               2,
               "scan of pid {pid} [0x0-0x800000000000): range [0x0, 0x800000000000) goes beyond "
               "the user address space (highest end {limit})"},
        CliRow{"RangeEndAtTheTopOf64Bits",
               {"scan", "{pid}", "--range", "0x1000-0xffffffffffffffff"},
               2,
               "scan of pid {pid} [0x1000-0xffffffffffffffff): range [0x1000, "
               "0xffffffffffffffff) goes beyond the user address space (highest end {limit})"},
        CliRow{"AllOfUnknownCategory",
               {"scan", "{pid}", "--all-of", "present,presnt"},
               2,
               "bad --all-of: unknown category 'presnt' " + kCategories},
        CliRow{"AnyOfUnknownCategory",
               {"scan", "{pid}", "--any-of", "swaped"},
               2,
               "bad --any-of: unknown category 'swaped' " + kCategories},
        CliRow{"ReturnUnknownCategory",
               {"scan", "{pid}", "--return", "writen"},
               2,
               "bad --return: unknown category 'writen' " + kCategories},
        CliRow{"AllOfEmptyElement",
               {"scan", "{pid}", "--all-of", "present,,file"},
               2,
               "bad --all-of: empty element in category list 'present,,file'"},
        CliRow{"AllOfInvertedAll",
               {"scan", "{pid}", "--all-of", "!all"},
               2,
               "bad --all-of: '!all' in category list '!all' (invert single categories "
               "instead)"},
        CliRow{"AllOfBothSenses",
               {"scan", "{pid}", "--all-of", "file,!file"},
               2,
               "bad --all-of: category list 'file,!file' names file both plain and inverted"},
        CliRow{"AllOfEmpty",
               {"scan", "{pid}", "--all-of", ""},
               2,
               "bad --all-of: empty category list (expected names such as present,!file)"},
        CliRow{"AnyOfEmpty",
               {"scan", "{pid}", "--any-of", ""},
               2,
               "bad --any-of: empty category list (expected names such as present,!file)"},
        CliRow{"ReturnInverted",
               {"scan", "{pid}", "--return", "!file"},
               2,
               "bad --return: category list '!file' may not invert (file): expected plain "
               "names"},
        CliRow{"ReturnEmpty",
               {"scan", "{pid}", "--return", ""},
               2,
               "bad --return: empty category list (expected names such as present,!file)"},
        CliRow{"ListsContradict",
               {"scan", "{pid}", "--all-of", "present", "--any-of", "!present,file"},
               2,
               "category present is both required and inverted across the all-of and any-of "
               "lists (the kernel has one category_inverted mask for both)"},
        CliRow{"FormatUnknown",
               {"scan", "{pid}", "--format", "xml"},
               2,
               "bad --format 'xml': expected table, json or csv"},
        CliRow{"FormatEmpty",
               {"scan", "{pid}", "--format", ""},
               2,
               "bad --format '': expected table, json or csv"},
        CliRow{"JsonContradictsFormat",
               {"scan", "{pid}", "--json", "--format", "csv"},
               2,
               "--json contradicts --format 'csv'"},
        CliRow{"JsonContradictsAnEmptyFormat",
               {"scan", "{pid}", "--json", "--format", ""},
               2,
               "--json contradicts --format ''"},
        CliRow{"MaxPagesNotANumber",
               {"scan", "{pid}", "--max-pages", "ten"},
               2,
               "bad --max-pages 'ten': " + kNumberExpected},
        CliRow{"MaxPagesNegative",
               {"scan", "{pid}", "--max-pages", "-1"},
               2,
               "bad --max-pages '-1': " + kNumberExpected},
        CliRow{"MaxPagesAbove64Bits",
               {"scan", "{pid}", "--max-pages", "99999999999999999999999"},
               2,
               "bad --max-pages '99999999999999999999999': does not fit in 64 bits"},
        CliRow{"MaxPagesEmpty",
               {"scan", "{pid}", "--max-pages", ""},
               2,
               "bad --max-pages '': " + kNumberExpected},
        CliRow{"BackendUnknown",
               {"scan", "{pid}", "--backend", "magic"},
               2,
               "bad --backend: unknown backend 'magic' (expected auto, kernel or emulated)"},
        CliRow{"BackendEmpty",
               {"scan", "{pid}", "--backend", ""},
               2,
               "bad --backend: unknown backend '' (expected auto, kernel or emulated)"},
        CliRow{"EnvironmentBackendUnknown", {"scan", "{pid}"}, 2, kBadBackend, {kBackendEnv}},
        CliRow{"NoSuchProcess",
               {"scan", "1073741823"},
               1,
               "open /proc/1073741823/pagemap: no process with pid 1073741823"},
        CliRow{"CheckWpAsyncOnAnotherProcess",
               {"scan", "{pid}", "--range", "{lo}-{hi}", "--check-wp-async"},
               1,
               "scan of pid {pid} [{lo}-{hi}): PAGEMAP_SCAN: Operation not permitted (a VMA in "
               "range is not registered for async userfaultfd write-protect)"},
        CliRow{
            "WriteProtectOnAnotherProcessEmulated",
            {"scan", "{pid}", "--range", "{lo}-{hi}", "--write-protect", "--backend", "emulated"},
            1,
            "scan of pid {pid} [{lo}-{hi}): PAGEMAP_SCAN: Operation not supported (the "
            "emulated backend write-protects only the calling process's memory, through a "
            "userfaultfd it registered)"}),
    row_name);

// Every map usage row also asks for an SVG in {tmp}: a usage error must not create it.
INSTANTIATE_TEST_SUITE_P(
    Map, CliErrorMatrix,
    ::testing::Values(
        CliRow{"MissingTarget",
               {"map", "--svg", "{tmp}/map.svg"},
               2,
               "map: missing TARGET (expected a process id or 'self')"},
        CliRow{"TargetNotANumber",
               {"map", "abc", "--svg", "{tmp}/map.svg"},
               2,
               "bad target 'abc': expected a process id (a number > 0) or 'self'"},
        CliRow{"ExtraArgument",
               {"map", "{pid}", "extra", "--svg", "{tmp}/map.svg"},
               2,
               "map: unexpected argument 'extra' (expected one TARGET and options; see "
               "'pagescan map --help')"},
        CliRow{"UnknownOption",
               {"map", "{pid}", "--frobnicate", "--svg", "{tmp}/map.svg"},
               2,
               "The following argument was not expected: --frobnicate"},
        CliRow{"MinSizeUnknownUnit",
               {"map", "{pid}", "--min-size", "12Q", "--svg", "{tmp}/map.svg"},
               2,
               "bad --min-size '12Q': expected a size such as 4096, 64K, 2M or 1G"},
        CliRow{"MinSizeNegative",
               {"map", "{pid}", "--min-size", "-4K", "--svg", "{tmp}/map.svg"},
               2,
               "bad --min-size '-4K': expected a size such as 4096, 64K, 2M or 1G"},
        CliRow{"MinSizeAbove64Bits",
               {"map", "{pid}", "--min-size", "99999999999T", "--svg", "{tmp}/map.svg"},
               2,
               "bad --min-size '99999999999T': expected a size such as 4096, 64K, 2M or 1G"},
        CliRow{"MinSizeEmpty",
               {"map", "{pid}", "--min-size", "", "--svg", "{tmp}/map.svg"},
               2,
               "bad --min-size '': expected a size such as 4096, 64K, 2M or 1G"},
        CliRow{"OnlyUnknownBacking",
               {"map", "{pid}", "--only", "anonymous", "--svg", "{tmp}/map.svg"},
               2,
               "bad --only 'anonymous': expected anon, file, shm, stack, heap or special (a "
               "comma list)"},
        CliRow{"OnlyUnknownBackingInAList",
               {"map", "{pid}", "--only", "anon,files", "--svg", "{tmp}/map.svg"},
               2,
               "bad --only 'files': expected anon, file, shm, stack, heap or special (a comma "
               "list)"},
        CliRow{"OnlyEmptyElementNamesTheList",
               {"map", "{pid}", "--only", "anon,", "--svg", "{tmp}/map.svg"},
               2,
               "bad --only 'anon,': empty element (expected anon, file, shm, stack, heap or "
               "special, comma-separated)"},
        CliRow{"OnlyEmptyElementInTheMiddle",
               {"map", "{pid}", "--only", "anon,,heap", "--svg", "{tmp}/map.svg"},
               2,
               "bad --only 'anon,,heap': empty element (expected anon, file, shm, stack, heap or "
               "special, comma-separated)"},
        CliRow{"OnlyEmpty",
               {"map", "{pid}", "--only", "", "--svg", "{tmp}/map.svg"},
               2,
               "bad --only '': expected anon, file, shm, stack, heap or special (a comma list)"},
        CliRow{"SortUnknown",
               {"map", "{pid}", "--sort", "biggest", "--svg", "{tmp}/map.svg"},
               2,
               "bad --sort 'biggest': expected size, present, swapped or address"},
        CliRow{"SortEmpty",
               {"map", "{pid}", "--sort", "", "--svg", "{tmp}/map.svg"},
               2,
               "bad --sort '': expected size, present, swapped or address"},
        CliRow{"CategoryUnknown",
               {"map", "{pid}", "--category", "dirty", "--svg", "{tmp}/map.svg"},
               2,
               "bad --category: unknown category 'dirty' " + kCategories},
        CliRow{"CategoryInverted",
               {"map", "{pid}", "--heat", "--category", "!present", "--svg", "{tmp}/map.svg"},
               2,
               "bad --category: unknown category '!present' " + kCategories},
        CliRow{"CategoryEmpty",
               {"map", "{pid}", "--category", "", "--svg", "{tmp}/map.svg"},
               2,
               "bad --category: unknown category '' " + kCategories},
        CliRow{"WidthZero",
               {"map", "{pid}", "--heat-width", "0", "--svg", "{tmp}/map.svg"},
               2,
               "bad --heat-width '0': expected 1 to 1024 cells"},
        CliRow{"WidthTooLarge",
               {"map", "{pid}", "--heat-width", "1025", "--svg", "{tmp}/map.svg"},
               2,
               "bad --heat-width '1025': expected 1 to 1024 cells"},
        CliRow{"WidthNotANumber",
               {"map", "{pid}", "--heat-width", "wide", "--svg", "{tmp}/map.svg"},
               2,
               "bad --heat-width 'wide': " + kNumberExpected},
        CliRow{"WidthEmpty",
               {"map", "{pid}", "--heat-width", "", "--svg", "{tmp}/map.svg"},
               2,
               "bad --heat-width '': " + kNumberExpected},
        CliRow{"FormatUnknown",
               {"map", "{pid}", "--format", "xml", "--svg", "{tmp}/map.svg"},
               2,
               "bad --format 'xml': expected table, json or csv"},
        CliRow{"JsonContradictsFormat",
               {"map", "{pid}", "--json", "--format", "csv", "--svg", "{tmp}/map.svg"},
               2,
               "--json contradicts --format 'csv'"},
        CliRow{"HeatAsCsv",
               {"map", "{pid}", "--heat", "--format", "csv", "--svg", "{tmp}/map.svg"},
               2,
               "--heat cannot be shown with --format csv (use table or json)"},
        CliRow{"AsciiAsCsvNamesTheOptionGiven",
               {"map", "{pid}", "--ascii", "--format", "csv", "--svg", "{tmp}/map.svg"},
               2,
               "--ascii asks for heat strips, which cannot be shown with --format csv (use "
               "table or json)"},
        CliRow{"WidthAsCsvNamesTheOptionGiven",
               {"map", "{pid}", "--heat-width", "32", "--format", "csv", "--svg", "{tmp}/map.svg"},
               2,
               "--heat-width asks for heat strips, which cannot be shown with --format csv (use "
               "table or json)"},
        CliRow{"CategoryAsCsvNamesTheOptionGiven",
               {"map", "{pid}", "--category", "swapped", "--heat-width", "32", "--format", "csv",
                "--svg", "{tmp}/map.svg"},
               2,
               "--category asks for heat strips, which cannot be shown with --format csv (use "
               "table or json)"},
        CliRow{"HeatWithAsciiAsCsvNamesHeat",
               {"map", "{pid}", "--ascii", "--heat", "--format", "csv", "--svg", "{tmp}/map.svg"},
               2,
               "--heat cannot be shown with --format csv (use table or json)"},
        CliRow{"BackendUnknown",
               {"map", "{pid}", "--backend", "gpu", "--svg", "{tmp}/map.svg"},
               2,
               "bad --backend: unknown backend 'gpu' (expected auto, kernel or emulated)"},
        CliRow{"EnvironmentBackendUnknown",
               {"map", "{pid}", "--svg", "{tmp}/map.svg"},
               2,
               kBadBackend,
               {kBackendEnv}},
        CliRow{"SvgWithoutValue", {"map", "{pid}", "--svg"}, 2, "--svg: 1 required FILE missing"},
        CliRow{"SvgEmpty", {"map", "{pid}", "--svg", ""}, 2, "bad --svg '': expected a file name"},
        CliRow{"SvgInAMissingDirectory",
               {"map", "{pid}", "--svg", "{tmp}/nope/map.svg"},
               1,
               "cannot write {tmp}/nope/map.svg: creating a temporary file in {tmp}/nope: No "
               "such file or directory"},
        CliRow{"SvgPathIsADirectoryName",
               {"map", "{pid}", "--svg", "{tmp}/"},
               2,
               "cannot write {tmp}/: it is a directory (expected a regular file or a new file "
               "name; '-' writes to standard output)"},
        CliRow{"NoSuchProcess",
               {"map", "1073741823", "--svg", "{tmp}/map.svg"},
               1,
               "open /proc/1073741823/pagemap: no process with pid 1073741823"}),
    row_name);

INSTANTIATE_TEST_SUITE_P(
    Features, CliErrorMatrix,
    ::testing::Values(
        CliRow{"FormatCsv",
               {"features", "--format", "csv"},
               2,
               "bad --format 'csv': expected table or json"},
        CliRow{"JsonContradictsFormat",
               {"features", "--json", "--format", "table"},
               2,
               "--json contradicts --format 'table'"},
        CliRow{"ExtraArgument",
               {"features", "extra"},
               2,
               "features: unexpected argument 'extra' (expected options only, no arguments; see "
               "'pagescan features --help')"},
        CliRow{"BackendIsNotAnOption",
               {"features", "--backend", "kernel"},
               2,
               "The following argument was not expected: --backend"},
        CliRow{"EnvironmentBackendUnknown", {"features"}, 2, kBadBackend, {kBackendEnv}},
        CliRow{"EnvironmentWatchEngineUnknown", {"features"}, 2, kBadEngine, {kEngineEnv}}),
    row_name);

INSTANTIATE_TEST_SUITE_P(
    Demo, CliErrorMatrix,
    ::testing::Values(
        CliRow{"FormatCsv",
               {"demo", "--format", "csv"},
               2,
               "bad --format 'csv': expected table or json"},
        CliRow{"JsonContradictsFormat",
               {"demo", "--json", "--format", "table"},
               2,
               "--json contradicts --format 'table'"},
        CliRow{"BackendUnknown",
               {"demo", "--backend", "gpu"},
               2,
               "bad --backend: unknown backend 'gpu' (expected auto, kernel or emulated)"},
        CliRow{"ExtraArgument",
               {"demo", "extra"},
               2,
               "demo: unexpected argument 'extra' (expected options only, no arguments; see "
               "'pagescan demo --help')"},
        CliRow{"EnvironmentBackendUnknown", {"demo"}, 2, kBadBackend, {kBackendEnv}},
        CliRow{"EnvironmentWatchEngineUnknown", {"demo"}, 2, kBadEngine, {kEngineEnv}}),
    row_name);

// ---------------------------------------------------------------------------------------
// Runtime rows that need a particular target.

void expect_line(const CliRun& run, int exit_code, const std::string& line) {
  EXPECT_EQ(run.exit_code, exit_code) << run.describe();
  EXPECT_EQ(run.out, "") << run.describe();
  EXPECT_EQ(run.err, "pagescan: " + line + "\n");
}

TEST(CliErrorMatrixTargets, KernelThreadIsAUsageError) {
  const pid_t kthread = find_kernel_thread();
  if (kthread == 0) GTEST_SKIP() << "no kernel thread visible in /proc";
  const std::string pid = std::to_string(kthread);
  for (const char* command : {"scan", "map"}) {
    SCOPED_TRACE(command);
    expect_line(run_cli({command, pid}), 2,
                "pid " + pid + " is a kernel thread: it has no user address space to scan");
  }
}

TEST(CliErrorMatrixTargets, ZombieIsNamedAsAZombie) {
  Zombie zombie;
  ASSERT_TRUE(zombie.ok());
  const std::string pid = std::to_string(zombie.pid());
  for (const char* command : {"scan", "map"}) {
    SCOPED_TRACE(command);
    expect_line(run_cli({command, pid}), 1,
                "pid " + pid +
                    " is a zombie (it exited and its parent has not reaped it): it has no "
                    "address space to scan");
  }
}

// A non-root user on a root process (setpriv runs the binary as uid 65534).
TEST(CliErrorMatrixTargets, UnprivilegedUserOnARootProcessIsARuntimeError) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to run the CLI as another user";
  if (::access("/usr/bin/setpriv", X_OK) != 0) GTEST_SKIP() << "setpriv (util-linux) missing";
  ChildProcess root_child(four_written_pages);
  const std::string pid = std::to_string(root_child.pid());
  for (const std::string& target : {pid, std::string("1")}) {
    SCOPED_TRACE("target " + target);
    CliRun run = run_program(
        "/usr/bin/setpriv",
        {"--reuid=65534", "--regid=65534", "--clear-groups", PAGESCAN_CLI_PATH, "scan", target});
    if (run.err.find("pagescan: ") == std::string::npos) {
      GTEST_SKIP() << "uid 65534 cannot run the build tree's binary: " << run.err;
    }
    expect_line(run, 1, "open /proc/" + target + "/pagemap" + kPermission);
  }
}

// PID 1 as root: what the kernel's ptrace check on /proc/1/pagemap says (read only).
TEST(CliErrorMatrixTargets, PidOneAsRootFollowsTheKernelsPtraceCheck) {
  if (::geteuid() != 0) GTEST_SKIP() << "not root: see the unprivileged row";
  PAGESCAN_REQUIRE_FACT(Fact::pagemap_scan);
  int fd = ::open("/proc/1/pagemap", O_RDONLY | O_CLOEXEC);
  const int open_errno = errno;
  CliRun run = run_cli({"scan", "1", "--all-of", "present", "--return", "present", "--json"});
  if (fd >= 0) {
    ::close(fd);
    EXPECT_EQ(run.exit_code, 0) << run.describe();
    EXPECT_EQ(run.err, "");
    return;
  }
  ASSERT_EQ(open_errno, EACCES) << std::strerror(open_errno);
  expect_line(run, 1, "open /proc/1/pagemap" + expected_permission_reason(1));
}

// --write-protect on another process's ordinary memory: the kernel skips VMAs that are not
// async-WP registered (kernel-pagemap-scan.md §3.2), so the answer is empty, exit 0, and
// one warning line says nothing was protected and what the process must do.
TEST(CliErrorMatrixTargets, WriteProtectOnAnotherProcessGivesNoRegions) {
  PAGESCAN_REQUIRE_FACT(Fact::pagemap_scan);
  ChildProcess child(four_written_pages);
  const std::string range =
      hex_address(child.addresses()[0]) + "-" + hex_address(child.addresses()[1]);
  CliRun run = run_cli({"scan", std::to_string(child.pid()), "--range", range, "--all-of",
                        "written", "--write-protect", "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.describe();
  EXPECT_EQ(run.err, "pagescan: warning: --write-protect protected nothing: no VMA in [" + range +
                         ") of pid " + std::to_string(child.pid()) +
                         " is registered for async userfaultfd write-protect, and the kernel "
                         "skips the others; the process itself must register the range "
                         "(userfaultfd with UFFD_FEATURE_WP_ASYNC, e.g. pagescan's WriteWatch "
                         "with the uffd engine)\n");
  auto answer = nlohmann::json::parse(run.out);
  EXPECT_TRUE(answer.at("regions").empty()) << run.out;
  EXPECT_TRUE(answer.at("complete").get<bool>());
  CliRun after = run_cli(
      {"scan", std::to_string(child.pid()), "--range", range, "--all-of", "written", "--json"});
  ASSERT_EQ(after.exit_code, 0) << after.describe();
  EXPECT_EQ(nlohmann::json::parse(after.out).at("totals").at("pages"), 4) << "nothing protected";
}

// An SVG whose rename fails after the temporary was written: the temporary is removed and
// the directory in the way untouched.
TEST(CliErrorMatrixTargets, SvgOverADirectoryLeavesNoTemporary) {
  PAGESCAN_REQUIRE_FACT(Fact::pagemap_scan);
  TempDir tmp;
  ASSERT_EQ(::mkdir((tmp.path() + "/taken.svg").c_str(), 0755), 0);
  CliRun run = run_cli({"map", "self", "--svg", tmp.path() + "/taken.svg"});
  expect_line(run, 2,
              "cannot write " + tmp.path() +
                  "/taken.svg: it is a directory (expected a regular file or a new file name; "
                  "'-' writes to standard output)");
  EXPECT_EQ(tmp.entries(), std::vector<std::string>{"taken.svg"});
}

}  // namespace
}  // namespace pagescan::test
