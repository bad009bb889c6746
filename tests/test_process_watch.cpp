// ProcessWriteWatch on a plain program that does not link pagescan
// (tests/targets/plain_target): rounds with exact expected sets (user writes, kernel
// writes, reads only, untouched pages, a multi-threaded writer, a target already
// multi-threaded at the attach, a transparent huge page), the address space
// followed, the endings, and a tracker killed with SIGKILL leaving the target clean.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "pagescan/process_watch.hpp"
#include "pagescan/scan.hpp"
#include "proc/maps.hpp"
#include "support/kernel_facts.hpp"
#include "support/remote_rounds.hpp"
#include "support/storm_mirror.hpp"
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

  expect_exact_rounds(target, *watch);
}

std::size_t thread_count(pid_t pid) {
  std::size_t n = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task")) {
    (void)entry;
    ++n;
  }
  return n;
}

// Threads that exist at the attach (idle ones blocked in pause(), one writing non-stop)
// are not disturbed, and what each writes is reported exactly.
TEST_F(ProcessWatch, ATargetAlreadyMultiThreadedAtTheAttachIsTrackedExactly) {
  TargetProcess target({"writer"});
  ASSERT_GT(target.pid(), 0) << target.error();
  ASSERT_TRUE(target.send("idle 3"));
  ASSERT_EQ(target.read_line(), "done");
  ASSERT_TRUE(target.send("spin 50 2"));  // writes pages 50 and 51 every 20 ms
  ASSERT_EQ(target.read_line(), "done");
  ASSERT_EQ(thread_count(target.pid()), 5u);

  auto watch = ProcessWriteWatch::attach(target.pid(), target.region(), target.pages() * kPage);
  ASSERT_TRUE(watch) << watch.error().message();
  struct Round {
    std::string command;
    std::uint64_t first, count;
  };
  for (const Round& r :
       {Round{"0 4", 0, 4}, Round{"threads 4 30 8", 30, 8}, Round{"pread 10 2", 10, 2}}) {
    ASSERT_TRUE(target.send(r.command));
    ASSERT_EQ(target.read_line(), "done") << r.command;
    ::usleep(60'000);  // the spinning thread has written its pages again since
    auto harvest = watch->collect();
    ASSERT_TRUE(harvest) << harvest.error().message();
    std::vector<PageRange> want = pages_of(target, r.first, r.count);
    want.push_back(pages_of(target, 50, 2).front());
    EXPECT_EQ(harvest->ranges, want) << r.command;
  }
  EXPECT_EQ(thread_count(target.pid()), 5u) << "a thread died or was added";
  ASSERT_TRUE(target.send("signals"));
  EXPECT_EQ(target.read_line(), "signals 0");
}

// Arming a PMD-mapped transparent huge page protects it whole, and the first write to it
// splits it (userfaultfd's async mode does, rather than fault 2 MiB), so a write of one
// byte is reported as its one 4 KiB page.
TEST_F(ProcessWatch, AWriteToATransparentHugePageReportsItsOnePage) {
  TargetProcess target({"writer"});
  ASSERT_GT(target.pid(), 0) << target.error();
  ASSERT_TRUE(target.send("thp"));
  const std::string mapped = target.read_line();
  ASSERT_EQ(target.read_line(), "done");
  ASSERT_EQ(mapped.rfind("mapped 0x", 0), 0u) << mapped;
  const std::uint64_t block = std::stoull(mapped.substr(7), nullptr, 16);
  const std::uint64_t huge = 2u << 20;

  auto process = Process::attach(target.pid());
  ASSERT_TRUE(process) << process.error().message();
  auto thp = scan(*process, ScanRequest::over(block, block + huge).all_of(Category::huge));
  ASSERT_TRUE(thp) << thp.error().message();
  if (thp->pages != huge / kPage) {
    GTEST_SKIP() << "the kernel did not map the block as a transparent huge page (THP "
                    "disabled, or no free 2 MiB page): "
                 << thp->pages << " of " << huge / kPage << " pages huge";
  }

  auto watch = ProcessWriteWatch::attach(target.pid(), block, huge);
  ASSERT_TRUE(watch) << watch.error().message();
  const auto pages = [&](std::uint64_t first, std::uint64_t count) {
    return std::vector<PageRange>{{block + first * kPage, block + (first + count) * kPage}};
  };
  EXPECT_EQ(round(target, *watch, "w2 7 1"), pages(7, 1)) << "one byte of the huge page";
  EXPECT_EQ(round(target, *watch, "w2 300 3"), pages(300, 3)) << "after the split";
  EXPECT_EQ(round(target, *watch, "w2 7 1"), pages(7, 1)) << "re-armed";
}

TEST_F(ProcessWatch, ACollectOfPartOfTheWatchLeavesTheRestArmed) {
  TargetProcess target({"writer"});
  ASSERT_GT(target.pid(), 0) << target.error();
  auto watch = ProcessWriteWatch::attach(target.pid(), target.region(), target.pages() * kPage);
  ASSERT_TRUE(watch) << watch.error().message();
  // One command at a time: the target reads a line per read(2).
  ASSERT_TRUE(target.send("0 2"));
  ASSERT_EQ(target.read_line(), "done");
  ASSERT_TRUE(target.send("40 3"));
  ASSERT_EQ(target.read_line(), "done");
  auto first_half = watch->collect(target.region(), 32 * kPage);
  ASSERT_TRUE(first_half) << first_half.error().message();
  EXPECT_EQ(first_half->ranges, pages_of(target, 0, 2));
  auto all = watch->collect();
  ASSERT_TRUE(all) << all.error().message();
  EXPECT_EQ(all->ranges, pages_of(target, 40, 3)) << "the second half was re-armed";
  auto outside = watch->collect(target.region() - kPage, kPage);
  ASSERT_FALSE(outside);
  EXPECT_EQ(outside.error().kind(), ErrorKind::invalid_argument) << outside.error().message();
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

TEST_F(ProcessWatch, NewAndMovedMappingsAreReportedWholeOnceThenExactly) {
  TargetProcess target({"writer"});
  ASSERT_GT(target.pid(), 0) << target.error();
  auto watch = ProcessWriteWatch::attach(target.pid());
  ASSERT_TRUE(watch) << watch.error().message();
  ASSERT_TRUE(watch->collect());

  const std::uint64_t second = expect_new_mapping_whole_once_then_exact(target, *watch);
  const PageRange whole{second, second + 16 * kPage};

  // Moved: the destination is reported whole once; the old place is dropped.
  const std::uint64_t moved = mapped_address(target, "remap 64");
  auto after_move = watch->collect();
  ASSERT_TRUE(after_move) << after_move.error().message();
  EXPECT_TRUE(covers(after_move->ranges, PageRange{moved, moved + 64 * kPage}));
  if (moved != second) EXPECT_FALSE(covers(watch->armed(), whole));

  // Unmapped: dropped from the armed list, nothing reported.
  EXPECT_TRUE(target.send("unmap2"));
  EXPECT_EQ(target.read_line(), "done");
  auto after_unmap = watch->collect();
  ASSERT_TRUE(after_unmap) << after_unmap.error().message();
  EXPECT_FALSE(overlaps(watch->armed(), PageRange{moved, moved + 64 * kPage}));
  EXPECT_FALSE(overlaps(after_unmap->ranges, PageRange{moved, moved + 64 * kPage}));
}

TEST_F(ProcessWatch, MemoryMappedOverAnArmedRangeIsReportedWholeAndTrackedAgain) {
  TargetProcess target({"writer"});
  ASSERT_GT(target.pid(), 0) << target.error();
  auto watch = ProcessWriteWatch::attach(target.pid(), target.region(), target.pages() * kPage);
  ASSERT_TRUE(watch) << watch.error().message();
  // Fresh memory over pages 8-15 (not registered: a new mapping), written at page 9: the
  // new mapping is reported whole and armed again; after that, exact.
  EXPECT_TRUE(target.send("fixed 8 8"));
  EXPECT_EQ(target.read_line(), "done");
  EXPECT_EQ(round(target, *watch, "9 1"), pages_of(target, 8, 8));
  EXPECT_EQ(watch->armed(), pages_of(target, 0, target.pages()));
  EXPECT_EQ(round(target, *watch, "12 1"), pages_of(target, 12, 1)) << "not tracked again";
}

TEST_F(ProcessWatch, AForkedChildIsUntrackedAndTheParentStaysExact) {
  TargetProcess target({"writer"});
  ASSERT_GT(target.pid(), 0) << target.error();
  auto watch = ProcessWriteWatch::attach(target.pid(), target.region(), target.pages() * kPage);
  ASSERT_TRUE(watch) << watch.error().message();
  // The child writes page 1 of its own copy: not the parent's memory.
  EXPECT_EQ(round(target, *watch, "fork"), pages_of(target, 0, 0));
  EXPECT_EQ(round(target, *watch, "1 2"), pages_of(target, 1, 2)) << "copy-on-write breaks";
}

TEST_F(ProcessWatch, RangesTheTargetRegisteredItselfAreListedAndLeftAlone) {
  TargetProcess target({"writer"});
  ASSERT_GT(target.pid(), 0) << target.error();
  ASSERT_TRUE(target.send("ownuffd 0 16"));
  ASSERT_EQ(target.read_line(), "done");
  auto watch = ProcessWriteWatch::attach(target.pid(), target.region(), target.pages() * kPage);
  ASSERT_TRUE(watch) << watch.error().message();
  ASSERT_EQ(watch->untracked().size(), 1u);
  EXPECT_EQ(watch->untracked().front().range, pages_of(target, 0, 16).front());
  EXPECT_NE(watch->untracked().front().reason.find("own userfaultfd"), std::string::npos)
      << watch->untracked().front().reason;
  EXPECT_EQ(watch->armed(), pages_of(target, 16, target.pages() - 16));
  EXPECT_EQ(round(target, *watch, "20 2"), pages_of(target, 20, 2));
}

// VmPTE of /proc/PID/status, in kB: the target's page tables.
std::uint64_t page_table_kb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmPTE:", 0) == 0) return std::stoull(line.substr(6));
  }
  return 0;
}

