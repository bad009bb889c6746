// A userfaultfd made inside another, unmodified process (tests/targets/plain_target) and
// handed to the test: the target's memory is what it acts on, and the target is left as
// it was: its file descriptors and mappings, a read(), nanosleep() or futex wait it was
// blocked in,
// and a signal that arrived during the attach.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/userfaultfd.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "kernel/uapi.hpp"
#include "proc/maps.hpp"
#include "remote/inject_userfaultfd.hpp"
#include "support/kernel_facts.hpp"
#include "support/target_process.hpp"

namespace pagescan::test {
namespace {

std::string fd_link(int fd) {
  char target[256] = {};
  ssize_t n = ::readlink(("/proc/self/fd/" + std::to_string(fd)).c_str(), target, 255);
  return n > 0 ? std::string(target, static_cast<std::size_t>(n)) : "";
}

// Whether the target's VMA holding `address` is registered for uffd write-protect.
bool registered_wp(pid_t pid, std::uint64_t address) {
  auto vmas = proc::read_vmas(pid, true);
  if (!vmas) return false;
  for (const proc::Vma& vma : *vmas) {
    if (vma.start <= address && address < vma.end) return vma.uffd_wp();
  }
  return false;
}

TEST(InjectUserfaultfd, TheFdActsOnTheTargetsMemoryAndTheTargetIsAsBefore) {
  PAGESCAN_REQUIRE_FACT(Fact::uffd_wp_async);
  TargetProcess target({"read"});
  ASSERT_GT(target.pid(), 0) << target.error();
  ASSERT_TRUE(wait_in_syscall(target.pid(), SYS_read)) << "the target never blocked in read";
  const std::vector<std::string> fds = fd_table(target.pid());
  const std::string maps = maps_text(target.pid());

  auto injection = remote::inject_userfaultfd(target.pid());
  ASSERT_TRUE(injection) << injection.error().message();
  EXPECT_EQ(fd_link(injection->fd), "anon_inode:[userfaultfd]");
  EXPECT_EQ(fd_table(target.pid()), fds) << "the target's fd table changed";
  EXPECT_EQ(maps_text(target.pid()), maps) << "the target's mappings changed";
  EXPECT_TRUE(injection->deferred_signals.empty());

  // The context is the target's: registering its region marks the target's VMA.
  uffdio_api api{};
  api.api = UFFD_API;
  api.features = uapi::kUffdFeatureWpAsync | uapi::kUffdFeatureWpUnpopulated;
  ASSERT_EQ(::ioctl(injection->fd, UFFDIO_API, &api), 0) << std::strerror(errno);
  uffdio_register reg{};
  reg.range.start = target.region();
  reg.range.len = target.pages() * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  reg.mode = UFFDIO_REGISTER_MODE_WP;
  ASSERT_EQ(::ioctl(injection->fd, UFFDIO_REGISTER, &reg), 0) << std::strerror(errno);
  EXPECT_TRUE(registered_wp(target.pid(), target.region()));

  // The target runs on: its read(2) returns the line, not EINTR.
  ASSERT_TRUE(target.send("hello"));
  EXPECT_EQ(target.read_line(), "read 6 0 hello");

  // Ours was the last reference: closing it unregisters everything in the target.
  ::close(injection->fd);
  EXPECT_FALSE(registered_wp(target.pid(), target.region()));
}

TEST(InjectUserfaultfd, ANanosleepIsNotCutShort) {
  TargetProcess target({"sleep", "400"});
  ASSERT_GT(target.pid(), 0) << target.error();
  ASSERT_TRUE(wait_in_syscall(target.pid(), SYS_clock_nanosleep) ||
              wait_in_syscall(target.pid(), SYS_nanosleep, 0))
      << "the target never slept";
  auto injection = remote::inject_userfaultfd(target.pid());
  ASSERT_TRUE(injection) << injection.error().message();
  ::close(injection->fd);
  std::istringstream line(target.read_line());
  std::string word;
  long elapsed = 0;
  int rc = -1, err = -1;
  line >> word >> elapsed >> rc >> err;
  EXPECT_EQ(word, "slept");
  EXPECT_EQ(rc, 0) << "nanosleep failed with errno " << err;
  EXPECT_GE(elapsed, 400) << "the sleep was cut short";
}

// futex_wait() with a timeout is restarted through the restart block, as nanosleep is:
// the wait goes on to its timeout instead of returning early with EINTR.
TEST(InjectUserfaultfd, AFutexWaitIsNotCutShort) {
  TargetProcess target({"futex", "400"});
  ASSERT_GT(target.pid(), 0) << target.error();
  ASSERT_TRUE(wait_in_syscall(target.pid(), SYS_futex)) << "the target never waited";
  auto injection = remote::inject_userfaultfd(target.pid());
  ASSERT_TRUE(injection) << injection.error().message();
  ::close(injection->fd);
  std::istringstream line(target.read_line());
  std::string word;
  long elapsed = 0, rc = 0;
  int err = -1;
  line >> word >> elapsed >> rc >> err;
  EXPECT_EQ(word, "futex");
  EXPECT_EQ(rc, -1);
  EXPECT_EQ(err, ETIMEDOUT) << "the wait ended with errno " << err << ", not its timeout";
  EXPECT_GE(elapsed, 400) << "the wait was cut short";
}

TEST(InjectUserfaultfd, ASignalDuringTheAttachIsDeliveredAfterIt) {
  TargetProcess target({"read"});
  ASSERT_GT(target.pid(), 0) << target.error();
  ASSERT_TRUE(wait_in_syscall(target.pid(), SYS_read));
  remote::InjectOptions options;
  options.while_stopped = [&](pid_t tid) { ::syscall(SYS_tgkill, target.pid(), tid, SIGUSR1); };
  auto injection = remote::inject_userfaultfd(target.pid(), options);
  ASSERT_TRUE(injection) << injection.error().message();
  ::close(injection->fd);
  EXPECT_EQ(injection->deferred_signals, std::vector<int>{SIGUSR1});
  ASSERT_TRUE(target.send("signals"));
  EXPECT_EQ(target.read_line(), "signals 1");
  // Its handler has SA_RESTART: the read it was blocked in goes on.
  ASSERT_TRUE(target.send("x"));
  EXPECT_EQ(target.read_line(), "read 2 0 x");
}

TEST(InjectUserfaultfd, RefusalsNameTheCause) {
  // Already traced: by this test.
  {
    TargetProcess target({"read"});
    ASSERT_GT(target.pid(), 0) << target.error();
    ASSERT_EQ(::ptrace(PTRACE_SEIZE, target.pid(), nullptr, nullptr), 0);
    auto traced = remote::inject_userfaultfd(target.pid());
    ASSERT_FALSE(traced);
    EXPECT_EQ(traced.error().errno_value(), EBUSY);
    EXPECT_NE(
        traced.error().message().find("is already traced by pid " + std::to_string(::getpid())),
        std::string::npos)
        << traced.error().message();
  }
  // A zombie.
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ASSERT_GT(child, 0);
  siginfo_t info{};
  ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(child), &info, WEXITED | WNOWAIT), 0);
  auto zombie = remote::inject_userfaultfd(child);
  ASSERT_FALSE(zombie);
  EXPECT_EQ(zombie.error().kind(), ErrorKind::no_such_process);
  EXPECT_NE(zombie.error().message().find("is a zombie"), std::string::npos)
      << zombie.error().message();
  ::waitpid(child, nullptr, 0);
  // A kernel thread: kthreadd is pid 2 in the initial pid namespace.
  std::ifstream comm("/proc/2/comm");
  std::string name;
  if (std::getline(comm, name) && name == "kthreadd") {
    auto kernel = remote::inject_userfaultfd(2);
    ASSERT_FALSE(kernel);
    EXPECT_EQ(kernel.error().kind(), ErrorKind::unsupported);
    EXPECT_NE(kernel.error().message().find("is a kernel thread"), std::string::npos)
        << kernel.error().message();
  }
}

