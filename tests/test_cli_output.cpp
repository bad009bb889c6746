// The CLI never loses output silently: a failed write to stdout (full disk, closed
// descriptor, broken pipe) is one line and exit 1, never an abort and never exit 0; file
// options (--svg) write a regular file whole, follow symlinks, keep the mode, refuse what
// is not a file, and '-' is stdout. Also the help: the category guide, and wrapping that
// never splits a word.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "pagescan/categories.hpp"
#include "support/cli_runner.hpp"
#include "support/temp_dir.hpp"

namespace pagescan::test {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

mode_t mode_of(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 ? st.st_mode : 0;
}

void expect_only_line(const CliRun& run, int code, const std::string& line) {
  EXPECT_EQ(run.signal, 0) << run.describe();
  EXPECT_EQ(run.exit_code, code) << run.describe();
  EXPECT_EQ(run.err, "pagescan: " + line + "\n") << run.describe();
}

// Commands whose output is small (stays in the stdio buffer until the final flush) and
// large (fails while the command runs).
const std::vector<std::vector<std::string>> kOutputs = {{"features"},
                                                        {"--help"},
                                                        {"--version"},
                                                        {"scan", "--help"},
                                                        {"help", "categories"},
                                                        {"scan", "self"},
                                                        {"scan", "self", "--json"},
                                                        {"map", "self", "--json"}};

TEST(CliOutput, AFullDiskIsOneLineAndExitOne) {
  for (const auto& args : kOutputs) {
    SCOPED_TRACE(args.front() + (args.size() > 1 ? " " + args[1] : ""));
    CliRun run = run_cli(args, SpawnOptions{StdoutTo::dev_full});
    expect_only_line(run, 1, "cannot write standard output: No space left on device");
  }
}

TEST(CliOutput, AClosedStdoutFailsBeforeAnyWork) {
  TempDir dir;
  for (const auto& args : kOutputs) {
    SCOPED_TRACE(args.front());
    expect_only_line(run_cli(args, SpawnOptions{StdoutTo::closed}), 1,
                     "cannot write standard output: it is closed");
  }
  // Nothing is done that the output would have reported: no picture is written.
  CliRun map = run_cli({"map", "self", "--svg", dir / "map.svg"}, SpawnOptions{StdoutTo::closed});
  expect_only_line(map, 1, "cannot write standard output: it is closed");
  EXPECT_TRUE(dir.entries().empty());
}

TEST(CliOutput, AStdoutOpenForReadingIsOneLineAndExitOne) {
  for (const auto& args : kOutputs) {
    SCOPED_TRACE(args.front());
    expect_only_line(run_cli(args, SpawnOptions{StdoutTo::read_only}), 1,
                     "cannot write standard output: Bad file descriptor");
  }
}

TEST(CliOutput, ABrokenPipeIsNeverExitZero) {
  for (const auto& args : kOutputs) {
    SCOPED_TRACE(args.front());
    // With SIGPIPE ignored (as some supervisors start programs) the write fails: a line.
    expect_only_line(run_cli(args, SpawnOptions{StdoutTo::broken_pipe, true}), 1,
                     "cannot write standard output: Broken pipe");
    // By default SIGPIPE ends the program, as for every Unix filter (`| head`).
    CliRun killed = run_cli(args, SpawnOptions{StdoutTo::broken_pipe, false});
    EXPECT_EQ(killed.signal, SIGPIPE) << killed.describe();
  }
}

// ---- --svg FILE ----------------------------------------------------------------------

bool looks_like_svg(const std::string& text) {
  return text.rfind("<?xml", 0) == 0 && text.find("</svg>") != std::string::npos;
}

TEST(CliSvgFile, ASymlinkIsFollowedAndStaysALink) {
  TempDir dir;
  { std::ofstream(dir / "real.svg") << "old"; }
  ASSERT_EQ(::symlink("real.svg", (dir / "link.svg").c_str()), 0);
  // A dangling link's target is created, as a shell's `>` would.
  ASSERT_EQ(::symlink("new.svg", (dir / "dangling.svg").c_str()), 0);
  for (const char* link : {"link.svg", "dangling.svg"}) {
    CliRun run = run_cli({"map", "self", "--svg", dir / link});
    ASSERT_EQ(run.exit_code, 0) << run.describe();
    EXPECT_TRUE(S_ISLNK(mode_of(dir / link))) << link << " was replaced by a regular file";
  }
  EXPECT_TRUE(looks_like_svg(read_file(dir / "real.svg")));
  EXPECT_TRUE(looks_like_svg(read_file(dir / "new.svg")));
  EXPECT_EQ(dir.entries(),
            (std::vector<std::string>{"dangling.svg", "link.svg", "new.svg", "real.svg"}));
}

TEST(CliSvgFile, AnExistingFileKeepsItsMode) {
  TempDir dir;
  for (mode_t mode : {0444, 0600, 0640}) {
    const std::string path = dir / ("m" + std::to_string(mode) + ".svg");
    { std::ofstream(path) << "old"; }
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
    CliRun run = run_cli({"map", "self", "--svg", path});
    if (mode == 0444 && ::geteuid() != 0) {
      // Not root: a file the caller may not write is not replaced behind its back.
      expect_only_line(run, 1,
                       "cannot write " + path + ": checking it is writable: Permission denied");
      EXPECT_EQ(read_file(path), "old");
    } else {
      ASSERT_EQ(run.exit_code, 0) << run.describe();
      EXPECT_TRUE(looks_like_svg(read_file(path)));
    }
    EXPECT_EQ(mode_of(path) & 07777, mode) << path;
  }
}

TEST(CliSvgFile, WhatIsNotARegularFileIsRefusedBeforeTheScan) {
  TempDir dir;
  ASSERT_EQ(::mkfifo((dir / "fifo").c_str(), 0644), 0);
  ASSERT_EQ(::symlink("fifo", (dir / "to-fifo.svg").c_str()), 0);
  const std::string expected =
      " (expected a regular file or a new file name; '-' writes to "
      "standard output)";
  expect_only_line(run_cli({"map", "self", "--svg", dir / "fifo"}), 2,
                   "cannot write " + (dir / "fifo") + ": it is a FIFO" + expected);
  expect_only_line(run_cli({"map", "self", "--svg", dir / "to-fifo.svg"}), 2,
                   "cannot write " + (dir / "to-fifo.svg") + " (-> " + dir.path() +
                       "/fifo): it is a FIFO" + expected);
  expect_only_line(run_cli({"map", "self", "--svg", "/dev/null"}), 2,
                   "cannot write /dev/null: it is a character device" + expected);
  EXPECT_TRUE(S_ISFIFO(mode_of(dir / "fifo"))) << "the FIFO was replaced";
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"fifo", "to-fifo.svg"}));
}

