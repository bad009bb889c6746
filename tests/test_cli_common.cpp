// What every pagescan command shares, run as a user runs them: --version and --help (with
// examples and a usage line saying what it takes) on each, the same option names and
// messages for the same options, an empty option value rejected like any bad one,
// PAGESCAN_BACKEND checked before anything happens, colour only on a terminal and never
// with NO_COLOR, and the command list in every message that names the commands.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "pagescan/features.hpp"
#include "support/child_process.hpp"
#include "support/cli_process_tree.hpp"
#include "support/cli_runner.hpp"
#include "support/kernel_facts.hpp"
#include "support/memory.hpp"
#include "support/pty_runner.hpp"
#include "support/watch_helpers.hpp"

namespace pagescan::test {
namespace {

using nlohmann::json;

const std::vector<std::string> kCommands = {"scan",  "map", "features", "demo",
                                            "watch", "top", "dump",     "exporter"};
// A pid no process has (above pid_max): watch and top never get to attach to it.
const std::string kNoPid = "999999999";

std::string hex(std::uint64_t v) {
  std::ostringstream s;
  s << "0x" << std::hex << v;
  return s.str();
}

// A child with four written pages, for the commands that need a target.
std::vector<std::uint64_t> small_layout() {
  const std::size_t page = page_size();
  auto* p = static_cast<char*>(
      ::mmap(nullptr, 8 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  for (int i = 0; i < 4; ++i) p[i * page] = 1;
  return {reinterpret_cast<std::uint64_t>(p), reinterpret_cast<std::uint64_t>(p) + 8 * page};
}

// Each command's arguments for an ordinary table run against `child`.
std::vector<std::vector<std::string>> table_runs(const ChildProcess& child) {
  const std::string pid = std::to_string(child.pid());
  const std::string range = hex(child.addresses()[0]) + "-" + hex(child.addresses()[1]);
  return {{"scan", pid, "--range", range}, {"map", pid}, {"features"}, {"demo"}};
}

std::string joined(const std::vector<std::string>& args) {
  std::string text;
  for (const std::string& a : args) text += a + " ";
  return text;
}

struct CliCommon : ::testing::Test {
  static void SetUpTestSuite() { (void)features(); }  // probe before forking children
  void SetUp() override {
    PAGESCAN_REQUIRE_FACT(Fact::pagemap_scan);
    child.emplace(small_layout);
  }
  std::optional<ChildProcess> child;
};

TEST(CliVersionFlag, EveryCommandPrintsTheTopLevelVersion) {
  CliRun top = run_cli({"--version"});
  ASSERT_EQ(top.exit_code, 0) << top.describe();
  ASSERT_EQ(top.out.rfind("pagescan ", 0), 0u) << top.out;
  for (const std::string& command : kCommands) {
    SCOPED_TRACE(command);
    // Before any required argument: map and scan need a target, --version does not.
    CliRun run = run_cli({command, "--version"});
    EXPECT_EQ(run.exit_code, 0) << run.describe();
    EXPECT_EQ(run.out, top.out);
    EXPECT_EQ(run.err, "");
  }
}

TEST(CliHelpFlag, EveryCommandHasUsageAndExamples) {
  CliRun top = run_cli({"--help"});
  ASSERT_EQ(top.exit_code, 0) << top.describe();
  EXPECT_NE(top.out.find("Usage: pagescan"), std::string::npos) << top.out;
  EXPECT_NE(top.out.find("Examples:"), std::string::npos) << top.out;
  for (const std::string& command : kCommands) {
    EXPECT_NE(top.out.find("  " + command + " "), std::string::npos) << command << "\n" << top.out;
    SCOPED_TRACE(command);
    CliRun run = run_cli({command, "--help"});
    EXPECT_EQ(run.exit_code, 0) << run.describe();
    EXPECT_NE(run.out.find("Usage: pagescan " + command), std::string::npos) << run.out;
    EXPECT_NE(run.out.find("Examples:\n  pagescan " + command), std::string::npos) << run.out;
    EXPECT_NE(run.out.find("--version"), std::string::npos) << run.out;
    EXPECT_NE(run.out.find("--help"), std::string::npos) << run.out;
  }
}

// --format/--json everywhere output has formats, --backend everywhere a scan runs, each
// with the same help text and the same messages.
TEST(CliSharedOptions, SameNamesAndSameMessagesInEveryCommand) {
  struct Shared {
    std::string command;
    std::vector<std::string> target;
    std::string formats;  // as the error message lists them
    bool backend;
  };
  const std::vector<Shared> commands = {{"scan", {"self"}, "table, json or csv", true},
                                        {"map", {"self"}, "table, json or csv", true},
                                        {"features", {}, "table or json", false},
                                        {"demo", {}, "table or json", true},
                                        {"watch", {kNoPid}, "table, json or csv", false}};
  for (const Shared& c : commands) {
    SCOPED_TRACE(c.command);
    CliRun help = run_cli({c.command, "--help"});
    EXPECT_NE(help.out.find("--format FORMAT"), std::string::npos) << help.out;
    EXPECT_NE(help.out.find("output format: " + c.formats), std::string::npos) << help.out;
    EXPECT_NE(help.out.find("--json"), std::string::npos) << help.out;
    EXPECT_NE(help.out.find("short for --format json"), std::string::npos) << help.out;
    EXPECT_EQ(help.out.find("--backend NAME") != std::string::npos, c.backend) << help.out;

    std::vector<std::string> args = {c.command};
    args.insert(args.end(), c.target.begin(), c.target.end());
    auto with = [&](std::vector<std::string> extra) {
      std::vector<std::string> a = args;
      a.insert(a.end(), extra.begin(), extra.end());
      return run_cli(a);
    };
    CliRun bad_format = with({"--format", "xml"});
    EXPECT_EQ(bad_format.exit_code, 2) << bad_format.describe();
    EXPECT_EQ(single_line(bad_format.err), "pagescan: bad --format 'xml': expected " + c.formats);
    EXPECT_EQ(bad_format.out, "");
    CliRun contradiction = with({"--json", "--format", "table"});
    EXPECT_EQ(contradiction.exit_code, 2) << contradiction.describe();
    EXPECT_EQ(single_line(contradiction.err), "pagescan: --json contradicts --format 'table'");
    if (c.backend) {
      CliRun bad_backend = with({"--backend", "gpu"});
      EXPECT_EQ(bad_backend.exit_code, 2) << bad_backend.describe();
      EXPECT_EQ(single_line(bad_backend.err).rfind("pagescan: bad --backend: ", 0), 0u)
          << bad_backend.err;
      EXPECT_NE(bad_backend.err.find("'gpu'"), std::string::npos) << bad_backend.err;
    }
  }
}

// The usage line says what each command takes: TARGET for scan and map, options only
// for features and demo (CLI11's own line would read "[target] [...]").
TEST(CliHelpFlag, UsageLineSaysWhatEachCommandTakes) {
  const std::vector<std::pair<std::string, std::string>> usage = {
      {"scan", "Usage: pagescan scan [OPTIONS] TARGET\n"},
      {"map", "Usage: pagescan map [OPTIONS] TARGET\n"},
      {"features", "Usage: pagescan features [OPTIONS]\n"},
      {"demo", "Usage: pagescan demo [OPTIONS]\n"},
      {"watch", "Usage: pagescan watch [OPTIONS] TARGET\n"},
      {"top", "Usage: pagescan top [OPTIONS] TARGET\n"},
      {"dump", "Usage: pagescan dump [OPTIONS] TARGET\n"},
      {"exporter", "Usage: pagescan exporter [OPTIONS]\n"}};
  for (const auto& [command, line] : usage) {
    SCOPED_TRACE(command);
    CliRun run = run_cli({command, "--help"});
    ASSERT_EQ(run.exit_code, 0) << run.describe();
    EXPECT_NE(run.out.find(line), std::string::npos) << run.out;
  }
}

// The options with a value, as --help lists them: "  --range START-END   ...".
std::vector<std::string> value_options(const std::string& help) {
  std::vector<std::string> names;
  std::istringstream lines(help);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream words(line);
    std::string name, value;
    words >> name >> value;
    if (name.rfind("--", 0) == 0 && !value.empty() &&
        std::all_of(value.begin(), value.end(),
                    [](char c) { return (c >= 'A' && c <= 'Z') || c == '-'; })) {
      names.push_back(name);
    }
  }
  return names;
}

// `--option ''` is a value, never "not given": for every option with a value of every
// command (read from --help, so an option added later is covered), an empty value is a
// usage error naming the option and the empty value. Before, --range '' scanned everything and
// --svg '' drew no picture, silently.
TEST(CliValueOptions, EveryOptionGivenAnEmptyValueIsAUsageErrorNamingIt) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> commands = {
      {"scan", {"self"}},  {"map", {"self"}}, {"features", {}},   {"demo", {}},
      {"watch", {kNoPid}}, {"top", {kNoPid}}, {"dump", {kNoPid}}, {"exporter", {"--all"}}};
  for (const auto& [command, target] : commands) {
    CliRun help = run_cli({command, "--help"});
    ASSERT_EQ(help.exit_code, 0) << help.describe();
    const std::vector<std::string> names = value_options(help.out);
    EXPECT_NE(std::find(names.begin(), names.end(), "--width"), names.end()) << help.out;
    for (const std::string& name : names) {
      std::vector<std::string> args = {command};
      args.insert(args.end(), target.begin(), target.end());
      args.push_back(name);
      args.push_back("");
      SCOPED_TRACE(joined(args) + "''");
      CliRun run = run_cli(args);
      EXPECT_EQ(run.exit_code, 2) << run.describe();
      EXPECT_EQ(run.out, "");
      const std::string line = single_line(run.err);
      EXPECT_EQ(line.rfind("pagescan: ", 0), 0u) << run.describe();
      EXPECT_NE(line.find(name.substr(2)), std::string::npos) << line;  // "bad range ''"
      EXPECT_TRUE(line.find("''") != std::string::npos || line.find("empty") != std::string::npos)
          << line;
    }
  }
}

// PAGESCAN_BACKEND is checked by every command before it prints or starts anything, and,
// as in the library (scan.hpp), only when the backend is auto: an explicit --backend
// overrides it.
TEST_F(CliCommon, BadPagescanBackendIsAUsageErrorUnlessABackendIsGiven) {
  ScopedEnv inherited("PAGESCAN_BACKEND", std::nullopt);  // it would win over ours
  const std::string bad =
      "pagescan: PAGESCAN_BACKEND: unknown backend 'bogus' (expected auto, kernel or "
      "emulated)\n";
  for (const std::vector<std::string>& args : table_runs(*child)) {
    SCOPED_TRACE(joined(args));
    CliRun run = run_cli(args, {"PAGESCAN_BACKEND=bogus"});
    EXPECT_EQ(run.exit_code, 2) << run.describe();
    EXPECT_EQ(run.out, "");
    EXPECT_EQ(run.err, bad);
    if (args[0] == "scan" || args[0] == "map") {
      std::vector<std::string> explicit_backend = args;
      explicit_backend.insert(explicit_backend.end(), {"--backend", "kernel", "--json"});
      CliRun forced = run_cli(explicit_backend, {"PAGESCAN_BACKEND=bogus"});
      EXPECT_EQ(forced.exit_code, 0) << forced.describe();
      EXPECT_EQ(forced.err, "");
      EXPECT_EQ(json::parse(forced.out).at("backend"), "kernel") << forced.out.substr(0, 400);
    }
  }
}

TEST(CliCommandList, EveryMessageNamingCommandsNamesThemAll) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{}, std::vector<std::string>{"bogus"}}) {
    CliRun run = run_cli(args);
    EXPECT_EQ(run.exit_code, 2) << run.describe();
    std::string line = single_line(run.err);
    ASSERT_FALSE(line.empty()) << run.describe();
    EXPECT_NE(line.find("(expected scan, map, features, demo, watch, top, dump, exporter or help)"),
              std::string::npos)
        << line;
  }
}

