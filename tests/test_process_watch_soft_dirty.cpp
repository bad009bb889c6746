// ProcessWriteWatch's engines on another process (tests/targets/plain_target): which one
// is chosen (automatic, by name, by PAGESCAN_WATCH_ENGINE, through the C API), what
// engine() says, and the soft-dirty engine's rounds and weaker contract (the whole-target
// clear, over-reporting new mappings, exact only while the target is stopped during a
// collect). Where the kernel has no soft-dirty the behaviour tests skip naming the test's
// own finding, and the test of its refusal runs instead.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "pagescan/pagescan.h"
#include "pagescan/process_watch.hpp"
#include "support/kernel_facts.hpp"
#include "support/remote_rounds.hpp"
#include "support/storm_mirror.hpp"
#include "support/target_process.hpp"
#include "support/watch_helpers.hpp"

namespace pagescan::test {
namespace {

const std::uint64_t kPage = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));

Result<ProcessWriteWatch> attach_region(const TargetProcess& t, WatchEngine engine,
                                        std::uint64_t first = 0, std::uint64_t count = 0) {
  ProcessWatchOptions options;
  options.engine = engine;
  const std::uint64_t pages = count ? count : t.pages() - first;
  return ProcessWriteWatch::attach(t.pid(), t.region() + first * kPage, pages * kPage, options);
}

void target_does(TargetProcess& target, const std::string& command) {
  ASSERT_TRUE(target.send(command));
  ASSERT_EQ(target.read_line(), "done") << command;
}

// Pagemap bit 55 of one page of another process, read by the test itself.
bool soft_dirty_bit(pid_t pid, std::uint64_t addr) {
  const int fd = ::open(("/proc/" + std::to_string(pid) + "/pagemap").c_str(), O_RDONLY);
  std::uint64_t entry = 0;
  const bool read = fd >= 0 && ::pread(fd, &entry, sizeof entry,
                                       static_cast<off_t>(addr / kPage * sizeof entry)) ==
                                   static_cast<ssize_t>(sizeof entry);
  if (fd >= 0) ::close(fd);
  return read && ((entry >> 55) & 1);
}

bool uffd_usable() {
  return kernel_has(Fact::uffd_wp_async) && kernel_has(Fact::pagemap_scan);
}

// No variable of the caller's may choose the engine for these tests.
class RemoteEngineChoice : public ::testing::Test {
 protected:
  ScopedEnv no_engine_{"PAGESCAN_WATCH_ENGINE", std::nullopt};
  TargetProcess target{{"writer"}};
};

TEST_F(RemoteEngineChoice, SoftDirtyAskedForOnAKernelWithoutItIsUnsupportedInOneLine) {
  if (kernel_has(Fact::soft_dirty)) {
    GTEST_SKIP() << "soft-dirty works here: " << kernel_fact(Fact::soft_dirty).finding;
  }
  ASSERT_GT(target.pid(), 0) << target.error();
  auto watch = attach_region(target, WatchEngine::soft_dirty);
  ASSERT_FALSE(watch);
  EXPECT_EQ(watch.error().kind(), ErrorKind::unsupported);
  EXPECT_EQ(watch.error().errno_value(), EOPNOTSUPP);
  const std::string message = watch.error().message();
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  const bool not_built =
      kernel_fact(Fact::soft_dirty).finding.find("no CONFIG_MEM_SOFT_DIRTY") != std::string::npos;
  if (not_built && uffd_usable()) {
    EXPECT_EQ(message, "watch of pid " + std::to_string(target.pid()) +
                           ": soft-dirty is not built into this kernel (CONFIG_MEM_SOFT_DIRTY): "
                           "pagemap bit 55 never set; use the uffd engine");
  } else {
    EXPECT_NE(message.find("soft-dirty"), std::string::npos) << message;
  }
  // Refused before anything touched the target.
  EXPECT_FALSE(any_uffd_wp_registered(target.pid()));
  target_does(target, "0 1");
}

