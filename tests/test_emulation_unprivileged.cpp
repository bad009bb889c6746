// The emulated backend against the kernel without CAP_SYS_ADMIN: a forked child builds
// the differential scenarios as root (huge pages and swap come from the parent), drops
// to uid/gid 65534, opens its own pagemap (which now hides PFNs, kernel-pagemap-scan.md
// §6.1) and compares both backends on every request. PFNZERO is then a heuristic
// (§6.2): wherever the emulated answer differs from the kernel's it must be exactly the
// heuristic's prediction and flagged approximate; nothing else may differ. The child
// reports over a pipe and the parent asserts.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "kernel/uapi.hpp"
#include "pagescan/features.hpp"
#include "pagescan/process.hpp"
#include "support/differential.hpp"
#include "support/io.hpp"
#include "support/sanitizers.hpp"
#include "support/scan_helpers.hpp"
#include "support/scenarios.hpp"
#include "support/system_settings.hpp"

using namespace pagescan;
using namespace pagescan::test;

namespace {

constexpr uid_t kNobody = 65534;

// Every scan scenario.
std::vector<std::string> unprivileged_scenarios() {
  return scan_scenario_names();
}

// The differential configuration, with half the random requests under ASan: the
// privileged suite already compares over 2000 requests there, and each emulated call
// costs 10-30 times more under the sanitizer.
DiffConfig unprivileged_config() {
  DiffConfig c = DiffConfig::from_environment();
  if (kUnderAsan && !std::getenv("PAGESCAN_DIFF_REQUESTS")) c.random_requests /= 2;
  return c;
}

// Checks that the pagemap fd hides PFNs: a present page must read PFN 0.
std::string check_pfns_hidden(const Process& process) {
  auto fd = process.pagemap_fd();
  if (!fd) return "no pagemap fd: " + fd.error().message();
  const std::size_t page = page_size();
  void* p = ::mmap(nullptr, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return std::string("mmap: ") + std::strerror(errno);
  *static_cast<volatile char*>(p) = 1;
  std::uint64_t e = 0;
  ssize_t got =
      ::pread(*fd, &e, 8, static_cast<off_t>(reinterpret_cast<std::uintptr_t>(p) / page * 8));
  ::munmap(p, page);
  if (got != 8) return std::string("pread of pagemap: ") + std::strerror(errno);
  if (!(e & uapi::PM_PRESENT)) return "a written page is not present in pagemap";
  if (e & uapi::PM_PFN_MASK) return "pagemap still shows PFNs: CAP_SYS_ADMIN was not dropped";
  return "";
}

// Builds as root, drops privileges, compares.
DiffReport compare_unprivileged() {
  DiffReport report;
  std::vector<std::unique_ptr<Scenario>> built;
  for (const std::string& name : unprivileged_scenarios()) {
    auto s = build_scenario(name);
    if (s->built()) {
      built.push_back(std::move(s));
    } else {
      report.notes.push_back("skipped " + name + ": " + s->skip_reason());
    }
  }
  if (::setgroups(0, nullptr) != 0 || ::setgid(kNobody) != 0 || ::setuid(kNobody) != 0) {
    report.fail(std::string("cannot drop to uid/gid 65534: ") + std::strerror(errno));
    return report;
  }
  // Changing credentials made the process non-dumpable, which gives its /proc files
  // (pagemap is 0400) to root; the emulator needs to read them as uid 65534.
  ::prctl(PR_SET_DUMPABLE, 1);
  if (::setuid(0) == 0) report.fail("could become root again after dropping privileges");
  auto process = Process::self();  // opened now: this fd hides PFNs
  if (!process) {
    report.fail("Process::self() after dropping privileges: " + process.error().message());
    return report;
  }
  if (std::string why = check_pfns_hidden(*process); !why.empty()) {
    report.fail(why);
    return report;
  }
  for (const auto& s : built) compare_scan_scenario(*process, *s, unprivileged_config(), report);
  return report;
}

// The child: build as root, drop privileges, compare, write the report to `out` and
// exit without tearing anything down (a root-owned COW holder cannot be killed by uid
// 65534; it dies with us).
[[noreturn]] void run_child(int out) {
  (void)write_all(out, compare_unprivileged().serialize());
  ::_exit(0);
}

std::uint64_t hugetlb_pages_for(const std::vector<std::string>& names) {
  std::uint64_t n = 0;
  for (const std::string& name : names) n += hugetlb_pages_needed(name);
  return n;
}

}  // namespace

TEST(EmulationUnprivileged, OnlyThePfnZeroHeuristicAndPredictedGapsDifferAndAreFlagged) {
  PAGESCAN_SKIP_WITHOUT_SCAN();  // also probes features() before the fork
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to build as root and drop to uid 65534";
  if (kUnderTsan) {
    GTEST_SKIP() << "single-threaded, so ThreadSanitizer has no race to find, and its forked "
                    "child runs past the time budget; the default and ASan builds run it";
  }
  SwapSpace swap(64u << 20);
  HugetlbReservation hugetlb(hugetlb_pages_for(unprivileged_scenarios()));
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0) << std::strerror(errno);
  pid_t child = ::fork();
  ASSERT_GE(child, 0) << std::strerror(errno);
  if (child == 0) {
    ::close(pipe_fds[0]);
    ::alarm(240);  // a hung child must not hang the suite
    run_child(pipe_fds[1]);
  }
  ::close(pipe_fds[1]);
  std::string text;
  const int read_error = read_to_end(pipe_fds[0], text) ? 0 : errno;
  ::close(pipe_fds[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "the unprivileged child died (status " << status << "); it reported:\n"
      << text;
  ASSERT_EQ(read_error, 0) << "reading the child's report: " << std::strerror(read_error);

  DiffReport report = DiffReport::parse(text);
  std::cout << report.summary() << "\n";
  EXPECT_TRUE(report.failures.empty()) << report.summary();
  EXPECT_GE(report.scenarios, 10u) << report.summary();
  EXPECT_GE(report.requests, 10u * (27u + unprivileged_config().random_requests));
  // COW-shared pages are neither file nor exclusive: without PFNs they must be taken for
  // the zero page (and flagged), so the heuristic is exercised, not just allowed.
  bool heuristic_fired = false;
  for (const std::string& d : report.differences) {
    if (d.rfind("cow-shared: pfnzero-heuristic", 0) == 0) heuristic_fired = true;
  }
  EXPECT_TRUE(heuristic_fired) << "the PFNZERO heuristic never fired\n" << report.summary();
}
