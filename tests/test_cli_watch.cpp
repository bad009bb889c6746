// `pagescan watch` through the real CLI against plain_target (never the test process):
// the JSON Lines contract exactly (keys, order, hex strings), rounds driven by stdin with
// the target's writes between them giving exact written sets, every ending (eof, rounds,
// exited, killed, signal) with the target left clean, the table and CSV, lost output,
// and the usage errors.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "proc/maps.hpp"
#include "support/cli_json_lines.hpp"
#include "support/cli_runner.hpp"
#include "support/kernel_facts.hpp"
#include "support/piped_program.hpp"
#include "support/storm_mirror.hpp"
#include "support/target_process.hpp"

namespace pagescan::test {
namespace {

const std::uint64_t kPage = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));

// [{"start","end"}] of pages [first, first + count) of the target's region, per pair.
Json written(const TargetProcess& t, const std::vector<std::pair<int, int>>& spans) {
  Json list = Json::array();
  for (auto [first, count] : spans) {
    Json r;
    r["start"] = hex(t.region() + static_cast<std::uint64_t>(first) * kPage);
    r["end"] = hex(t.region() + static_cast<std::uint64_t>(first + count) * kPage);
    list.push_back(r);
  }
  return list;
}

std::string region_range(const TargetProcess& t, int first = 0, int count = -1) {
  const std::uint64_t pages = count < 0 ? t.pages() : static_cast<std::uint64_t>(count);
  return hex(t.region() + static_cast<std::uint64_t>(first) * kPage) + "-" +
         hex(t.region() + (static_cast<std::uint64_t>(first) + pages) * kPage);
}

// Whether `pid` is a zombie (it exited; its parent, this test, has not reaped it).
bool wait_zombie(pid_t pid) {
  return wait_state(pid, 'Z');
}

class CliWatch : public ::testing::Test {
 protected:
  void SetUp() override {
    PAGESCAN_REQUIRE_FACT(Fact::uffd_wp_async);
    PAGESCAN_REQUIRE_FACT(Fact::pagemap_scan);
    ASSERT_GT(target.pid(), 0) << target.error();
  }
  TargetProcess target{{"writer"}};
};

TEST_F(CliWatch, JsonLinesRoundsOnStdinReportExactlyThePagesWritten) {
  Pagescan watch({"watch", std::to_string(target.pid()), "--range", region_range(target),
                  "--trigger", "stdin", "--json"});
  ASSERT_GT(watch.pid(), 0) << watch.error();
  Json armed = parse_line(watch.read_line());
  EXPECT_EQ(keys_of(armed), (std::vector<std::string>{"pid", "engine", "armed", "untracked"}));
  EXPECT_EQ(armed["pid"], target.pid());
  EXPECT_EQ(armed["engine"], "uffd");
  EXPECT_EQ(armed["armed"], written(target, {{0, 64}}));
  EXPECT_EQ(armed["untracked"], Json::array());
  EXPECT_TRUE(any_uffd_wp_registered(target.pid()));

  // Each round: what the target did since the round before, exactly.
  const std::vector<std::pair<std::vector<std::string>, std::vector<std::pair<int, int>>>> rounds =
      {
          {{"0 3"}, {{0, 3}}},                        // user writes
          {{"pread 10 2", "read 20 5"}, {{10, 2}}},   // kernel writes; reads are not writes
          {{}, {}},                                   // nothing
          {{"5 1", "7 1", "8 2"}, {{5, 1}, {7, 3}}},  // ascending, coalesced
          {{"0 3"}, {{0, 3}}},                        // re-armed: written again
      };
  for (std::size_t i = 0; i < rounds.size(); ++i) {
    SCOPED_TRACE("round " + std::to_string(i + 1));
    for (const std::string& command : rounds[i].first) target_does(target, command);
    ASSERT_TRUE(watch.send(""));
    Json round = parse_line(watch.read_line());
    EXPECT_EQ(keys_of(round), (std::vector<std::string>{"round", "pid", "pages", "written"}));
    EXPECT_EQ(round["round"], i + 1);
    EXPECT_EQ(round["pid"], target.pid());
    int pages = 0;
    for (auto [first, count] : rounds[i].second) pages += count;
    EXPECT_EQ(round["pages"], pages);
    EXPECT_EQ(round["written"], written(target, rounds[i].second));
  }
  watch.close_input();
  Json ended = parse_line(watch.read_line());
  EXPECT_EQ(keys_of(ended), (std::vector<std::string>{"pid", "ended"}));
  EXPECT_EQ(ended["pid"], target.pid());
  EXPECT_EQ(ended["ended"], "eof");
  EXPECT_EQ(watch.read_line(), "");
  EXPECT_EQ(watch.wait_exit(), 0);
  EXPECT_FALSE(any_uffd_wp_registered(target.pid())) << "the watch left markers in the target";
  target_does(target, "1 1");  // and it runs normally
}