// A caller of another uid without privilege: ptrace is refused, and the message says so.
TEST(InjectUserfaultfd, AnotherUsersProcessIsRefusedWithoutPrivilege) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to start a process of another user";
  TargetProcess target({"read"});
  ASSERT_GT(target.pid(), 0) << target.error();
  int report[2];
  ASSERT_EQ(::pipe(report), 0);
  pid_t child = ::fork();
  if (child == 0) {
    ::close(report[0]);
    if (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0) {
      ::_exit(3);
    }
    auto refused = remote::inject_userfaultfd(target.pid());
    std::string text =
        refused ? "accepted"
                : std::string(to_string(refused.error().kind())) + ": " + refused.error().message();
    (void)!::write(report[1], text.data(), text.size());
    ::_exit(0);
  }
  ::close(report[1]);
  char buffer[1024] = {};
  ssize_t n = ::read(report[0], buffer, sizeof buffer - 1);
  ::close(report[0]);
  ::waitpid(child, nullptr, 0);
  std::string text(buffer, n > 0 ? static_cast<std::size_t>(n) : 0);
  EXPECT_EQ(text.rfind("permission: ptrace of pid " + std::to_string(target.pid()) +
                           " (plain_target) denied",
                       0),
            0u)
      << text;
  // The target was not touched.
  ASSERT_TRUE(target.send("still"));
  EXPECT_EQ(target.read_line(), "read 6 0 still");
}

}  // namespace
}  // namespace pagescan::test