TEST_F(CliCommon, NoEscapeCodesWhenStdoutIsNotATerminal) {
  for (const std::vector<std::string>& args : table_runs(*child)) {
    SCOPED_TRACE(joined(args));
    CliRun run = run_cli(args);  // stdout is a pipe
    ASSERT_EQ(run.exit_code, 0) << run.describe();
    EXPECT_EQ(run.out.find('\x1b'), std::string::npos) << run.out;
    EXPECT_EQ(run.err.find('\x1b'), std::string::npos) << run.err;
  }
}

// On a terminal every table is coloured (so the other checks can fail), unless NO_COLOR
// is set to something (https://no-color.org: an empty value does not count) or TERM is
// dumb.
TEST_F(CliCommon, ColourOnATerminalOnlyWithoutNoColor) {
  for (const std::vector<std::string>& args : table_runs(*child)) {
    SCOPED_TRACE(joined(args));
    PtyRun coloured = run_in_pty(PAGESCAN_CLI_PATH, args, {"TERM=xterm"});
    ASSERT_EQ(coloured.exit_code, 0) << coloured.out;
    EXPECT_NE(coloured.out.find("\x1b["), std::string::npos) << "no colour on a terminal";

    PtyRun empty = run_in_pty(PAGESCAN_CLI_PATH, args, {"TERM=xterm", "NO_COLOR="});
    ASSERT_EQ(empty.exit_code, 0) << empty.out;
    EXPECT_NE(empty.out.find("\x1b["), std::string::npos) << "an empty NO_COLOR turned it off";

    for (const char* off : {"NO_COLOR=1", "NO_COLOR=yes"}) {
      PtyRun plain = run_in_pty(PAGESCAN_CLI_PATH, args, {"TERM=xterm", off});
      ASSERT_EQ(plain.exit_code, 0) << plain.out;
      EXPECT_EQ(plain.out.find('\x1b'), std::string::npos) << off << "\n" << plain.out;
    }
    PtyRun dumb = run_in_pty(PAGESCAN_CLI_PATH, args, {"TERM=dumb"});
    ASSERT_EQ(dumb.exit_code, 0) << dumb.out;
    EXPECT_EQ(dumb.out.find('\x1b'), std::string::npos) << "TERM=dumb\n" << dumb.out;
  }
}

