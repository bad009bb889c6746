// One condition, one meaning. The kind is chosen where an error is raised: ENOENT from a
// missing /sys file is unsupported, from a missing /proc/PID entry no_such_process.
// And a watched or captured region unmapped, or unmapped and
// mapped afresh ("replaced"), since it was armed gets the same errno (ENOENT) and kind
// (invalid_argument) from every engine that notices, through the C++ and the C API
// (docs/errors.md 4.21-4.27, 5.13). Parameterised over the engines; an engine this
// kernel lacks is skipped with its self-test's reason.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <string>

#include "pagescan/pagescan.h"
#include "pagescan/pagescan_snapshot.h"
#include "pagescan/snapshot.hpp"
#include "pagescan/watch.hpp"
#include "proc/proc_files.hpp"
#include "support/memory.hpp"
#include "support/watch_helpers.hpp"

using namespace pagescan;
using namespace pagescan::test;

namespace {

std::string range_of(const Mapping& m) {
  char text[64];
  std::snprintf(text, sizeof text, "[0x%" PRIx64 "-0x%" PRIx64 ")", m.start(), m.end());
  return text;
}

// The one answer for a region changed under a watch or snapshot.
testing::AssertionResult region_changed(const Error& e) {
  if (e.errno_value() != ENOENT || e.kind() != ErrorKind::invalid_argument) {
    return testing::AssertionFailure()
           << "errno " << e.errno_value() << " (" << std::strerror(e.errno_value()) << "), kind "
           << to_string(e.kind()) << ", expected ENOENT / invalid_argument: " << e.message();
  }
  return testing::AssertionSuccess();
}

class SameCondition : public testing::TestWithParam<WatchEngine> {
 protected:
  void SetUp() override { PAGESCAN_SKIP_UNLESS_ENGINE(GetParam()); }