TEST_F(CliWatch, SeveralRangesAreWatchedEachAndOnlyThem) {
  Pagescan watch({"watch", std::to_string(target.pid()), "--range", region_range(target, 40, 8),
                  "--range", region_range(target, 0, 8), "--trigger", "stdin", "--json"});
  Json armed = parse_line(watch.read_line());
  EXPECT_EQ(armed["armed"], written(target, {{0, 8}, {40, 8}}));
  target_does(target, "0 64");
  ASSERT_TRUE(watch.send(""));
  Json round = parse_line(watch.read_line());
  EXPECT_EQ(round["pages"], 16);
  EXPECT_EQ(round["written"], written(target, {{0, 8}, {40, 8}}));
  watch.close_input();
  EXPECT_EQ(parse_line(watch.read_line())["ended"], "eof");
  EXPECT_EQ(watch.wait_exit(), 0);
}

TEST_F(CliWatch, RoundsEndsAfterThatManyRounds) {
  CliRun run = run_cli({"watch", std::to_string(target.pid()), "--range", region_range(target),
                        "--interval", "0.05", "--rounds", "3", "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.describe();
  const std::vector<std::string> lines = run.out_lines();
  ASSERT_EQ(lines.size(), 5u) << run.out;
  for (int i = 1; i <= 3; ++i) EXPECT_EQ(parse_line(lines[i])["round"], i);
  EXPECT_EQ(lines[4], "{\"pid\":" + std::to_string(target.pid()) + ",\"ended\":\"rounds\"}");
  EXPECT_FALSE(any_uffd_wp_registered(target.pid()));
}

TEST_F(CliWatch, EndOfInputBeforeAnyRoundEndsCleanly) {
  CliRun run =
      run_cli({"watch", std::to_string(target.pid()), "--trigger", "stdin", "--format", "json"});
  ASSERT_EQ(run.exit_code, 0) << run.describe();
  const std::vector<std::string> lines = run.out_lines();
  ASSERT_EQ(lines.size(), 2u) << run.out;
  // The whole process: the region among the armed ranges.
  Json armed = parse_line(lines[0]);
  bool region_armed = false;
  for (const Json& r : armed["armed"]) {
    region_armed = region_armed ||
                   (std::stoull(r["start"].get<std::string>(), nullptr, 16) <= target.region() &&
                    std::stoull(r["end"].get<std::string>(), nullptr, 16) >=
                        target.region() + target.pages() * kPage);
  }
  EXPECT_TRUE(region_armed) << lines[0];
  EXPECT_EQ(parse_line(lines[1])["ended"], "eof");
  EXPECT_FALSE(any_uffd_wp_registered(target.pid()));
}

// Whether some range of `list` covers [start, end) / meets it.
bool covers(const Json& list, std::uint64_t start, std::uint64_t end, bool whole) {
  for (const Json& r : list) {
    const std::uint64_t s = std::stoull(r["start"].get<std::string>(), nullptr, 16);
    const std::uint64_t e = std::stoull(r["end"].get<std::string>(), nullptr, 16);
    if (whole ? (s <= start && e >= end) : (s < end && e > start)) return true;
  }
  return false;
}

TEST_F(CliWatch, TheWholeProcessIsFollowedAMappingThatAppearsIsReportedOnce) {
  Pagescan watch({"watch", std::to_string(target.pid()), "--trigger", "stdin", "--json"});
  ASSERT_FALSE(watch.read_line().empty());
  ASSERT_TRUE(target.send("map 4"));
  const std::string mapped = target.read_line();
  ASSERT_EQ(mapped.rfind("mapped 0x", 0), 0u) << mapped;
  ASSERT_EQ(target.read_line(), "done");
  const std::uint64_t added = std::stoull(mapped.substr(7), nullptr, 16);
  ASSERT_TRUE(watch.send(""));
  Json first = parse_line(watch.read_line());
  EXPECT_TRUE(covers(first["written"], added, added + 4 * kPage, true)) << first.dump();
  ASSERT_TRUE(watch.send(""));  // untouched since: not reported again
  Json second = parse_line(watch.read_line());
  EXPECT_FALSE(covers(second["written"], added, added + 4 * kPage, false)) << second.dump();
  target_does(target, "0 1");  // and the region is still tracked
  ASSERT_TRUE(watch.send(""));
  Json third = parse_line(watch.read_line());
  EXPECT_TRUE(covers(third["written"], target.region(), target.region() + kPage, true));
  EXPECT_FALSE(
      covers(third["written"], target.region() + kPage, target.region() + 64 * kPage, false));
  watch.close_input();
  EXPECT_EQ(parse_line(watch.read_line())["ended"], "eof");
}

TEST_F(CliWatch, TheTargetsExitEndsTheWatch) {
  Pagescan watch({"watch", std::to_string(target.pid()), "--range", region_range(target),
                  "--trigger", "stdin", "--json"});
  ASSERT_FALSE(watch.read_line().empty());
  target.close_input();  // plain_target returns 0 at the end of its input
  ASSERT_TRUE(wait_zombie(target.pid()));
  ASSERT_TRUE(watch.send(""));
  Json ended = parse_line(watch.read_line());
  EXPECT_EQ(ended,
            Json::parse("{\"pid\":" + std::to_string(target.pid()) + ",\"ended\":\"exited\"}"));
  EXPECT_EQ(watch.wait_exit(), 0);
}

TEST_F(CliWatch, AnExecEndsTheWatch) {
  Pagescan watch({"watch", std::to_string(target.pid()), "--trigger", "stdin", "--json"});
  ASSERT_FALSE(watch.read_line().empty());
  target_does(target, "exec");
  // cat echoes: once it does, the exec is complete.
  ASSERT_TRUE(target.send("still here"));
  ASSERT_EQ(target.read_line(), "still here");
  ASSERT_TRUE(watch.send(""));
  EXPECT_EQ(parse_line(watch.read_line())["ended"], "exec");
  EXPECT_EQ(watch.wait_exit(), 0);
  EXPECT_FALSE(any_uffd_wp_registered(target.pid()));
}

TEST_F(CliWatch, AKilledTargetIsToldApartWhileItIsAZombie) {
  Pagescan watch({"watch", std::to_string(target.pid()), "--range", region_range(target),
                  "--trigger", "stdin", "--json"});
  ASSERT_FALSE(watch.read_line().empty());
  ASSERT_EQ(::kill(target.pid(), SIGKILL), 0);
  ASSERT_TRUE(wait_zombie(target.pid()));
  ASSERT_TRUE(watch.send(""));
  EXPECT_EQ(parse_line(watch.read_line())["ended"], "killed");
  EXPECT_EQ(watch.wait_exit(), 0);
}

TEST_F(CliWatch, SigintAndSigtermEndTheWatchCleanly) {
  for (int sig : {SIGINT, SIGTERM}) {
    SCOPED_TRACE(sig == SIGINT ? "SIGINT" : "SIGTERM");
    Pagescan watch({"watch", std::to_string(target.pid()), "--interval", "0.05", "--json"});
    ASSERT_FALSE(watch.read_line().empty());
    EXPECT_EQ(parse_line(watch.read_line())["round"], 1);  // running, rounds coming
    EXPECT_TRUE(any_uffd_wp_registered(target.pid()));
    ASSERT_EQ(::kill(watch.pid(), sig), 0);
    std::string line;
    for (line = watch.read_line(); line.find("\"ended\"") == std::string::npos && !line.empty();
         line = watch.read_line()) {
    }
    EXPECT_EQ(line, "{\"pid\":" + std::to_string(target.pid()) + ",\"ended\":\"signal\"}");
    EXPECT_EQ(watch.read_line(), "");
    EXPECT_EQ(watch.wait_exit(), 0);
    EXPECT_FALSE(any_uffd_wp_registered(target.pid())) << "the target was left with markers";
    target_does(target, "2 2");
  }
}

TEST_F(CliWatch, TableShowsPagesAndBytesPerMappingWithItsPath) {
  Pagescan watch({"watch", std::to_string(target.pid()), "--range", region_range(target),
                  "--trigger", "stdin"});
  const std::string first = watch.read_line();
  EXPECT_EQ(first.rfind("pid " + std::to_string(target.pid()) + ": 256.0 KiB armed in 1 range", 0),
            0u)
      << first;
  target_does(target, "0 4");
  ASSERT_TRUE(watch.send(""));
  // The mapping holding the region (it may have merged with a neighbour).
  std::uint64_t vma_start = 0;
  if (auto vmas = proc::read_vmas(target.pid(), false)) {
    for (const proc::Vma& v : *vmas) {
      if (v.start <= target.region() && target.region() < v.end) vma_start = v.start;
    }
  }
  // The armed text goes on until the round.
  std::vector<std::string> lines = {first};
  std::string round;
  while ((round = watch.read_line()).rfind("round", 0) != 0 && !round.empty()) {
    lines.push_back(round);
  }
  EXPECT_EQ(lines.size(), 2u) << "the armed text is a wrapped sentence";
  EXPECT_EQ(round, "round 1: 4 pages written (16.0 KiB) in 1 mapping");
  std::string row = watch.read_line();
  EXPECT_NE(row.find(hex(vma_start)), std::string::npos) << row;
  EXPECT_NE(row.find("4 pages"), std::string::npos) << row;
  EXPECT_NE(row.find("16.0 KiB"), std::string::npos) << row;
  EXPECT_NE(row.find("[anon]"), std::string::npos) << row;
  ASSERT_TRUE(watch.send(""));
  EXPECT_EQ(watch.read_line(), "round 2: nothing written");
  watch.close_input();
  EXPECT_EQ(watch.read_line(), "pid " + std::to_string(target.pid()) + ": watch ended (eof)");
  EXPECT_EQ(watch.wait_exit(), 0);
  for (const std::string& line : lines) EXPECT_LE(display_columns(line), 80u) << line;
  EXPECT_LE(display_columns(row), 80u) << row;
}

TEST_F(CliWatch, CsvHasARowPerWrittenRange) {
  Pagescan watch({"watch", std::to_string(target.pid()), "--range", region_range(target),
                  "--trigger", "stdin", "--format", "csv"});
  EXPECT_EQ(watch.read_line(), "round,start,end,pages,mapping");
  target_does(target, "1 2");
  target_does(target, "9 1");
  ASSERT_TRUE(watch.send(""));
  EXPECT_EQ(watch.read_line(),
            "1," +
                region_range(target, 1, 2).replace(region_range(target, 1, 2).find('-'), 1, ",") +
                ",2,[anon]");
  EXPECT_EQ(watch.read_line(), "1," + hex(target.region() + 9 * kPage) + "," +
                                   hex(target.region() + 10 * kPage) + ",1,[anon]");
  target_does(target, "3 1");
  ASSERT_TRUE(watch.send(""));
  EXPECT_EQ(watch.read_line(), "2," + hex(target.region() + 3 * kPage) + "," +
                                   hex(target.region() + 4 * kPage) + ",1,[anon]");
  watch.close_input();
  EXPECT_EQ(watch.read_line(), "");  // CSV has rows only: no ended line
  EXPECT_EQ(watch.wait_exit(), 0);
}

TEST_F(CliWatch, ALostWriteStopsTheWatchInTheRoundItHappens) {
  // No --rounds: only noticing the failed write ends it, with the target left clean.
  for (StdoutTo to : {StdoutTo::dev_full, StdoutTo::broken_pipe}) {
    CliRun run = run_program(PAGESCAN_CLI_PATH,
                             {"watch", std::to_string(target.pid()), "--interval", "0.05"}, {}, 20,
                             SpawnOptions{to, true});
    EXPECT_FALSE(run.timed_out);
    EXPECT_EQ(run.exit_code, 1) << run.describe();
    EXPECT_EQ(run.err.rfind("pagescan: cannot write standard output: ", 0), 0u) << run.err;
    EXPECT_FALSE(any_uffd_wp_registered(target.pid()));
  }
}

TEST_F(CliWatch, VmaChoosesOneMapping) {
  const std::string address = hex(target.region() + kPage);
  Pagescan watch(
      {"watch", std::to_string(target.pid()), "--vma", address, "--trigger", "stdin", "--json"});
  Json armed = parse_line(watch.read_line());
  ASSERT_EQ(armed["armed"].size(), 1u) << armed.dump();
  const std::uint64_t start =
      std::stoull(armed["armed"][0]["start"].get<std::string>(), nullptr, 16);
  const std::uint64_t end = std::stoull(armed["armed"][0]["end"].get<std::string>(), nullptr, 16);
  EXPECT_LE(start, target.region());
  EXPECT_GE(end, target.region() + target.pages() * kPage);
  watch.close_input();
  EXPECT_EQ(parse_line(watch.read_line())["ended"], "eof");
}

TEST_F(CliWatch, BadArgumentsAreUsageErrors) {
  const std::string pid = std::to_string(target.pid());
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"watch", pid, "--interval", "x"}, "bad --interval 'x': expected seconds > 0, e.g. 0.5"},
      {{"watch", pid, "--interval", "0"}, "bad --interval '0': expected seconds > 0, e.g. 0.5"},
      {{"watch", pid, "--interval", "-1"}, "bad --interval '-1': expected seconds > 0, e.g. 0.5"},
      {{"watch", pid, "--interval", "1", "--trigger", "stdin"},
       "--interval contradicts --trigger stdin (a round comes either every interval or on each "
       "line of stdin: give one)"},
      {{"watch", pid, "--trigger", "tty"}, "bad --trigger 'tty': expected stdin"},
      {{"watch", pid, "--rounds", "0"}, "bad --rounds '0': expected a number of rounds > 0"},
      {{"watch", pid, "--range", "0x1000-0x1000"},
       "bad range '0x1000-0x1000': it is empty (expected END > START)"},
      {{"watch", "self"},
       "bad target 'self': watch needs another process's id (pagescan cannot trace itself)"},
      {{"top", "self"},
       "bad target 'self': top needs another process's id (pagescan cannot trace itself)"},
      {{"top", pid, "--interval", "soon"}, "bad --interval 'soon': expected seconds > 0, e.g. 0.5"},
      {{"watch", "x"}, "bad target 'x': expected a process id (a number > 0) or 'self'"},
      {{"watch", pid, "--vma", "heap", "--range", "0x1000-0x2000"},
       "--vma 'heap' contradicts --range '0x1000-0x2000' (both choose the range: give one)"},
      {{"watch", pid, "--engine", "fast"},
       "bad --engine 'fast': expected auto, uffd or soft-dirty"},
      {{"watch", pid, "--engine", "mprotect"},
       "bad --engine 'mprotect': expected auto, uffd or soft-dirty (mprotect cannot watch "
       "another process)"},
      {{"top", pid, "--engine", ""}, "bad --engine '': expected auto, uffd or soft-dirty"},
      {{"watch", pid, "--max-mapping", "12Q"},
       "bad --max-mapping '12Q': expected a size such as 4096, 64K, 2M or 1G"},
      {{"top", pid, "--max-mapping", "-4K"},
       "bad --max-mapping '-4K': expected a size such as 4096, 64K, 2M or 1G"},
      {{"watch", pid, "--max-mapping", "0"}, "bad --max-mapping '0': expected a size > 0"},
  };
  for (const auto& [args, message] : cases) {
    CliRun run = run_cli(args, {"PAGESCAN_WATCH_ENGINE="});
    EXPECT_EQ(run.exit_code, 2) << run.describe();
    EXPECT_EQ(run.err, "pagescan: " + message + "\n");
    EXPECT_EQ(run.out, "");
  }
  EXPECT_FALSE(any_uffd_wp_registered(target.pid()));
}