TEST_F(RemoteEngineChoice, AutomaticTakesUffdWhereTheKernelHasIt) {
  PAGESCAN_REQUIRE_FACT(Fact::uffd_wp_async);
  PAGESCAN_REQUIRE_FACT(Fact::pagemap_scan);
  ASSERT_GT(target.pid(), 0) << target.error();
  auto watch = attach_region(target, WatchEngine::automatic);
  ASSERT_TRUE(watch) << watch.error().message();
  EXPECT_EQ(watch->engine(), WatchEngine::uffd);
  EXPECT_GT(watch->attach_stop_ns(), 0u) << "the uffd engine stops the target to attach";
  EXPECT_TRUE(any_uffd_wp_registered(target.pid()));
}

TEST_F(RemoteEngineChoice, UffdByNameReportsUffd) {
  PAGESCAN_REQUIRE_FACT(Fact::uffd_wp_async);
  PAGESCAN_REQUIRE_FACT(Fact::pagemap_scan);
  ASSERT_GT(target.pid(), 0) << target.error();
  auto watch = attach_region(target, WatchEngine::uffd);
  ASSERT_TRUE(watch) << watch.error().message();
  EXPECT_EQ(watch->engine(), WatchEngine::uffd);
}

TEST_F(RemoteEngineChoice, InProcessEnginesCannotWatchAnotherProcess) {
  ASSERT_GT(target.pid(), 0) << target.error();
  for (WatchEngine engine : {WatchEngine::mprotect, WatchEngine::everything}) {
    auto watch = attach_region(target, engine);
    ASSERT_FALSE(watch) << to_string(engine);
    EXPECT_EQ(watch.error().kind(), ErrorKind::unsupported);
    EXPECT_EQ(watch.error().message(),
              "watch of pid " + std::to_string(target.pid()) + ": the " +
                  std::string(to_string(engine)) +
                  " engine cannot watch another process (uffd or soft-dirty can)");
  }
}

TEST_F(RemoteEngineChoice, PagescanWatchEngineChoosesForAutomaticOnly) {
  ASSERT_GT(target.pid(), 0) << target.error();
  {
    ScopedEnv env("PAGESCAN_WATCH_ENGINE", "mprotect");
    auto watch = attach_region(target, WatchEngine::automatic);
    ASSERT_FALSE(watch);
    EXPECT_EQ(watch.error().kind(), ErrorKind::unsupported);
    EXPECT_NE(watch.error().message().find("mprotect engine (PAGESCAN_WATCH_ENGINE) cannot"),
              std::string::npos)
        << watch.error().message();
  }
  {
    ScopedEnv env("PAGESCAN_WATCH_ENGINE", "fastest");
    auto watch = attach_region(target, WatchEngine::automatic);
    ASSERT_FALSE(watch);
    EXPECT_EQ(watch.error().kind(), ErrorKind::invalid_argument);
    EXPECT_EQ(watch.error().message(),
              "PAGESCAN_WATCH_ENGINE: unknown write-tracking engine 'fastest' (expected auto, "
              "uffd, soft-dirty, mprotect or everything)");
  }
  if (!uffd_usable()) GTEST_SKIP() << "no uffd engine here to force";
  {
    ScopedEnv env("PAGESCAN_WATCH_ENGINE", "uffd");
    auto forced = attach_region(target, WatchEngine::automatic);
    ASSERT_TRUE(forced) << forced.error().message();
    EXPECT_EQ(forced->engine(), WatchEngine::uffd);
  }
  // A named engine is not overridden by the variable.
  ScopedEnv env("PAGESCAN_WATCH_ENGINE", "mprotect");
  auto named = attach_region(target, WatchEngine::uffd);
  ASSERT_TRUE(named) << named.error().message();
  EXPECT_EQ(named->engine(), WatchEngine::uffd);
}

