// `pagescan dump` through the real CLI against plain_target (never the test process):
// a core gdb loads with the bytes the target wrote, the JSON fields exactly, a series
// with --every (numbered standalone cores, each later one incremental), its endings
// (count, the target's exit, SIGTERM), failures leaving nothing under the final name,
// and the usage errors. What is inside a core (notes, holes, filters, pre-copy under a
// writer) is checked against the library in test_core_dump*.
#include <elf.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <vector>

#include "support/cli_json_lines.hpp"
#include "support/cli_runner.hpp"
#include "support/kernel_facts.hpp"
#include "support/piped_program.hpp"
#include "support/target_process.hpp"
#include "support/temp_dir.hpp"

namespace pagescan::test {
namespace {

const std::uint64_t kPage = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));

// Whether the file starts as an x86-64 ELF core does.
bool is_elf_core(const std::string& path) {
  Elf64_Ehdr header{};
  std::ifstream in(path, std::ios::binary);
  in.read(reinterpret_cast<char*>(&header), sizeof header);
  return in && std::memcmp(header.e_ident, ELFMAG, SELFMAG) == 0 &&
         header.e_ident[EI_CLASS] == ELFCLASS64 && header.e_type == ET_CORE &&
         header.e_machine == EM_X86_64;
}

// gdb -batch on the core with plain_target as the executable; its stdout.
std::string gdb_on(const std::string& core, const std::vector<std::string>& commands) {
  std::vector<std::string> args = {"-batch", "-nx", "-q"};
  for (const std::string& c : commands) {
    args.push_back("-ex");
    args.push_back(c);
  }
  args.push_back(std::string(PAGESCAN_TEST_TARGETS_DIR) + "/plain_target");
  args.push_back(core);
  CliRun run = run_program("/usr/bin/gdb", args, {}, 120);
  EXPECT_EQ(run.exit_code, 0) << run.describe();
  return run.out;
}

class CliDump : public ::testing::Test {
 protected:
  void SetUp() override {
    PAGESCAN_REQUIRE_FACT(Fact::uffd_wp_async);
    PAGESCAN_REQUIRE_FACT(Fact::pagemap_scan);
    ASSERT_GT(target.pid(), 0) << target.error();
  }
  TargetProcess target{{"writer"}};
  TempDir dir;
};