TEST_F(CliWatch, AttachFailuresAreReported) {
  // Gone: a runtime error (exit 1), one line naming the pid.
  pid_t gone = 0;
  {
    TargetProcess short_lived({"read"});
    gone = short_lived.pid();
  }  // killed and reaped
  CliRun run = run_cli({"watch", std::to_string(gone), "--rounds", "1"});
  EXPECT_EQ(run.exit_code, 1) << run.describe();
  EXPECT_EQ(run.err_lines().size(), 1u) << run.err;
  EXPECT_NE(run.err.find(std::to_string(gone)), std::string::npos) << run.err;
  EXPECT_EQ(run.out, "");
  // A range with no writable mapping: the caller's fault (exit 2).
  CliRun none = run_cli({"watch", std::to_string(target.pid()), "--range", "0x1000-0x2000"});
  EXPECT_EQ(none.exit_code, 2) << none.describe();
  EXPECT_EQ(none.err_lines().size(), 1u) << none.err;
  EXPECT_EQ(none.out, "");
}

// The arming line names the engine chosen: uffd by default here, or when asked for.
TEST_F(CliWatch, TheArmingLineNamesTheEngineChosen) {
  for (const std::vector<std::string>& engine :
       {std::vector<std::string>{}, {"--engine", "auto"}, {"--engine", "uffd"}}) {
    std::vector<std::string> args = {"watch",      std::to_string(target.pid()),
                                     "--range",    region_range(target),
                                     "--rounds",   "1",
                                     "--interval", "0.01",
                                     "--json"};
    args.insert(args.end(), engine.begin(), engine.end());
    CliRun run = run_cli(args, {"PAGESCAN_WATCH_ENGINE="});
    ASSERT_EQ(run.exit_code, 0) << run.describe();
    EXPECT_EQ(parse_line(run.out.substr(0, run.out.find('\n')))["engine"], "uffd") << run.out;
  }
  // PAGESCAN_WATCH_ENGINE sets auto's choice, as for a WriteWatch; --engine overrides it.
  CliRun forced = run_cli({"watch", std::to_string(target.pid()), "--rounds", "1"},
                          {"PAGESCAN_WATCH_ENGINE=mprotect"});
  EXPECT_EQ(forced.exit_code, 1) << forced.describe();
  EXPECT_EQ(forced.err, "pagescan: watch of pid " + std::to_string(target.pid()) +
                            ": the mprotect engine (PAGESCAN_WATCH_ENGINE) cannot watch another "
                            "process (uffd or soft-dirty can)\n");
  CliRun named = run_cli({"watch", std::to_string(target.pid()), "--rounds", "1", "--interval",
                          "0.01", "--engine", "uffd", "--json"},
                         {"PAGESCAN_WATCH_ENGINE=mprotect"});
  EXPECT_EQ(named.exit_code, 0) << named.describe();
  CliRun unknown = run_cli({"watch", std::to_string(target.pid()), "--rounds", "1"},
                           {"PAGESCAN_WATCH_ENGINE=bogus"});
  EXPECT_EQ(unknown.exit_code, 2) << unknown.describe();
  EXPECT_EQ(unknown.err,
            "pagescan: PAGESCAN_WATCH_ENGINE: unknown write-tracking engine 'bogus' (expected "
            "auto, uffd, soft-dirty, mprotect or everything)\n");
  EXPECT_FALSE(any_uffd_wp_registered(target.pid()));
}