TEST(CliSvgFile, DashWritesOnlyThePictureToStdout) {
  CliRun run = run_cli({"map", "self", "--svg", "-"});
  ASSERT_EQ(run.exit_code, 0) << run.describe();
  EXPECT_TRUE(looks_like_svg(run.out)) << run.out.substr(0, 200);
  EXPECT_EQ(run.out.find("SVG: "), std::string::npos) << "the table was mixed in";
  expect_only_line(run_cli({"map", "self", "--svg", "-", "--json"}), 2,
                   "--svg - writes the picture to standard output instead of the table: it "
                   "cannot be combined with --json");
  CliRun full = run_cli({"map", "self", "--svg", "-"}, SpawnOptions{StdoutTo::dev_full});
  expect_only_line(full, 1, "cannot write standard output: No space left on device");
}

// A file system that fills up while the picture is written: the old file stays whole and
// no temporary is left. Needs a tmpfs of a few pages, so root (or CAP_SYS_ADMIN).
TEST(CliSvgFile, AFullFileSystemLeavesTheOldFileWhole) {
  TempDir dir;
  const std::string mnt = dir / "small";
  ASSERT_EQ(::mkdir(mnt.c_str(), 0755), 0);
  if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=8k") != 0) {
    GTEST_SKIP() << "cannot mount a small tmpfs to fill (" << std::strerror(errno)
                 << "): needs CAP_SYS_ADMIN";
  }
  struct Unmount {
    std::string path;
    ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
  } unmount{mnt};
  const std::string path = mnt + "/map.svg";
  { std::ofstream(path) << "old"; }
  CliRun run = run_cli({"map", "self", "--svg", path});
  EXPECT_EQ(run.exit_code, 1) << run.describe();
  EXPECT_EQ(run.err_lines().size(), 1u) << run.describe();
  EXPECT_NE(run.err.find("cannot write " + path + ": "), std::string::npos) << run.describe();
  EXPECT_NE(run.err.find("No space left on device"), std::string::npos) << run.describe();
  EXPECT_EQ(run.out, "") << "the table was printed although the picture failed";
  EXPECT_EQ(read_file(path), "old");
  EXPECT_EQ(directory_entries(mnt), std::vector<std::string>{"map.svg"})
      << "a temporary was left behind";
}

