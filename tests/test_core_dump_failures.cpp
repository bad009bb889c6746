// CoreDumper's failures and what it leaves behind: a target that is gone, exits mid-dump
// or cannot be traced, a directory that cannot be written, a file system that fills up
// (nothing under the final name, no temporary); and the target's threads carrying on
// normally after a dump (system calls restarted, the process answering).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "pagescan/core_dump.hpp"
#include "support/core_dump_helpers.hpp"
#include "support/kernel_facts.hpp"
#include "support/temp_dir.hpp"

namespace pagescan::test {
namespace {

DumpOptions no_precopy() {
  DumpOptions o;
  o.precopy = false;
  return o;
}

class CoreDumpFailure : public ::testing::Test {
 protected:
  void SetUp() override {
    PAGESCAN_REQUIRE_FACT(Fact::pagemap_scan);
    PAGESCAN_REQUIRE_FACT(Fact::uffd_wp_async);
  }
};

// A small tmpfs mounted in `dir` (options as mount(8) takes them), unmounted at the end.
class SmallTmpfs {
 public:
  SmallTmpfs(const TempDir& dir, const char* options, unsigned long flags = 0)
      : path_(dir / "mnt") {
    ::mkdir(path_.c_str(), 0755);
    mounted_ = ::mount("tmpfs", path_.c_str(), "tmpfs", flags, options) == 0;
    if (!mounted_) why_ = std::strerror(errno);
  }
  ~SmallTmpfs() {
    if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  const std::string& why() const { return why_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  bool mounted_ = false;
  std::string why_;
};

TEST_F(CoreDumpFailure, ATargetGoneBeforeTheDumpLeavesNothing) {
  TempDir dir;
  DumpTarget target(64, 3600000);
  ASSERT_EQ(target.error(), "");
  auto dumper = CoreDumper::attach(target.pid(), no_precopy());
  ASSERT_TRUE(dumper) << dumper.error().message();
  ::kill(target.pid(), SIGKILL);
  target.wait_exit();
  auto report = dumper->dump(dir / "gone.core");
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().kind(), ErrorKind::no_such_process) << report.error().message();
  EXPECT_NE(report.error().message().find(dir / "gone.core"), std::string::npos)
      << report.error().message();
  EXPECT_TRUE(dir.entries().empty());
}

TEST_F(CoreDumpFailure, ATargetExitingMidDumpLeavesNothing) {
  TempDir dir;
  int failed = 0;
  // Killed after 0, 2, 4, ... ms of a dump of 64 MiB of data: some kills land mid-dump.
  for (int delay_ms = 0; delay_ms <= 20 && failed < 2; delay_ms += 2) {
    DumpTarget target(16384, 3600000);
    ASSERT_EQ(target.error(), "");
    auto dumper = CoreDumper::attach(target.pid());
    ASSERT_TRUE(dumper) << dumper.error().message();
    std::thread killer([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
      ::kill(target.pid(), SIGKILL);
    });
    const std::string path = dir / "mid.core";
    auto report = dumper->dump(path);
    killer.join();
    if (report) {
      // It finished before the kill: a whole core, then removed for the next round.
      EXPECT_EQ(dir.entries(), std::vector<std::string>{"mid.core"});
      ::unlink(path.c_str());
      continue;
    }
    ++failed;
    EXPECT_EQ(report.error().kind(), ErrorKind::no_such_process) << report.error().message();
    EXPECT_TRUE(dir.entries().empty()) << "delay " << delay_ms << " ms: " << dir.entries().size();
  }
  EXPECT_GT(failed, 0) << "no kill landed during a dump";
}

TEST_F(CoreDumpFailure, AnUnwritableDirectoryLeavesNothing) {
  TempDir dir;
  SmallTmpfs readonly(dir, "size=1m", MS_RDONLY);
  if (!readonly.mounted()) GTEST_SKIP() << "cannot mount a tmpfs: " << readonly.why();
  DumpTarget target(64, 3600000);
  ASSERT_EQ(target.error(), "");
  auto dumper = CoreDumper::attach(target.pid(), no_precopy());
  ASSERT_TRUE(dumper) << dumper.error().message();
  auto report = dumper->dump(readonly.path() + "/x.core");
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().kind(), ErrorKind::permission) << report.error().message();
  EXPECT_NE(report.error().message().find(readonly.path()), std::string::npos);
  EXPECT_TRUE(directory_entries(readonly.path()).empty());
  auto missing = dumper->dump(dir / "no/such/dir/x.core");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().kind(), ErrorKind::invalid_argument) << missing.error().message();
  // The target goes on.
  EXPECT_EQ(target.command("ping"), std::vector<std::string>{"pong"});
}

TEST_F(CoreDumpFailure, AFullFileSystemLeavesNothing) {
  TempDir dir;
  SmallTmpfs small(dir, "size=1m");
  if (!small.mounted()) GTEST_SKIP() << "cannot mount a small tmpfs: " << small.why();
  DumpTarget target(1024, 3600000);  // 4 MiB of data
  ASSERT_EQ(target.error(), "");
  for (bool precopy : {false, true}) {
    DumpOptions options;
    options.precopy = precopy;
    auto dumper = CoreDumper::attach(target.pid(), options);
    ASSERT_TRUE(dumper) << dumper.error().message();
    auto report = dumper->dump(small.path() + "/full.core");
    ASSERT_FALSE(report);
    EXPECT_EQ(report.error().kind(), ErrorKind::kernel_failure) << report.error().message();
    EXPECT_EQ(report.error().errno_value(), ENOSPC) << report.error().message();
    EXPECT_TRUE(directory_entries(small.path()).empty()) << "precopy " << precopy;
  }
  EXPECT_EQ(target.command("ping"), std::vector<std::string>{"pong"});
}

TEST_F(CoreDumpFailure, AttachNamesTheCause) {
  // No such process: a reaped child's pid.
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);
  auto none = CoreDumper::attach(child);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().kind(), ErrorKind::no_such_process) << none.error().message();

  // A zombie: exited, not reaped.
  pid_t zombie = ::fork();
  if (zombie == 0) ::_exit(0);
  ::usleep(50'000);
  auto z = CoreDumper::attach(zombie, no_precopy());
  ASSERT_FALSE(z);
  EXPECT_EQ(z.error().kind(), ErrorKind::no_such_process) << z.error().message();
  ::waitpid(zombie, nullptr, 0);

  // A kernel thread: kthreadd is pid 2.
  auto kthread = CoreDumper::attach(2, no_precopy());
  ASSERT_FALSE(kthread);
  EXPECT_EQ(kthread.error().kind(), ErrorKind::invalid_argument) << kthread.error().message();

  // Already traced: this process seizes the target first.
  DumpTarget target(16, 3600000);
  ASSERT_EQ(target.error(), "");
  ASSERT_EQ(::ptrace(PTRACE_SEIZE, target.pid(), nullptr, nullptr), 0) << std::strerror(errno);
  for (bool precopy : {false, true}) {
    DumpOptions options;
    options.precopy = precopy;
    auto traced = CoreDumper::attach(target.pid(), options);
    ASSERT_FALSE(traced);
    EXPECT_EQ(traced.error().kind(), ErrorKind::invalid_argument) << traced.error().message();
    EXPECT_NE(traced.error().message().find("already traced by pid " + std::to_string(::getpid())),
              std::string::npos)
        << traced.error().message();
  }
  ::ptrace(PTRACE_DETACH, target.pid(), nullptr, nullptr);
}