// --max-mapping: a writable mapping larger than it is listed as untracked, with why.
TEST_F(CliWatch, MaxMappingLeavesLargerMappingsUntracked) {
  const std::string limit = std::to_string(target.pages() * kPage / 2 / 1024) + "K";  // 128K
  CliRun run = run_cli({"watch", std::to_string(target.pid()), "--max-mapping", limit, "--rounds",
                        "1", "--interval", "0.01", "--json"},
                       {"PAGESCAN_WATCH_ENGINE="});
  ASSERT_EQ(run.exit_code, 0) << run.describe();
  Json armed = parse_line(run.out.substr(0, run.out.find('\n')));
  Json region;
  for (const Json& u : armed["untracked"]) {
    if (u["start"] == hex(target.region())) region = u;
  }
  ASSERT_FALSE(region.is_null()) << armed.dump();
  EXPECT_EQ(region["end"], hex(target.region() + target.pages() * kPage));
  EXPECT_EQ(region["reason"],
            "a mapping of " + std::to_string(target.pages() * kPage / 1024) +
                " KiB, larger than the " + std::to_string(target.pages() * kPage / 2 / 1024) +
                " KiB a watch arms (arming needs page tables for every page: a sparse "
                "reservation such as sanitizer shadow memory)");
  // Only the region was left out of what a whole-process watch arms.
  for (const Json& r : armed["armed"]) EXPECT_NE(r["start"], hex(target.region())) << r.dump();
  // Over the region alone nothing is left to track: exit 2, one line saying why.
  CliRun none = run_cli({"watch", std::to_string(target.pid()), "--range", region_range(target),
                         "--max-mapping", limit, "--rounds", "1"},
                        {"PAGESCAN_WATCH_ENGINE="});
  EXPECT_EQ(none.exit_code, 2) << none.describe();
  EXPECT_EQ(none.err_lines().size(), 1u) << none.err;
  EXPECT_NE(none.err.find("larger than the 128 KiB a watch arms"), std::string::npos) << none.err;
}

