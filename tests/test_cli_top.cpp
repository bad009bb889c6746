// `pagescan top` through the real CLI against plain_target writing non-stop: on a
// terminal (a pty of 80x24) it shows the mappings written, fits the screen, quits on 'q',
// Ctrl-C (SIGINT) or SIGTERM and puts the terminal back as it found it; with stdout not a
// terminal it prints rounds as lines.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "support/cli_runner.hpp"
#include "support/kernel_facts.hpp"
#include "support/piped_program.hpp"
#include "support/pty_runner.hpp"
#include "support/target_process.hpp"

namespace pagescan::test {
namespace {

// The frames top drew: the output cut where each redraw starts (cursor home).
std::vector<std::vector<std::string>> frames_of(const std::string& out) {
  std::vector<std::vector<std::string>> frames;
  const std::string home = "\x1b[H";
  std::size_t at = out.find(home);
  while (at != std::string::npos) {
    const std::size_t next = out.find(home, at + home.size());
    PtyRun part;
    part.out = out.substr(at + home.size(),
                          next == std::string::npos ? std::string::npos : next - at - home.size());
    frames.push_back(part.lines());
    at = next;
  }
  return frames;
}

bool same_modes(const termios& a, const termios& b) {
  return a.c_iflag == b.c_iflag && a.c_oflag == b.c_oflag && a.c_lflag == b.c_lflag &&
         a.c_cc[VMIN] == b.c_cc[VMIN] && a.c_cc[VTIME] == b.c_cc[VTIME];
}

class CliTop : public ::testing::Test {
 protected:
  void SetUp() override {
    PAGESCAN_REQUIRE_FACT(Fact::uffd_wp_async);
    PAGESCAN_REQUIRE_FACT(Fact::pagemap_scan);
    ASSERT_GT(target.pid(), 0) << target.error();
    ASSERT_TRUE(target.send("spin 0 8"));  // 8 pages written every 20 ms from now on
    ASSERT_EQ(target.read_line(), "done");
  }
  // `top` on a terminal (80x24 unless said) until it has drawn round 3, then `input`.
  PtyRun top_until_round_3(const PtyInput& input, TerminalSize size = {80, 24}) {
    PtyInput step = input;
    step.after = "round 3,";
    return run_in_pty(PAGESCAN_CLI_PATH, {"top", std::to_string(target.pid()), "--interval", "0.1"},
                      {"TERM=xterm"}, 30, size, {step});
  }
  void expect_terminal_restored(const PtyRun& run) {
    ASSERT_TRUE(run.before && run.during && run.after);
    EXPECT_EQ(run.during->c_lflag & (ICANON | ECHO), 0u) << "keys were not read one at a time";
    EXPECT_TRUE(same_modes(*run.before, *run.after)) << "the terminal was not put back";
    // Back from the alternate screen, the cursor shown, after the last frame.
    const std::size_t leave = run.out.rfind("\x1b[?25h\x1b[?1049l");
    EXPECT_NE(leave, std::string::npos);
    EXPECT_GT(leave, run.out.rfind("\x1b[H"));
    EXPECT_FALSE(any_uffd_wp_registered(target.pid())) << "the target was left with markers";
  }
  TargetProcess target{{"writer"}};
};

TEST_F(CliTop, OnATerminalItShowsTheMappingsWrittenAndQuitsOnQ) {
  PtyRun run = top_until_round_3({"", "q", 0});
  ASSERT_FALSE(run.timed_out) << run.out;
  EXPECT_EQ(run.exit_code, 0) << run.out;
  const auto frames = frames_of(run.out);
  ASSERT_GE(frames.size(), 4u) << run.out;  // the empty one, then rounds 1 to 3
  const std::vector<std::string>& last = frames.back();
  ASSERT_GE(last.size(), 4u);
  EXPECT_NE(last[0].find("pid " + std::to_string(target.pid())), std::string::npos) << last[0];
  EXPECT_NE(last[2].find("RATE"), std::string::npos) << last[2];
  // The region: an anonymous mapping written at its start (full cells in its heat strip).
  bool region_row = false;
  for (std::size_t i = 3; i < last.size(); ++i) {
    region_row = region_row || (last[i].find("[anon]") != std::string::npos &&
                                last[i].find("\u2588") != std::string::npos);
  }
  EXPECT_TRUE(region_row) << run.out;
  for (const auto& frame : frames) {
    EXPECT_LE(frame.size(), 24u) << "more rows than the terminal";
    for (const std::string& line : frame) EXPECT_LE(display_columns(line), 80u) << line;
  }
  expect_terminal_restored(run);
}

TEST_F(CliTop, ASmallTerminalIsFilledNotOverrun) {
  PtyRun run = top_until_round_3({"", "q", 0}, {40, 5});
  ASSERT_FALSE(run.timed_out) << run.out;
  EXPECT_EQ(run.exit_code, 0) << run.out;
  const auto frames = frames_of(run.out);
  ASSERT_GE(frames.size(), 4u) << run.out;
  EXPECT_EQ(frames.back().size(), 5u) << "the rows were not all used";
  for (const auto& frame : frames) {
    EXPECT_LE(frame.size(), 5u) << "more rows than the terminal";
    for (const std::string& line : frame) EXPECT_LE(display_columns(line), 40u) << line;
  }
  expect_terminal_restored(run);
}

TEST_F(CliTop, CtrlCAndSigtermQuitAndPutTheTerminalBack) {
  for (int sig : {SIGINT, SIGTERM}) {
    SCOPED_TRACE(sig == SIGINT ? "SIGINT" : "SIGTERM");
    PtyRun run = top_until_round_3({"", "", sig});
    ASSERT_FALSE(run.timed_out) << run.out;
    EXPECT_EQ(run.exit_code, 0) << run.out;
    expect_terminal_restored(run);
  }
}

TEST_F(CliTop, WithoutATerminalItPrintsRoundsAsLines) {
  PipedProgram top(PAGESCAN_CLI_PATH, {"top", std::to_string(target.pid()), "--interval", "0.05"},
                   {"COLUMNS="});
  ASSERT_GT(top.pid(), 0) << top.error();
  std::vector<std::string> lines;
  for (std::string line = top.read_line(); !line.empty(); line = top.read_line()) {
    lines.push_back(line);
    if (line.rfind("round 2: ", 0) == 0) break;
  }
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines.back().rfind("round 2: ", 0), 0u) << lines.back();
  EXPECT_EQ(lines[0].rfind("pid " + std::to_string(target.pid()) + ": ", 0), 0u) << lines[0];
  ASSERT_EQ(::kill(top.pid(), SIGINT), 0);
  for (std::string line = top.read_line(); !line.empty(); line = top.read_line()) {
    lines.push_back(line);
  }
  EXPECT_EQ(lines.back(), "pid " + std::to_string(target.pid()) + ": watch ended (signal)");
  EXPECT_EQ(top.wait_exit(), 0);
  bool anon_row = false;
  for (const std::string& line : lines) {
    EXPECT_EQ(line.find('\x1b'), std::string::npos) << "a terminal sequence in: " << line;
    EXPECT_LE(display_columns(line), 80u) << line;
    anon_row = anon_row || line.find("[anon]") != std::string::npos;
  }
  EXPECT_TRUE(anon_row);
  EXPECT_FALSE(any_uffd_wp_registered(target.pid()));
}

// --engine and --max-mapping reach the watch: the first line names the engine, and a
// limit below every mapping leaves nothing to track (exit 2, one line).
TEST_F(CliTop, EngineAndMaxMappingAreWatchs) {
  PipedProgram top(PAGESCAN_CLI_PATH,
                   {"top", std::to_string(target.pid()), "--interval", "0.05", "--engine", "uffd"},
                   {"COLUMNS=", "PAGESCAN_WATCH_ENGINE="});
  ASSERT_GT(top.pid(), 0) << top.error();
  const std::string first = top.read_line();
  EXPECT_NE(first.find("(uffd)"), std::string::npos) << first;
  ASSERT_EQ(::kill(top.pid(), SIGTERM), 0);
  EXPECT_EQ(top.wait_exit(), 0);
  CliRun tiny = run_cli({"top", std::to_string(target.pid()), "--max-mapping", "1"},
                        {"PAGESCAN_WATCH_ENGINE="});
  EXPECT_EQ(tiny.exit_code, 2) << tiny.describe();
  EXPECT_EQ(tiny.err_lines().size(), 1u) << tiny.err;
  EXPECT_NE(tiny.err.find("larger than the 1 byte a watch arms"), std::string::npos) << tiny.err;
  EXPECT_FALSE(any_uffd_wp_registered(target.pid()));
}

}  // namespace
}  // namespace pagescan::test