TEST_F(CliDump, ACoreLoadsInGdbWithTheBytesTheTargetWrote) {
  if (::access("/usr/bin/gdb", X_OK) != 0) GTEST_SKIP() << "gdb is not installed";
  target_does(target, "3 2");  // pages 3 and 4 of the region now hold 1
  const std::string core = dir / "core";
  CliRun run = run_cli({"dump", std::to_string(target.pid()), "-o", core, "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.describe();
  EXPECT_EQ(run.err, "");
  ASSERT_EQ(run.out_lines().size(), 1u) << run.out;
  Json line = parse_line(run.out_lines()[0]);
  EXPECT_EQ(keys_of(line), (std::vector<std::string>{
                               "path", "dump", "pid", "mappings", "threads", "data_bytes",
                               "hole_bytes", "copied_bytes", "stopped_seconds", "elapsed_seconds",
                               "precopy_passes", "incremental", "reflinked"}));
  EXPECT_EQ(line["path"], core);
  EXPECT_EQ(line["dump"], 1);
  EXPECT_EQ(line["pid"], target.pid());
  EXPECT_EQ(line["threads"], 1);
  EXPECT_GT(line["mappings"].get<int>(), 5);
  EXPECT_GT(line["precopy_passes"].get<int>(), 0);
  EXPECT_EQ(line["incremental"], false);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"core"}) << "a temporary was left";
  EXPECT_TRUE(is_elf_core(core));
  struct stat st {};
  ASSERT_EQ(::stat(core.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u) << "a core holds the target's memory: owner only";

  const std::string out = gdb_on(core, {"info threads", "x/1xb " + hex(target.region() + 3 * kPage),
                                        "x/1xb " + hex(target.region() + 5 * kPage)});
  EXPECT_NE(out.find("plain_target"), std::string::npos) << out;
  EXPECT_NE(out.find(":\t0x01"), std::string::npos) << "page 3 as written:\n" << out;
  EXPECT_NE(out.find(":\t0x00"), std::string::npos) << "page 5, never written:\n" << out;
  // The target runs on.
  target_does(target, "0 1");
}

TEST_F(CliDump, TheLineSaysWhatTheCoreHoldsAndHowLongTheTargetStopped) {
  const std::string core = dir / "core";
  for (const bool precopy : {true, false}) {
    std::vector<std::string> args = {"dump", std::to_string(target.pid()), "-o", core, "--width",
                                     "1000"};
    if (!precopy) args.push_back("--no-precopy");
    CliRun run = run_cli(args);
    ASSERT_EQ(run.exit_code, 0) << run.describe();
    const std::regex line("^" +
                          std::regex_replace(core, std::regex("[.^$|()\\[\\]{}*+?\\\\]"), "\\$&") +
                          ": [0-9]+ mappings, [0-9.]+ (B|KiB|MiB|GiB) data, [0-9.]+ "
                          "(B|KiB|MiB|GiB|TiB) holes, 1 thread, "
                          "target stopped [0-9.]+ ms, " +
                          (precopy ? "[0-9]+ pre-copy pass(es)?" : "no pre-copy") + "\n$");
    EXPECT_TRUE(std::regex_match(single_line(run.out) + "\n", line)) << run.out;
  }
}

TEST_F(CliDump, ASeriesWritesNumberedStandaloneCoresEachFromTheLast) {
  Pagescan dump({"dump", std::to_string(target.pid()), "-o", dir / "core.%n", "--every", "0.3",
                 "--count", "3", "--json"});
  std::vector<Json> lines;
  for (int i = 0; i < 3; ++i) {
    lines.push_back(parse_line(dump.read_line()));
    if (i < 2) target_does(target, std::to_string(10 + i) + " 1");
  }
  EXPECT_EQ(parse_line(dump.read_line()), Json::parse("{\"pid\":" + std::to_string(target.pid()) +
                                                      ",\"ended\":\"count\",\"dumps\":3}"));
  EXPECT_EQ(dump.wait_exit(), 0);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(lines[i]["dump"], i + 1);
    EXPECT_EQ(lines[i]["path"], dir / ("core." + std::to_string(i + 1)));
    EXPECT_EQ(lines[i]["incremental"], i > 0);
    EXPECT_TRUE(is_elf_core(dir / ("core." + std::to_string(i + 1))));
  }
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"core.1", "core.2", "core.3"}));
}

TEST_F(CliDump, ASeriesEndsWhenTheTargetExits) {
  Pagescan dump(
      {"dump", std::to_string(target.pid()), "-o", dir / "core.%n", "--every", "0.2", "--json"});
  ASSERT_FALSE(dump.read_line().empty());
  target.close_input();  // plain_target returns 0 at the end of its input
  std::string line;
  do {
    line = dump.read_line();  // a dump may have been under way
  } while (!line.empty() && line.find("\"ended\"") == std::string::npos);
  Json ended = parse_line(line);
  EXPECT_EQ(ended["ended"], "exited") << line;
  EXPECT_EQ(dump.wait_exit(), 0);
}

TEST_F(CliDump, SigtermEndsASeriesBetweenDumps) {
  Pagescan dump(
      {"dump", std::to_string(target.pid()), "-o", dir / "core", "--every", "5", "--json"});
  ASSERT_FALSE(dump.read_line().empty());
  ::kill(dump.pid(), SIGTERM);
  Json ended = parse_line(dump.read_line());
  EXPECT_EQ(ended["ended"], "signal");
  EXPECT_EQ(ended["dumps"], 1);
  EXPECT_EQ(dump.wait_exit(), 0);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"core"});
  EXPECT_FALSE(any_uffd_wp_registered(target.pid())) << "tracking was left in the target";
}