TEST_F(CoreDumpFailure, ThreadsBlockedInReadNanosleepAndFutexCarryOnAfterADump) {
  DumpTarget target(64, 100);  // the sleeper wakes every 100 ms
  ASSERT_EQ(target.error(), "");
  ASSERT_TRUE(target.wait_blocked());
  TempDir dir;
  for (bool precopy : {false, true}) {
    DumpOptions options;
    options.precopy = precopy;
    auto dumper = CoreDumper::attach(target.pid(), options);
    ASSERT_TRUE(dumper) << dumper.error().message();
    auto report = dumper->dump(dir / "threads.core");
    ASSERT_TRUE(report) << report.error().message();
    EXPECT_EQ(report->threads, 4u);
  }
  auto counts = [&] {
    const auto lines = target.command("status");
    std::istringstream in(lines.empty() ? "" : lines.front());
    std::string word;
    long read = -1, sleep = -1, futex = -1;
    in >> word >> read >> sleep >> futex;
    return std::vector<long>{read, sleep, futex};
  };
  const std::vector<long> before = counts();
  ASSERT_EQ(before[0], 0) << "the read was restarted, not failed";
  ASSERT_EQ(before[2], 0) << "the futex wait was restarted, not failed";
  EXPECT_EQ(target.command("wake"), std::vector<std::string>{});
  ::usleep(300'000);
  const std::vector<long> after = counts();
  EXPECT_EQ(after[0], 1) << "the reader got the byte";
  EXPECT_EQ(after[2], 1) << "the futex waiter was woken";
  EXPECT_GT(after[1], before[1]) << "the sleeper sleeps and wakes";
  EXPECT_EQ(target.command("ping"), std::vector<std::string>{"pong"});
}

TEST_F(CoreDumpFailure, ThreadsAppearingAndExitingDuringTheFreezeAreHandled) {
  DumpTarget target(64, 3600000);
  ASSERT_EQ(target.error(), "");
  target.command("churn");
  TempDir dir;
  for (int i = 0; i < 10; ++i) {
    DumpOptions options;
    options.precopy = i % 2 == 1;
    auto dumper = CoreDumper::attach(target.pid(), options);
    ASSERT_TRUE(dumper) << dumper.error().message();
    auto report = dumper->dump(dir / "churn.core");
    ASSERT_TRUE(report) << report.error().message();
    // The four blocked threads and the churner, plus a short-lived one at times.
    EXPECT_GE(report->threads, 5u);
    CoreReader core(dir / "churn.core");
    ASSERT_TRUE(core.ok()) << core.error();
    std::size_t prstatus = 0;
    for (const CoreNote& n : core.notes()) prstatus += n.type == 1 ? 1 : 0;  // NT_PRSTATUS
    EXPECT_EQ(prstatus, report->threads);
  }
  EXPECT_EQ(target.command("ping"), std::vector<std::string>{"pong"});
}

}  // namespace
}  // namespace pagescan::test
