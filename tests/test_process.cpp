// Process handles: scanning another process, a process that exits, fork(), and the errors
// for pids that cannot be scanned.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include "backend.hpp"
#include "pagescan/features.hpp"
#include "pagescan/scan.hpp"
#include "support/child_process.hpp"
#include "support/kernel_facts.hpp"
#include "support/memory.hpp"
#include "support/sanitizers.hpp"
#include "support/scan_helpers.hpp"

using namespace pagescan;
using namespace pagescan::test;

namespace {

// A child with 3 written pages, 2 read pages (the zero page, where the kernel has it) and
// 3 untouched pages in one mapping.
std::vector<std::uint64_t> known_layout() {
  const std::size_t page = page_size();
  auto* p = static_cast<char*>(
      ::mmap(nullptr, 8 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  ::madvise(p, 8 * page, MADV_NOHUGEPAGE);
  for (int i = 0; i < 3; ++i) p[i * page] = 1;
  for (int i = 3; i < 5; ++i) (void)*static_cast<volatile char*>(p + i * page);
  return {reinterpret_cast<std::uint64_t>(p)};
}

std::string hex(std::uint64_t v) {
  char text[32];
  std::snprintf(text, sizeof text, "0x%llx", static_cast<unsigned long long>(v));
  return text;
}

int pause_forever(void*) {
  for (;;) ::pause();
}

}  // namespace

TEST(OtherProcess, ScanOfAChildSeesItsLayout) {
  PAGESCAN_SKIP_WITHOUT_SCAN();
  ChildProcess child(known_layout);
  ASSERT_EQ(child.addresses().size(), 1u);
  const std::uint64_t base = child.addresses()[0], page = page_size();
  auto proc = Process::attach(child.pid());
  ASSERT_TRUE(proc) << proc.error().message();
  EXPECT_FALSE(proc->is_self());
  EXPECT_EQ(proc->pid(), child.pid());
  auto r = scan(*proc, ScanRequest::over(base, base + 8 * page)
                           .all_of(Category::present)
                           .returning(Category::present | Category::pfnzero));
  ASSERT_TRUE(r) << r.error().message();
  // The read pages are the zero page, or private pages that merge with the written ones.
  std::vector<PageRegion> expected;
  if (kernel_has(Fact::zero_page)) {
    expected = {
        PageRegion{base, base + 3 * page, Category::present},
        PageRegion{base + 3 * page, base + 5 * page, Category::present | Category::pfnzero}};
  } else {
    expected = {PageRegion{base, base + 5 * page, Category::present}};
  }
  EXPECT_EQ(r->regions, expected) << kernel_fact(Fact::zero_page).finding;
}

TEST(OtherProcess, ScanAfterTheTargetExitedIsNoSuchProcess) {
  PAGESCAN_SKIP_WITHOUT_SCAN();
  ChildProcess child(known_layout);
  const std::uint64_t base = child.addresses()[0];
  auto proc = Process::attach(child.pid());
  ASSERT_TRUE(proc);
  child.kill_and_reap();
  auto r = scan(*proc, ScanRequest::over(base, base + 8 * page_size()));
  ASSERT_FALSE(r) << "an exited process must not read as an empty address space";
  EXPECT_EQ(r.error().kind(), ErrorKind::no_such_process);
  EXPECT_NE(r.error().message().find("exited"), std::string::npos) << r.error().message();
}

TEST(OtherProcess, ScanOfAZombieIsNoSuchProcess) {
  PAGESCAN_SKIP_WITHOUT_SCAN();
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) ::_exit(0);
  auto proc = Process::attach(pid);
  // Attach may already see the zombie; if not, the scan must, once the exit is done.
  if (proc) {
    siginfo_t info{};  // WNOWAIT: the zombie stays until the waitpid() below
    ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT), 0);
    auto r = scan(*proc, ScanRequest::over(0, 0x10000));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind(), ErrorKind::no_such_process);
  } else {
    EXPECT_EQ(proc.error().kind(), ErrorKind::no_such_process) << proc.error().message();
  }
  ::waitpid(pid, nullptr, 0);
}