TEST_F(CliDump, FailuresLeaveNothingUnderTheFinalName) {
  // A read-only file system: the directory cannot take the core.
  TempDir mount_point;
  if (::mount("pagescan-test", mount_point.path().c_str(), "tmpfs", MS_RDONLY, "size=1m") != 0) {
    GTEST_SKIP() << "cannot mount a read-only tmpfs (needs CAP_SYS_ADMIN): "
                 << std::strerror(errno);
  }
  CliRun ro = run_cli({"dump", std::to_string(target.pid()), "-o", mount_point / "core"});
  ::umount(mount_point.path().c_str());
  EXPECT_EQ(ro.exit_code, 1) << ro.describe();
  EXPECT_EQ(ro.err_lines().size(), 1u) << ro.err;
  EXPECT_NE(ro.err.find(mount_point.path()), std::string::npos) << ro.err;
  EXPECT_EQ(ro.out, "");

  // A full file system: the core cannot be finished; no file, no temporary.
  TempDir small;
  ASSERT_EQ(::mount("pagescan-test", small.path().c_str(), "tmpfs", 0, "size=64k"), 0)
      << std::strerror(errno);
  CliRun full = run_cli({"dump", std::to_string(target.pid()), "-o", small / "core"});
  const std::vector<std::string> left = small.entries();
  ::umount(small.path().c_str());
  EXPECT_EQ(full.exit_code, 1) << full.describe();
  EXPECT_EQ(full.err_lines().size(), 1u) << full.err;
  EXPECT_EQ(left, std::vector<std::string>{}) << "a core or temporary was left";

  // Gone: one line naming the pid.
  pid_t gone = 0;
  {
    TargetProcess short_lived({"read"});
    gone = short_lived.pid();
  }
  CliRun run = run_cli({"dump", std::to_string(gone), "-o", dir / "core"});
  EXPECT_EQ(run.exit_code, 1) << run.describe();
  EXPECT_EQ(run.err_lines().size(), 1u) << run.err;
  EXPECT_NE(run.err.find(std::to_string(gone)), std::string::npos) << run.err;
  EXPECT_EQ(dir.entries(), std::vector<std::string>{});
}

TEST_F(CliDump, BadArgumentsAreUsageErrors) {
  const std::string pid = std::to_string(target.pid());
  const std::string core = dir / "core";
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"dump", "self", "-o", core},
       "bad target 'self': dump needs another process's id (pagescan cannot trace itself)"},
      {{"dump", pid}, "dump: missing -o FILE (where to write the core)"},
      {{"dump", pid, "-o", "-"},
       "bad -o '-': a core is written to a file (it has holes and is renamed into place when "
       "complete), not to standard output"},
      {{"dump", pid, "-o", "core.%d"},
       "bad -o 'core.%d': '%d' is not a placeholder (expected %n for the dump number, %% for %)"},
      {{"dump", pid, "-o", core, "--filter", "zz"},
       "bad --filter 'zz': expected a hexadecimal coredump_filter mask of bits 0-8 (0 to 0x1ff), "
       "e.g. 0x33 (see core(5))"},
      {{"dump", pid, "-o", core, "--filter", "0x200"},
       "bad --filter '0x200': expected a hexadecimal coredump_filter mask of bits 0-8 (0 to "
       "0x1ff), e.g. 0x33 (see core(5))"},
      {{"dump", pid, "-o", core, "--count", "3"},
       "--count needs --every (a series of dumps is taken every SECONDS)"},
      {{"dump", pid, "-o", core, "--every", "0"}, "bad --every '0': expected seconds > 0, e.g. 30"},
      {{"dump", pid, "-o", core, "--every", "1", "--count", "0"},
       "bad --count '0': expected a number of dumps > 0"},
      {{"dump", pid, "-o", dir.path()},
       "bad -o '" + dir.path() +
           "': it is a directory (expected a file name; a core is written as a regular file)"},
      {{"dump", pid, "-o", core, "--format", "csv"}, "bad --format 'csv': expected table or json"},
  };
  for (const auto& [args, message] : cases) {
    CliRun run = run_cli(args);
    EXPECT_EQ(run.exit_code, 2) << run.describe();
    EXPECT_EQ(run.err, "pagescan: " + message + "\n");
    EXPECT_EQ(run.out, "");
  }
  EXPECT_EQ(dir.entries(), std::vector<std::string>{});
  EXPECT_FALSE(any_uffd_wp_registered(target.pid()));
}

}  // namespace
}  // namespace pagescan::test
