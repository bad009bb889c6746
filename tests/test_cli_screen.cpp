// Every screen fits the terminal: each command's output and every --help, run on an
// 80-column pseudo-terminal as a person would run them, has no line longer than 80
// columns; the width comes from the terminal, COLUMNS or --width, in that order of
// precedence reversed (--width wins).
#include <gtest/gtest.h>

#include <sys/mman.h>
#include <unistd.h>

#include <optional>
#include <string>
#include <vector>

#include "support/child_process.hpp"
#include "support/cli_runner.hpp"
#include "support/pty_runner.hpp"

namespace pagescan::test {
namespace {

// Lines wider than `columns`, each with its width, for the failure message.
std::string too_wide(const std::vector<std::string>& lines, std::size_t columns) {
  std::string found;
  for (const std::string& line : lines) {
    if (display_columns(line) > columns) {
      found += "  [" + std::to_string(display_columns(line)) + "] " + line + "\n";
    }
  }
  return found;
}

// The screens a person sees, with `{pid}` a child with a varied layout.
const std::vector<std::vector<std::string>> kScreens = {
    {"--help"},
    {"scan", "--help"},
    {"map", "--help"},
    {"features", "--help"},
    {"demo", "--help"},
    {"help", "--help"},
    {"watch", "--help"},
    {"top", "--help"},
    {"exporter", "--help"},
    {"dump", "--help"},
    {"help", "categories"},
    {"features"},
    {"scan", "self"},
    {"scan", "{pid}"},
    {"map", "self"},
    {"map", "{pid}"},
    {"map", "{pid}", "--heat"},
    {"map", "{pid}", "--heat", "--ascii"},
    {"demo"},
};

// A child whose VMAs stretch a table: written and read anonymous memory, shared memory,
// guard pages, and a file whose path is longer than any screen (deleted once mapped).
std::vector<std::uint64_t> varied_layout() {
  const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  auto* anon = static_cast<char*>(
      ::mmap(nullptr, 64 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  if (anon != MAP_FAILED) {
    for (std::size_t i = 0; i < 32; ++i) anon[i * page] = 1;
    for (std::size_t i = 32; i < 48; ++i) (void)*static_cast<volatile char*>(anon + i * page);
    ::madvise(anon + 60 * page, 4 * page, 102 /* MADV_GUARD_INSTALL; fails before 6.13 */);
  }
  auto* shared = static_cast<char*>(
      ::mmap(nullptr, 16 * page, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  if (shared != MAP_FAILED) {
    for (std::size_t i = 0; i < 16; ++i) shared[i * page] = 1;
  }
  std::string name = "/tmp/pagescan-screen-" + std::string(150, 'x') + "-XXXXXX";
  int fd = ::mkstemp(name.data());
  if (fd >= 0 && ::ftruncate(fd, static_cast<off_t>(8 * page)) == 0) {
    ::mmap(nullptr, 8 * page, PROT_READ, MAP_PRIVATE, fd, 0);
  }
  if (fd >= 0) {
    ::close(fd);
    ::unlink(name.c_str());
  }
  return {};
}

class CliScreen : public ::testing::Test {
 protected:
  void SetUp() override { child.emplace(varied_layout); }
  std::vector<std::string> fill(std::vector<std::string> args) const {
    for (std::string& a : args) {
      if (a == "{pid}") a = std::to_string(child->pid());
    }
    return args;
  }
  std::optional<ChildProcess> child;
};

TEST_F(CliScreen, EveryScreenFitsAnEightyColumnTerminal) {
  for (const auto& screen : kScreens) {
    const std::vector<std::string> args = fill(screen);
    std::string name;
    for (const std::string& a : screen) name += a + " ";
    SCOPED_TRACE(name);
    PtyRun run = run_in_pty(PAGESCAN_CLI_PATH, args, {"TERM=xterm"}, 120, {80, 50});
    ASSERT_FALSE(run.timed_out) << run.out;
    EXPECT_EQ(run.exit_code, 0) << run.out;
    EXPECT_GT(run.lines().size(), 3u) << run.out;
    EXPECT_EQ(too_wide(run.lines(), 80), "") << "lines wider than 80 columns";
  }
}

TEST_F(CliScreen, AWiderTerminalIsUsed) {
  // The help's paragraphs fill the width they are given: some line passes 80 on a
  // 120-column terminal, none passes 120.
  PtyRun run = run_in_pty(PAGESCAN_CLI_PATH, {"map", "--help"}, {}, 60, {120, 50});
  ASSERT_EQ(run.exit_code, 0) << run.out;
  EXPECT_EQ(too_wide(run.lines(), 120), "");
  EXPECT_NE(too_wide(run.lines(), 80), "") << "the 120-column terminal was not used";
}

TEST(CliWidth, ColumnsAndWidthSetTheWidthWithoutATerminal) {
  // Not a terminal and nothing said: 80.
  CliRun plain = run_cli({"help", "categories"}, {"COLUMNS="});
  EXPECT_EQ(too_wide(plain.out_lines(), 80), "");
  EXPECT_NE(too_wide(plain.out_lines(), 70), "") << "80 columns were not filled";
  CliRun columns = run_cli({"help", "categories"}, {"COLUMNS=50"});
  EXPECT_EQ(too_wide(columns.out_lines(), 50), "");
  // --width wins over COLUMNS.
  CliRun flag = run_cli({"help", "categories", "--width", "120"}, {"COLUMNS=50"});
  EXPECT_EQ(too_wide(flag.out_lines(), 120), "");
  EXPECT_NE(too_wide(flag.out_lines(), 80), "");
  // A COLUMNS that is not a width is ignored, as ls and the shells do.
  CliRun junk = run_cli({"help", "categories"}, {"COLUMNS=wide"});
  EXPECT_EQ(junk.exit_code, 0) << junk.describe();
  EXPECT_EQ(junk.out, plain.out);
}

TEST(CliWidth, BadWidthIsAUsageError) {
  for (const char* command : {"scan", "map"}) {
    CliRun run = run_cli({command, "self", "--width", "10"});
    EXPECT_EQ(run.exit_code, 2) << run.describe();
    EXPECT_EQ(run.err, "pagescan: bad --width '10': expected 40 to 1000 columns\n");
    EXPECT_EQ(run.out, "");
  }
  CliRun text = run_cli({"features", "--width", "wide"});
  EXPECT_EQ(text.exit_code, 2) << text.describe();
  EXPECT_EQ(text.err,
            "pagescan: bad --width 'wide': expected a number in hex (0x...) or decimal\n");
}

}  // namespace
}  // namespace pagescan::test