TEST_F(ProcessWatch, AHugeSparseReservationIsListedNotArmed) {
  TargetProcess target({"writer"});
  ASSERT_GT(target.pid(), 0) << target.error();
  const std::uint64_t reserved = mapped_address(target, "reserve 256");
  ASSERT_NE(reserved, 0u);
  const std::uint64_t before = page_table_kb(target.pid());
  auto watch = ProcessWriteWatch::attach(target.pid());
  ASSERT_TRUE(watch) << watch.error().message();
  const PageRange span{reserved, reserved + (std::uint64_t{256} << 30)};
  bool listed = false;
  for (const UntrackedRange& u : watch->untracked()) {
    if (u.range == span) {
      listed = true;
      EXPECT_NE(u.reason.find("larger than the 16 GiB a watch arms"), std::string::npos)
          << u.reason;
    }
  }
  EXPECT_TRUE(listed) << "the reservation is not listed as untracked";
  EXPECT_FALSE(overlaps(watch->armed(), span));
  // Arming it would have cost 512 MiB of page tables.
  EXPECT_LT(page_table_kb(target.pid()), before + 64 * 1024);
}

TEST_F(ProcessWatch, TheWatchEndsWhenTheTargetExecs) {
  TargetProcess target({"writer"});
  ASSERT_GT(target.pid(), 0) << target.error();
  auto watch = ProcessWriteWatch::attach(target.pid(), target.region(), target.pages() * kPage);
  ASSERT_TRUE(watch) << watch.error().message();
  ASSERT_TRUE(target.send("exec"));
  ASSERT_EQ(target.read_line(), "done");
  // cat echoes: once it does, the new program runs.
  ASSERT_TRUE(target.send("echo"));
  ASSERT_EQ(target.read_line(), "echo");
  auto after = watch->collect();
  ASSERT_FALSE(after);
  EXPECT_EQ(after.error().kind(), ErrorKind::no_such_process) << after.error().message();
  EXPECT_EQ(watch->ended(), WatchEnd::exec) << after.error().message();
}

// A mirror kept by copying only the reported pages while the target writes non-stop
// equals the target's memory at the end; a mirror that skips every second harvest does
// not (the harvests carry what it needs).
TEST_F(ProcessWatch, AMirrorOfReportedPagesKeepsUpWithANonStopWriter) {
  const std::uint64_t pages = 2048;
  TargetProcess target({"storm", std::to_string(pages)});
  ASSERT_GT(target.pid(), 0) << target.error();
  auto watch = ProcessWriteWatch::attach(target.pid(), target.region(), pages * kPage);
  ASSERT_TRUE(watch) << watch.error().message();
  // Writes for 1.5 s while we harvest.
  StormMirror run = mirror_storm(target, pages, 1500, [&] { return watch->collect(); });
  expect_mirror_kept_up(run);
}

}  // namespace
}  // namespace pagescan::test
