// ProcessWriteWatch on a plain program that does not link pagescan
// (tests/targets/plain_target): rounds with exact expected sets (user writes, kernel
// writes, reads only, untouched pages, a multi-threaded writer), the address space
// followed, the endings, and a tracker killed with SIGKILL leaving the target clean.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "pagescan/process_watch.hpp"
#include "proc/maps.hpp"
#include "support/kernel_facts.hpp"
#include "support/target_process.hpp"

namespace pagescan::test {
namespace {

const std::uint64_t kPage = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));

// Whether any VMA of the target is registered for uffd write-protect.
bool any_registered(pid_t pid) {
  auto vmas = proc::read_vmas(pid, true);
  if (!vmas) return false;
  for (const proc::Vma& vma : *vmas) {
    if (vma.uffd_wp()) return true;
  }
  return false;
}

std::vector<PageRange> pages_of(const TargetProcess& t, std::uint64_t first, std::uint64_t count) {
  if (count == 0) return {};
  return {PageRange{t.region() + first * kPage, t.region() + (first + count) * kPage}};
}

// One round: the target does `command` (and says "done"), then a collect.
std::vector<PageRange> round(TargetProcess& target, ProcessWriteWatch& watch,
                             const std::string& command) {
  EXPECT_TRUE(target.send(command));
  EXPECT_EQ(target.read_line(), "done") << command;
  auto harvest = watch.collect();
  EXPECT_TRUE(harvest) << (harvest ? "" : harvest.error().message());
  return harvest ? harvest->ranges : std::vector<PageRange>{};
}

class ProcessWatch : public ::testing::Test {
 protected:
  void SetUp() override {
    PAGESCAN_REQUIRE_FACT(Fact::uffd_wp_async);
    PAGESCAN_REQUIRE_FACT(Fact::pagemap_scan);
  }
};

TEST_F(ProcessWatch, RoundsReportExactlyThePagesWritten) {
  TargetProcess target({"writer"});
  ASSERT_GT(target.pid(), 0) << target.error();
  auto watch = ProcessWriteWatch::attach(target.pid(), target.region(), target.pages() * kPage);
  ASSERT_TRUE(watch) << watch.error().message();
  EXPECT_EQ(watch->armed(), pages_of(target, 0, target.pages()));
  EXPECT_TRUE(any_registered(target.pid()));

  EXPECT_EQ(round(target, *watch, "0 4"), pages_of(target, 0, 4)) << "user writes";
  EXPECT_EQ(round(target, *watch, "pread 10 2"), pages_of(target, 10, 2)) << "kernel writes";
  EXPECT_EQ(round(target, *watch, "read 20 5"), pages_of(target, 20, 0)) << "reads only";
  EXPECT_EQ(round(target, *watch, "0 0"), pages_of(target, 0, 0)) << "nothing";
  EXPECT_EQ(round(target, *watch, "threads 4 30 8"), pages_of(target, 30, 8)) << "4 threads";
  // Pages written before are armed again: written again, reported again.
  EXPECT_EQ(round(target, *watch, "0 4"), pages_of(target, 0, 4)) << "re-armed";
}

TEST_F(ProcessWatch, WholeProcessModeSeesTheRegionAndDestroyingCleansUp) {
  TargetProcess target({"writer"});
  ASSERT_GT(target.pid(), 0) << target.error();
  {
    auto watch = ProcessWriteWatch::attach(target.pid());
    ASSERT_TRUE(watch) << watch.error().message();
    EXPECT_TRUE(watch->whole_process());
    ASSERT_TRUE(watch->collect());  // what the target wrote since the attach
    std::vector<PageRange> got = round(target, *watch, "5 3");
    const PageRange want = pages_of(target, 5, 3).front();
    bool found = false;
    for (const PageRange& r : got) found = found || (r.start <= want.start && want.end <= r.end);
    EXPECT_TRUE(found) << "the written pages are not in the harvest";
    for (const PageRange& r : got) {
      const bool overlaps_region =
          r.start < target.region() + target.pages() * kPage && r.end > target.region();
      if (overlaps_region) EXPECT_EQ(r, want) << "other pages of the region reported";
    }
  }
  EXPECT_FALSE(any_registered(target.pid())) << "the watch left registrations behind";
  ASSERT_TRUE(target.send("0 1"));
  EXPECT_EQ(target.read_line(), "done");
}

TEST_F(ProcessWatch, ATrackerKilledWithSigkillLeavesTheTargetClean) {
  TargetProcess target({"writer"});
  ASSERT_GT(target.pid(), 0) << target.error();
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  pid_t tracker = ::fork();
  if (tracker == 0) {
    auto watch = ProcessWriteWatch::attach(target.pid());
    char ok = watch ? 'y' : 'n';
    (void)!::write(ready[1], &ok, 1);
    ::pause();
    ::_exit(0);
  }
  char ok = 0;
  ASSERT_EQ(::read(ready[0], &ok, 1), 1);
  ::close(ready[0]);
  ::close(ready[1]);
  ASSERT_EQ(ok, 'y');
  EXPECT_TRUE(any_registered(target.pid()));
  ::kill(tracker, SIGKILL);
  ::waitpid(tracker, nullptr, 0);
  EXPECT_FALSE(any_registered(target.pid())) << "markers left after the tracker died";
  ASSERT_TRUE(target.send("0 8"));
  EXPECT_EQ(target.read_line(), "done") << "the target does not run normally";
}

TEST_F(ProcessWatch, TheWatchEndsWhenTheTargetExits) {
  TargetProcess target({"writer"});
  ASSERT_GT(target.pid(), 0) << target.error();
  auto watch = ProcessWriteWatch::attach(target.pid(), target.region(), target.pages() * kPage);
  ASSERT_TRUE(watch) << watch.error().message();
  target.close_input();  // it exits at end of input
  EXPECT_EQ(target.wait_exit(), 0);
  auto after = watch->collect();
  ASSERT_FALSE(after);
  EXPECT_EQ(after.error().kind(), ErrorKind::no_such_process) << after.error().message();
  EXPECT_EQ(watch->ended(), WatchEnd::exited) << after.error().message();
}

}  // namespace
}  // namespace pagescan::test