// Soft-dirty asked for where the kernel has none: one line, exit 1, nothing armed; the
// same from `top`, and when PAGESCAN_WATCH_ENGINE asks for it.
TEST(CliWatchSoftDirty, AskingForSoftDirtyWithoutItIsOneLine) {
  if (kernel_has(Fact::soft_dirty)) {
    GTEST_SKIP() << "soft-dirty works here: " << kernel_fact(Fact::soft_dirty).finding;
  }
  TargetProcess target({"writer"});
  ASSERT_GT(target.pid(), 0) << target.error();
  const std::string pid = std::to_string(target.pid());
  const bool exact =
      kernel_fact(Fact::soft_dirty).finding.find("no CONFIG_MEM_SOFT_DIRTY") != std::string::npos &&
      kernel_has(Fact::uffd_wp_async) && kernel_has(Fact::pagemap_scan);
  const std::string line = "pagescan: watch of pid " + pid +
                           ": soft-dirty is not built into this kernel (CONFIG_MEM_SOFT_DIRTY): "
                           "pagemap bit 55 never set; use the uffd engine\n";
  for (const auto& [args, env] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"watch", pid, "--engine", "soft-dirty", "--rounds", "1"}, "PAGESCAN_WATCH_ENGINE="},
           {{"top", pid, "--engine", "soft-dirty"}, "PAGESCAN_WATCH_ENGINE="},
           {{"watch", pid, "--rounds", "1"}, "PAGESCAN_WATCH_ENGINE=soft-dirty"}}) {
    CliRun run = run_cli(args, {env});
    EXPECT_EQ(run.exit_code, 1) << run.describe();
    EXPECT_EQ(run.out, "");
    EXPECT_EQ(run.err_lines().size(), 1u) << run.err;
    if (exact) EXPECT_EQ(run.err, line);
    EXPECT_NE(run.err.find("soft-dirty"), std::string::npos) << run.err;
  }
  EXPECT_FALSE(any_uffd_wp_registered(target.pid()));
}