// The C API chooses the engine by the same flags as pagescan_watch_create.
TEST_F(RemoteEngineChoice, TheCApiChoosesTheEngineByItsFlags) {
  ASSERT_GT(target.pid(), 0) << target.error();
  const std::uint64_t len = target.pages() * kPage;
  pagescan_watch* w = nullptr;
  const int soft =
      pagescan_watch_attach(target.pid(), target.region(), len, PAGESCAN_WATCH_SOFT_DIRTY, &w);
  if (kernel_has(Fact::soft_dirty)) {
    ASSERT_EQ(soft, 0);
    EXPECT_STREQ(pagescan_watch_engine(w), "soft-dirty");
    pagescan_watch_destroy(w);
  } else {
    EXPECT_EQ(soft, -ENOTSUP);
  }
  w = nullptr;
  EXPECT_EQ(pagescan_watch_attach(target.pid(), target.region(), len, PAGESCAN_WATCH_MPROTECT, &w),
            -ENOTSUP);
  if (!uffd_usable()) GTEST_SKIP() << "no uffd engine here for PAGESCAN_WATCH_AUTO to take";
  ASSERT_EQ(pagescan_watch_attach(target.pid(), target.region(), len, PAGESCAN_WATCH_AUTO, &w), 0);
  EXPECT_STREQ(pagescan_watch_engine(w), "uffd");
  pagescan_watch_destroy(w);
}

// ---- The soft-dirty engine's behaviour (a kernel with CONFIG_MEM_SOFT_DIRTY) ----------

class RemoteSoftDirty : public ::testing::Test {
 protected:
  void SetUp() override {
    PAGESCAN_REQUIRE_FACT(Fact::soft_dirty);
    ASSERT_GT(target.pid(), 0) << target.error();
  }
  ScopedEnv no_engine_{"PAGESCAN_WATCH_ENGINE", std::nullopt};
  TargetProcess target{{"writer"}};
};

TEST_F(RemoteSoftDirty, RoundsReportExactlyThePagesWritten) {
  auto watch = attach_region(target, WatchEngine::soft_dirty);
  ASSERT_TRUE(watch) << watch.error().message();
  EXPECT_EQ(watch->engine(), WatchEngine::soft_dirty);
  EXPECT_EQ(watch->attach_stop_ns(), 0u) << "soft-dirty never stops the target";
  EXPECT_FALSE(any_uffd_wp_registered(target.pid()));
  EXPECT_EQ(watch->armed(), pages_of(target, 0, target.pages()));

  expect_exact_rounds(target, *watch);
}

// A clear_refs resets the whole target, so what one collect does not consume (a
// sub-range's rest, pages past max_pages) is kept by the watch and reported later.
TEST_F(RemoteSoftDirty, WhatACollectDoesNotTakeIsKeptAcrossTheClear) {
  auto watch = attach_region(target, WatchEngine::soft_dirty);
  ASSERT_TRUE(watch) << watch.error().message();
  target_does(target, "0 2");
  target_does(target, "40 3");
  auto first_half = watch->collect(target.region(), 32 * kPage);
  ASSERT_TRUE(first_half) << first_half.error().message();
  EXPECT_EQ(first_half->ranges, pages_of(target, 0, 2));
  auto all = watch->collect();
  ASSERT_TRUE(all) << all.error().message();
  EXPECT_EQ(all->ranges, pages_of(target, 40, 3)) << "the second half was lost to the clear";

  target_does(target, "10 10");
  auto three = watch->collect(CollectOptions{.max_pages = 3});
  ASSERT_TRUE(three) << three.error().message();
  EXPECT_EQ(three->ranges, pages_of(target, 10, 3));
  EXPECT_TRUE(three->more);
  auto rest = watch->collect();
  ASSERT_TRUE(rest) << rest.error().message();
  EXPECT_EQ(rest->ranges, pages_of(target, 13, 7));

  target_does(target, "50 2");
  ASSERT_TRUE(watch->reset());
  auto after_reset = watch->collect();
  ASSERT_TRUE(after_reset) << after_reset.error().message();
  EXPECT_TRUE(after_reset->ranges.empty());
}