  WatchEngine engine() const { return GetParam(); }
  WatchOptions options() const {
    WatchOptions o;
    o.engine = engine();
    return o;
  }
  unsigned c_flags() const {
    switch (engine()) {
      case WatchEngine::uffd:
        return PAGESCAN_WATCH_UFFD;
      case WatchEngine::soft_dirty:
        return PAGESCAN_WATCH_SOFT_DIRTY;
      case WatchEngine::mprotect:
        return PAGESCAN_WATCH_MPROTECT;
      default:
        return PAGESCAN_WATCH_EVERYTHING;
    }
  }
  // uffd and mprotect keep their state in the memory itself (a registration, a
  // protection), so they can tell a part mapped afresh; soft-dirty and everything cannot.
  bool sees_replacement() const {
    return engine() == WatchEngine::uffd || engine() == WatchEngine::mprotect;
  }
  // Maps pages [first, first + count) of `m` afresh (unmapped and mapped again).
  static void replace(Mapping& m, std::size_t first, std::size_t count) {
    void* fresh = ::mmap(m.page(first), count * page_size(), PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    ASSERT_EQ(fresh, static_cast<void*>(m.page(first))) << std::strerror(errno);
  }
};

// A collect with reset, or a reset, over a part unmapped since: refused before anything
// is re-armed, with one message whatever the engine; the written page is still reported.
TEST_P(SameCondition, CollectAndResetAfterAPartWasUnmapped) {
  Mapping m = Mapping::anonymous(8);
  auto w = WriteWatch::create(m.data(), m.length(), options());
  ASSERT_TRUE(w) << w.error().message();
  m.write_page(1);
  ASSERT_EQ(m.unmap_pages(4, 1), 0);
  for (const char* call : {"collect", "reset"}) {
    SCOPED_TRACE(call);
    Result<void> failed = rearm(*w, call, m.data(), m.length());
    ASSERT_FALSE(failed) << "succeeded over a region unmapped in part";
    EXPECT_TRUE(region_changed(failed.error()));
    EXPECT_EQ(failed.error().message(), "watch of " + range_of(m) + ": " + call +
                                            ": the region is no longer wholly mapped "
                                            "(unmapped since)");
  }
  auto lower = w->collect(m.data(), 4 * page_size());
  ASSERT_TRUE(lower) << lower.error().message();
  const auto pages = harvest_pages(*lower);
  EXPECT_NE(std::find(pages.begin(), pages.end(), m.page_addr(1)), pages.end())
      << "a refused call re-armed the written page";
}

TEST_P(SameCondition, CheckIntactAfterAPartWasUnmapped) {
  Mapping m = Mapping::anonymous(8);
  auto w = WriteWatch::create(m.data(), m.length(), options());
  ASSERT_TRUE(w) << w.error().message();
  ASSERT_EQ(m.unmap_pages(6, 1), 0);
  auto intact = w->check_intact();
  ASSERT_FALSE(intact);
  EXPECT_TRUE(region_changed(intact.error()));
  EXPECT_EQ(intact.error().message(),
            "watch of " + range_of(m) + ": the region is no longer wholly mapped (unmapped since)");
}

// Replaced: uffd and mprotect notice in check_intact(), and uffd also when re-arming (the
// new VMA is not registered); the others cannot tell and succeed.
TEST_P(SameCondition, CheckIntactAndResetAfterAPartWasReplaced) {
  Mapping m = Mapping::anonymous(8);
  auto w = WriteWatch::create(m.data(), m.length(), options());
  ASSERT_TRUE(w) << w.error().message();
  replace(m, 2, 2);
  auto intact = w->check_intact();
  if (sees_replacement()) {
    ASSERT_FALSE(intact) << "a replaced part went unnoticed";
    EXPECT_TRUE(region_changed(intact.error()));
    EXPECT_EQ(
        intact.error().message().rfind(std::string(to_string(engine())) + " engine: watch of " +
                                           range_of(m) + ": part of the region ",
                                       0),
        0u)
        << intact.error().message();
  } else {
    EXPECT_TRUE(intact) << intact.error().message();
  }
  auto reset = w->reset(m.data(), m.length());
  if (engine() == WatchEngine::uffd) {
    ASSERT_FALSE(reset) << "re-arming an unregistered part succeeded";
    EXPECT_TRUE(region_changed(reset.error()));
  } else {
    EXPECT_TRUE(reset) << reset.error().message();
  }
}

TEST_P(SameCondition, RestoreAfterAPartWasUnmappedOrReplaced) {
  for (bool replaced : {false, true}) {
    SCOPED_TRACE(replaced ? "replaced" : "unmapped");
    Mapping m = Mapping::anonymous(8);
    m.write_pages(0, 8, 7);
    auto s = RegionSnapshot::capture(m.data(), m.length(), SnapshotOptions{options()});
    ASSERT_TRUE(s) << s.error().message();
    m.write_page(0, 9);
    if (replaced) {
      replace(m, 5, 1);
    } else {
      ASSERT_EQ(m.unmap_pages(5, 1), 0);
    }
    auto r = s->restore();
    if (replaced && !sees_replacement()) {
      EXPECT_TRUE(r) << r.error().message();
      continue;
    }
    ASSERT_FALSE(r) << "restore of a changed region succeeded";
    EXPECT_TRUE(region_changed(r.error()));
    EXPECT_EQ(r.error().message(),
              "snapshot of " + range_of(m) +
                  (replaced ? ": part of the region was replaced since capture; nothing was "
                              "restored"
                            : ": the region was unmapped, moved, grown or shrunk since "
                              "capture; nothing was restored"));
    EXPECT_EQ(m.data()[0], 9) << "a refused restore restored a page";
  }
}

// The C API passes the one errno on: -ENOENT from every engine.
TEST_P(SameCondition, CApiAfterAPartWasUnmapped) {
  {
    Mapping m = Mapping::anonymous(8);
    pagescan_watch* w = nullptr;
    ASSERT_EQ(pagescan_watch_create(m.data(), m.length(), c_flags(), &w), 0);
    m.write_page(1);
    ASSERT_EQ(m.unmap_pages(4, 1), 0);
    void* addrs[8] = {};
    std::size_t count = 8;
    EXPECT_EQ(pagescan_watch_get(w, m.data(), m.length(), PAGESCAN_WATCH_RESET, addrs, &count),
              -ENOENT);
    EXPECT_EQ(count, 8u) << "a failed call changed *count";
    EXPECT_EQ(pagescan_watch_reset(w, m.data(), m.length()), -ENOENT);
    pagescan_watch_destroy(w);
  }
  {
    Mapping m = Mapping::anonymous(8);
    m.write_pages(0, 8, 7);
    pagescan_snapshot* s = nullptr;
    ASSERT_EQ(pagescan_snapshot_create(m.data(), m.length(), c_flags(), &s), 0);
    ASSERT_EQ(m.unmap_pages(5, 1), 0);
    pagescan_restore_stats stats{};
    EXPECT_EQ(pagescan_snapshot_restore(s, &stats), -ENOENT);
    std::size_t bad = 777;
    EXPECT_EQ(pagescan_snapshot_verify(s, &bad), -ENOENT);
    EXPECT_EQ(bad, 777u);
    pagescan_snapshot_destroy(s);
  }
}

// A kernel interface file that does not exist: this kernel lacks the feature.
TEST(ErrorKindAtTheSource, MissingKernelInterfaceFileIsUnsupported) {
  const std::string path = "/sys/kernel/mm/transparent_hugepage/pagescan_no_such_knob";
  auto text = proc::read_text_file(path, proc::FileRole::kernel_interface);
  ASSERT_FALSE(text) << "read " << path;
  EXPECT_EQ(text.error().errno_value(), ENOENT);
  EXPECT_EQ(text.error().kind(), ErrorKind::unsupported) << text.error().message();
  EXPECT_EQ(text.error().message(), "open " + path + ": " + std::strerror(ENOENT));
}

// The same errno from a target's /proc directory that is gone: no such process.
TEST(ErrorKindAtTheSource, MissingProcessDirectoryIsNoSuchProcess) {
  const pid_t child = ::fork();
  ASSERT_GE(child, 0) << std::strerror(errno);
  if (child == 0) ::_exit(0);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);  // reaped: /proc/{child} is gone
  auto stat = proc::read_stat(child);
  ASSERT_FALSE(stat) << "pid " << child << " was reused";
  EXPECT_EQ(stat.error().errno_value(), ENOENT);
  EXPECT_EQ(stat.error().kind(), ErrorKind::no_such_process) << stat.error().message();
  auto threads = proc::list_threads(child);
  ASSERT_FALSE(threads);
  EXPECT_EQ(threads.error().kind(), ErrorKind::no_such_process) << threads.error().message();
}

INSTANTIATE_TEST_SUITE_P(Engines, SameCondition, testing::ValuesIn(kForcibleEngines),
                         engine_test_name);

}  // namespace