// A target killed at a random moment during scans: every scan either completes with the
// full layout or fails with no_such_process; never a shorter answer presented as whole.
TEST(OtherProcess, TargetExitingMidScanNeverGivesAPartialAnswer) {
  PAGESCAN_SKIP_WITHOUT_SCAN();
  const std::size_t regions = 20'000;
  for (int round = 0; round < 10; ++round) {
    ChildProcess child([&] {
      const std::size_t page = page_size();
      auto* p = static_cast<char*>(::mmap(nullptr, 2 * regions * page, PROT_READ | PROT_WRITE,
                                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
      ::madvise(p, 2 * regions * page, MADV_NOHUGEPAGE);
      for (std::size_t i = 0; i < regions; ++i) p[2 * i * page] = 1;
      return std::vector<std::uint64_t>{reinterpret_cast<std::uint64_t>(p)};
    });
    const std::uint64_t base = child.addresses()[0];
    auto proc = Process::attach(child.pid());
    ASSERT_TRUE(proc);
    // The pause spreads the kill over the scans; it is not a wait: whether the kill lands
    // before, during or after them, every outcome is one the assertions accept.
    std::jthread killer([&, round] {
      std::this_thread::sleep_for(std::chrono::microseconds(200 * round));
      ::kill(child.pid(), SIGKILL);
    });
    int outcomes = 0;
    for (int i = 0; i < 50; ++i) {
      auto r = scan(*proc,
                    ScanRequest::over(base, base + 2 * regions * page_size())
                        .all_of(Category::present)
                        .returning(Category::present),
                    ScanOptions{64});
      if (r) {
        ASSERT_EQ(r->regions.size(), regions) << "round " << round << " scan " << i;
        ASSERT_EQ(r->stop_reason, StopReason::complete);
      } else {
        ASSERT_EQ(r.error().kind(), ErrorKind::no_such_process) << r.error().message();
        ++outcomes;
        break;
      }
    }
    killer.join();
    child.kill_and_reap();
    EXPECT_LE(outcomes, 1);
  }
}

TEST(OtherProcess, AttachErrorsSayWhatIsWrong) {
  auto zero = Process::attach(0);
  ASSERT_FALSE(zero);
  EXPECT_EQ(zero.error().kind(), ErrorKind::invalid_argument);
  EXPECT_NE(zero.error().message().find("pid 0"), std::string::npos);

  // A pid above pid_max never exists.
  auto missing = Process::attach(0x3fffffff);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().kind(), ErrorKind::no_such_process);
  EXPECT_NE(missing.error().message().find("no process with pid 1073741823"), std::string::npos)
      << missing.error().message();

  // kthreadd (pid 2) is a kernel thread: no user address space.
  auto kthread = Process::attach(2);
  ASSERT_FALSE(kthread);
  EXPECT_EQ(kthread.error().kind(), ErrorKind::invalid_argument);
  EXPECT_NE(kthread.error().message().find("kernel thread"), std::string::npos)
      << kthread.error().message();
}

// An unprivileged caller may not read a root process's page tables.
TEST(OtherProcess, PermissionDeniedForAnUnprivilegedCaller) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to drop privileges in a child";
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(10);
    auto proc = Process::attach(parent);
    if (proc) ::_exit(11);
    ::_exit(proc.error().kind() == ErrorKind::permission ? 0 : 12);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "10: setuid failed, 11: attach allowed, 12: wrong kind";
}