// On a kernel with soft-dirty: the arming line names it and rounds are exact.
TEST(CliWatchSoftDirty, TheSoftDirtyEngineReportsRoundsLikeUffd) {
  PAGESCAN_REQUIRE_FACT(Fact::soft_dirty);
  TargetProcess target({"writer"});
  ASSERT_GT(target.pid(), 0) << target.error();
  Pagescan watch({"watch", std::to_string(target.pid()), "--range", region_range(target),
                  "--engine", "soft-dirty", "--trigger", "stdin", "--json"});
  ASSERT_GT(watch.pid(), 0) << watch.error();
  Json armed = parse_line(watch.read_line());
  EXPECT_EQ(armed["engine"], "soft-dirty");
  EXPECT_EQ(armed["armed"], written(target, {{0, 64}}));
  EXPECT_FALSE(any_uffd_wp_registered(target.pid())) << "soft-dirty registers nothing";
  target_does(target, "0 3");
  target_does(target, "pread 10 2");
  ASSERT_TRUE(watch.send(""));
  Json round = parse_line(watch.read_line());
  EXPECT_EQ(round["round"], 1);
  EXPECT_EQ(round["written"], written(target, {{0, 3}, {10, 2}}));
  watch.close_input();
  EXPECT_EQ(parse_line(watch.read_line())["ended"], "eof");
  EXPECT_EQ(watch.wait_exit(), 0);
}

}  // namespace
}  // namespace pagescan::test