TEST_F(RemoteSoftDirty, WatchesOfOneTargetKeepEachOthersWrites) {
  auto a = attach_region(target, WatchEngine::soft_dirty, 0, 32);
  ASSERT_TRUE(a) << a.error().message();
  auto b = attach_region(target, WatchEngine::soft_dirty, 32, 32);
  ASSERT_TRUE(b) << b.error().message();
  target_does(target, "40 1");
  target_does(target, "1 1");
  auto ha = a->collect();  // clears the target
  ASSERT_TRUE(ha) << ha.error().message();
  EXPECT_EQ(ha->ranges, pages_of(target, 1, 1));
  ASSERT_TRUE(a->reset());                                        // and again
  auto c = attach_region(target, WatchEngine::soft_dirty, 0, 2);  // and again
  ASSERT_TRUE(c) << c.error().message();
  auto hb = b->collect();
  ASSERT_TRUE(hb) << hb.error().message();
  EXPECT_EQ(hb->ranges, pages_of(target, 40, 1));
}

// The stated cost of the engine: a collect with reset clears the soft-dirty bits of the
// WHOLE target, outside the watch too (any other soft-dirty user of it loses them).
TEST_F(RemoteSoftDirty, ACollectClearsTheWholeTarget) {
  auto watch = attach_region(target, WatchEngine::soft_dirty, 0, 32);
  ASSERT_TRUE(watch) << watch.error().message();
  target_does(target, "40 1");  // outside the watch
  const std::uint64_t outside = target.region() + 40 * kPage;
  ASSERT_TRUE(soft_dirty_bit(target.pid(), outside));
  auto harvest = watch->collect(CollectOptions{.reset = false});
  ASSERT_TRUE(harvest) << harvest.error().message();
  EXPECT_TRUE(harvest->ranges.empty());
  EXPECT_TRUE(soft_dirty_bit(target.pid(), outside)) << "a collect without reset cleared";
  ASSERT_TRUE(watch->collect());
  EXPECT_FALSE(soft_dirty_bit(target.pid(), outside)) << "the clear is not process-wide";
}

TEST_F(RemoteSoftDirty, WholeProcessModeReportsANewMappingWholeOnceThenExactly) {
  ProcessWatchOptions options;
  options.engine = WatchEngine::soft_dirty;
  auto watch = ProcessWriteWatch::attach(target.pid(), 0, 0, options);
  ASSERT_TRUE(watch) << watch.error().message();
  ASSERT_TRUE(watch->collect());
  expect_new_mapping_whole_once_then_exact(target, *watch);
}

// The non-atomic collect, used as documented: the target stopped for each collect, so no
// write can fall between the read and the clear. A mirror kept from the reported pages
// then equals the target's memory; a mirror skipping every second harvest does not.
TEST_F(RemoteSoftDirty, WithTheTargetStoppedDuringEachCollectAMirrorKeepsUp) {
  const std::uint64_t pages = 2048;
  TargetProcess storm({"storm", std::to_string(pages)});
  ASSERT_GT(storm.pid(), 0) << storm.error();
  auto watch = ProcessWriteWatch::attach(storm.pid(), storm.region(), pages * kPage,
                                         ProcessWatchOptions{.engine = WatchEngine::soft_dirty});
  ASSERT_TRUE(watch) << watch.error().message();
  auto collect_stopped = [&]() -> Result<Harvest> {
    ::kill(storm.pid(), SIGSTOP);
    EXPECT_TRUE(wait_state(storm.pid(), 'T'));
    auto h = watch->collect();
    ::kill(storm.pid(), SIGCONT);
    return h;
  };
  StormMirror run = mirror_storm(storm, pages, 1500, collect_stopped);
  expect_mirror_kept_up(run);
}

}  // namespace
}  // namespace pagescan::test