// ---- help ------------------------------------------------------------------------------

TEST(CliHelp, CategoriesDefinesEveryCategoryOnce) {
  CliRun run = run_cli({"help", "categories"});
  ASSERT_EQ(run.exit_code, 0) << run.describe();
  for (Category c : kAllCategories) {
    const std::string name(to_string(c));
    std::size_t defined = 0;
    for (const std::string& line : run.out_lines()) {
      defined += line.rfind("  " + name + " ", 0) == 0;
    }
    EXPECT_EQ(defined, 1u) << name << " in:\n" << run.out;
  }
  // The one that surprises says what it is not.
  EXPECT_NE(run.out.find("NOT \"has been written to\""), std::string::npos);
}

TEST(CliHelp, ACommandsHelpByNameIsItsDashDashHelp) {
  for (const char* command :
       {"scan", "map", "features", "demo", "watch", "top", "dump", "exporter", "help"}) {
    CliRun by_name = run_cli({"help", command});
    CliRun flag = run_cli({command, "--help"});
    ASSERT_EQ(by_name.exit_code, 0) << by_name.describe();
    EXPECT_EQ(by_name.out, flag.out) << command;
  }
  EXPECT_EQ(run_cli({"help"}).out, run_cli({"--help"}).out);
  expect_only_line(run_cli({"help", "bogus"}), 2,
                   "bad help topic 'bogus': expected categories, scan, map, features, demo, "
                   "watch, top, dump, exporter or help");
  expect_only_line(run_cli({"help", "scan", "map"}), 2,
                   "help: unexpected argument 'map' (expected options only, no arguments; see "
                   "'pagescan help --help')");
}

std::vector<std::string> words_of(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> words;
  for (std::string word; in >> word;) words.push_back(word);
  return words;
}

// Wrapping moves words between lines and nothing else: the words at 40 columns are the
// words at 1000, and every line fits unless it is one word too long to break.
TEST(CliHelp, HelpWrapsAtTheWidthBetweenWords) {
  const std::vector<std::vector<std::string>> screens = {
      {"--help"},         {"scan", "--help"}, {"map", "--help"},     {"features", "--help"},
      {"demo", "--help"}, {"help", "--help"}, {"help", "categories"}};
  for (const auto& args : screens) {
    SCOPED_TRACE(args.front() + " " + args.back());
    CliRun wide = run_cli(args, {"COLUMNS=1000"});
    for (unsigned width : {40u, 80u}) {
      CliRun narrow = run_cli(args, {"COLUMNS=" + std::to_string(width)});
      ASSERT_EQ(narrow.exit_code, 0) << narrow.describe();
      EXPECT_EQ(words_of(narrow.out), words_of(wide.out)) << narrow.out;
      for (const std::string& line : narrow.out_lines()) {
        if (line.size() <= width) continue;
        EXPECT_EQ(words_of(line).size(), 1u) << "longer than " << width << ": '" << line << "'";
      }
    }
  }
}

}  // namespace
}  // namespace pagescan::test