// A self handle used in a fork()ed child scans the child, not the parent: the child maps
// a page at an address the parent never maps and must see it.
TEST(SelfHandle, SurvivesForkAndScansTheChild) {
  PAGESCAN_SKIP_WITHOUT_SCAN();
  auto proc = Process::self();
  ASSERT_TRUE(proc);
  ASSERT_TRUE(proc->pagemap_fd());  // opened in the parent
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const std::size_t page = page_size();
    auto* p = static_cast<char*>(
        ::mmap(nullptr, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    p[0] = 1;
    auto r = scan(*proc, ScanRequest::over(reinterpret_cast<std::uint64_t>(p),
                                           reinterpret_cast<std::uint64_t>(p) + page)
                             .all_of(Category::present));
    if (!r) ::_exit(2);
    ::_exit(r->regions.size() == 1 && proc->pid() == ::getpid() ? 0 : 1);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: the child scanned the parent's memory; 2: error";
  // The parent's handle is untouched by the child's reopen.
  EXPECT_EQ(proc->pid(), ::getpid());
  EXPECT_TRUE(proc->pagemap_fd());
}

// A self handle opened in a process that is pid 1 of its pid namespace, used in a child
// that is pid 1 of a nested one: getpid() is the same number, the mm is not. The handle
// must still reopen (wasmtime's bug, with pid reuse). Runs in children; needs root.
TEST(SelfHandle, ReopensInAChildThatGotTheSamePid) {
  PAGESCAN_SKIP_WITHOUT_SCAN();
  if (::geteuid() != 0) GTEST_SKIP() << "needs root for a new pid namespace";
  pid_t outer = ::fork();
  ASSERT_GE(outer, 0);
  if (outer == 0) {
    if (::unshare(CLONE_NEWPID) != 0) ::_exit(77);
    pid_t first = ::fork();  // pid 1 of the new namespace
    if (first < 0) ::_exit(20);
    if (first == 0) {
      auto self = Process::self();
      if (!self || !self->pagemap_fd()) ::_exit(21);
      if (::unshare(CLONE_NEWPID) != 0) ::_exit(22);
      pid_t second = ::fork();  // pid 1 of the nested namespace
      if (second < 0) ::_exit(23);
      if (second == 0) {
        if (::getpid() != 1) ::_exit(24);
        const std::size_t page = page_size();
        auto* p = static_cast<char*>(
            ::mmap(nullptr, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
        p[0] = 1;
        const auto lo = reinterpret_cast<std::uint64_t>(p);
        auto r = scan(*self, ScanRequest::over(lo, lo + page).all_of(Category::present));
        if (!r) ::_exit(25);
        ::_exit(r->regions.size() == 1 ? 0 : 1);
      }
      int status = 0;
      if (::waitpid(second, &status, 0) != second || !WIFEXITED(status)) ::_exit(26);
      ::_exit(WEXITSTATUS(status));
    }
    int status = 0;
    if (::waitpid(first, &status, 0) != first || !WIFEXITED(status)) ::_exit(27);
    ::_exit(WEXITSTATUS(status));
  }
  int status = 0;
  ASSERT_EQ(::waitpid(outer, &status, 0), outer);
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 77) GTEST_SKIP() << "unshare(CLONE_NEWPID) refused";
  EXPECT_EQ(WEXITSTATUS(status), 0)
      << "1: the child scanned its parent's memory (the fd was not reopened); 2x: set-up "
         "or scan failed";
}

// The liveness check after a kernel call that succeeded names the scan: the target has
// exited, but its mm lives on in a process it cloned with CLONE_VM, so the ioctl still
// answers and only the pidfd tells.
TEST(OtherProcess, ExitSeenAfterASuccessfulCallNamesTheScan) {
  PAGESCAN_SKIP_WITHOUT_SCAN();
  if (kUnderTsan) {
    // The sharer runs instrumented code in a raw clone TSan's runtime never set up; under
    // TSan the mm does not outlive the target, so the ioctl fails first (seen every run).
    GTEST_SKIP() << "TSan cannot run the raw clone(CLONE_VM) sharer that keeps the mm alive";
  }
  Mapping m = Mapping::anonymous(4);
  m.write_pages(0, 4);
  int report[2];
  ASSERT_EQ(::pipe2(report, O_CLOEXEC), 0);
  pid_t target = ::fork();
  ASSERT_GE(target, 0);
  if (target == 0) {
    static char stack[64 * 1024];
    pid_t sharer = ::clone(pause_forever, stack + sizeof stack, CLONE_VM | SIGCHLD, nullptr);
    if (::write(report[1], &sharer, sizeof sharer) != sizeof sharer) ::_exit(1);
    for (;;) ::pause();
  }
  ::close(report[1]);
  pid_t sharer = -1;
  ASSERT_EQ(::read(report[0], &sharer, sizeof sharer), static_cast<ssize_t>(sizeof sharer));
  ::close(report[0]);
  ASSERT_GT(sharer, 0) << "clone(CLONE_VM) failed in the child";
  auto p = Process::attach(target);
  ASSERT_TRUE(p) << p.error().message();
  RawScanArgs raw;
  raw.start = m.start();
  raw.end = m.end();
  ASSERT_TRUE(scan_raw(*p, raw)) << "alive: the scan works";
  ::kill(target, SIGKILL);
  ::waitpid(target, nullptr, 0);

  const std::string who = "pid " + std::to_string(target);
  const std::string expected = "scan of " + who + " [" + hex(m.start()) + "-" + hex(m.end()) +
                               "): " + who + " exited while it was being read";
  auto r = scan(*p, ScanRequest::over(m.start(), m.end()));
  raw = RawScanArgs{};
  raw.start = m.start();
  raw.end = m.end();
  auto raw_r = scan_raw(*p, raw);
  ::kill(sharer, SIGKILL);  // reparented: init reaps it
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind(), ErrorKind::no_such_process);
  EXPECT_EQ(r.error().message(), expected);
  ASSERT_FALSE(raw_r);
  EXPECT_EQ(raw_r.error().message(), expected);
}

// Forcing the kernel backend where the ioctl is missing names the request's range (the
// features are those of such a kernel; the running one has the ioctl).
TEST(ScanBackend, KernelForcedWithoutPagemapScanNamesTheRequestRange) {
  Features f = features();
  f.pagemap_scan = false;
  f.pagemap_scan_errno = ENOTTY;
  auto self = Process::self();
  ASSERT_TRUE(self);
  RawScanArgs request;
  request.start = 0x10000;
  request.end = 0x30000;
  auto b = detail::ScanBackend::choose(*self, request, BackendChoice::kernel, f);
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().errno_value(), ENOTTY);
  EXPECT_EQ(b.error().kind(), ErrorKind::unsupported);
  EXPECT_EQ(b.error().message(), "scan of self (pid " + std::to_string(::getpid()) +
                                     ") [0x10000-0x30000): PAGEMAP_SCAN: Inappropriate ioctl "
                                     "for device (this kernel has no PAGEMAP_SCAN ioctl; it "
                                     "needs Linux 6.7 or later)");
}