// JSON is for programs: never coloured, even on a terminal.
TEST_F(CliCommon, JsonOnATerminalHasNoEscapeCodes) {
  for (std::vector<std::string> args : table_runs(*child)) {
    args.push_back("--json");
    SCOPED_TRACE(joined(args));
    PtyRun run = run_in_pty(PAGESCAN_CLI_PATH, args, {"TERM=xterm"});
    ASSERT_EQ(run.exit_code, 0) << run.out;
    EXPECT_EQ(run.out.find('\x1b'), std::string::npos) << run.out;
  }
}

// Sizes in human units in tables, bytes or pages in JSON: the page size, as an example
// every command shows.
TEST_F(CliCommon, TablesGiveHumanSizesJsonGivesBytes) {
  const std::string human = "page size " + std::to_string(page_size() / 1024) + ".0 KiB";
  for (const std::vector<std::string>& args : table_runs(*child)) {
    SCOPED_TRACE(joined(args));
    CliRun table = run_cli(args);
    ASSERT_EQ(table.exit_code, 0) << table.describe();
    EXPECT_NE(table.out.find(human), std::string::npos) << table.out;
    std::vector<std::string> json_args = args;
    json_args.push_back("--json");
    CliRun j = run_cli(json_args);
    ASSERT_EQ(j.exit_code, 0) << j.describe();
    json doc = json::parse(j.out);
    const json& page = args[0] == "demo" ? doc["map"]["page_size"] : doc["page_size"];
    EXPECT_EQ(page, page_size()) << j.out.substr(0, 400);
  }
}

}  // namespace
}  // namespace pagescan::test
