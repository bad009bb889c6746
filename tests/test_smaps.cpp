// The kernel's smaps figures per VMA and per process, and the split of non-present
// entries into swap entries and PTE markers (pagescan/smaps.hpp).
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "kernel/uapi.hpp"
#include "pagescan/memory_map.hpp"
#include "pagescan/smaps.hpp"
#include "support/kernel_facts.hpp"
#include "support/memory.hpp"
#include "support/scan_helpers.hpp"
#include "support/scenario_layout.hpp"
#include "support/system_settings.hpp"

using namespace pagescan;
using namespace pagescan::test;

TEST(SmapsFields, EveryNameRoundTripsAndOthersAreNotFigures) {
  for (std::size_t i = 0; i < kSmapsFieldCount; ++i) {
    auto f = static_cast<SmapsField>(i);
    EXPECT_EQ(smaps_field_named(smaps_name(f)), f) << smaps_name(f);
  }
  EXPECT_FALSE(smaps_field_named("Size"));
  EXPECT_FALSE(smaps_field_named("KernelPageSize"));
  EXPECT_FALSE(smaps_field_named("VmFlags"));
}

TEST(SmapsRollup, ShowsEveryLineAndAtLeastTheRssOfOneVma) {
  Mapping m = Mapping::anonymous(16);
  std::memset(m.data(), 1, m.length());
  auto rollup = read_smaps_rollup(self_process());
  ASSERT_TRUE(rollup) << rollup.error().message();
  for (SmapsField f : {SmapsField::rss, SmapsField::pss, SmapsField::pss_anon, SmapsField::swap}) {
    EXPECT_TRUE(rollup->has(f)) << smaps_name(f);
  }
  EXPECT_GE((*rollup)[SmapsField::rss], m.length());
  EXPECT_GE((*rollup)[SmapsField::anonymous], m.length());
}

TEST(SmapsRollup, OfAnExitedProcessIsNoSuchProcess) {
  int go[2];
  ASSERT_EQ(::pipe(go), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    char c;
    ::close(go[1]);
    (void)!::read(go[0], &c, 1);  // exits once the parent has attached
    ::_exit(0);
  }
  ::close(go[0]);
  auto process = Process::attach(child);
  ::close(go[1]);
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(process) << process.error().message();
  auto rollup = read_smaps_rollup(*process);
  ASSERT_FALSE(rollup);
  EXPECT_EQ(rollup.error().kind(), ErrorKind::no_such_process) << rollup.error().message();
  EXPECT_EQ(rollup.error().message().rfind("smaps_rollup of pid " + std::to_string(child), 0), 0u)
      << rollup.error().message();
}

// Guard markers, uffd-wp markers and swap entries are all "swapped"; the swap type tells
// them apart (types seen: kernel-pagemap-scan.md §6.1).
TEST(CountNonPresent, TellsGuardAndUffdWpMarkersFromSwapEntries) {
  PAGESCAN_REQUIRE_FACT(Fact::pfns_visible);
  PAGESCAN_REQUIRE_FACT(Fact::guard_regions);
  PAGESCAN_REQUIRE_FACT(Fact::uffd_wp_async);
  Mapping guarded = Mapping::anonymous(8);
  std::memset(guarded.data(), 1, guarded.length());
  ASSERT_EQ(::madvise(guarded.page(2), 3 * page_size(), uapi::kMadvGuardInstall), 0)
      << std::strerror(errno);
  auto guards =
      count_non_present(self_process(), guarded.start(), guarded.start() + guarded.length());
  ASSERT_TRUE(guards) << guards.error().message();
  EXPECT_EQ(guards->guard_markers, 3u);
  EXPECT_EQ(guards->swap + guards->uffd_wp_markers + guards->other_markers, 0u);

  // Async uffd-wp with WP_UNPOPULATED puts a marker on each empty page it protects.
  auto wp = AsyncWp::create();
  ASSERT_TRUE(wp);
  Mapping tracked = Mapping::anonymous(8);
  std::memset(tracked.data(), 1, 3 * page_size());
  wp->init(tracked.data(), tracked.length());
  auto marks =
      count_non_present(self_process(), tracked.start(), tracked.start() + tracked.length());
  wp->free(tracked.data(), tracked.length());
  ASSERT_TRUE(marks) << marks.error().message();
  EXPECT_EQ(marks->uffd_wp_markers, 5u);
  EXPECT_EQ(marks->swap + marks->guard_markers + marks->other_markers, 0u);
}

TEST(CountNonPresent, CountsPagedOutAnonymousPagesAsSwapEntries) {
  PAGESCAN_REQUIRE_FACT(Fact::pfns_visible);
  PAGESCAN_REQUIRE_FACT(Fact::swap);
  SwapSpace swap(16u << 20);
  ASSERT_TRUE(swap.ok()) << swap.why_not();
  Mapping m = Mapping::anonymous(8);
  for (std::size_t i = 0; i < m.pages(); ++i) std::memset(m.page(i), static_cast<int>(i + 1), 64);
  std::string why;
  bool out = false;
  for (int attempt = 0; attempt < 5 && !out; ++attempt)
    out = layout::page_out(m.data(), 0, 4, true, why);
  if (!out) GTEST_SKIP() << why;
  auto n = count_non_present(self_process(), m.start(), m.start() + m.length());
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_EQ(n->swap, 4u);
  EXPECT_EQ(n->markers(), 0u);
}

// pagemap fills the frame field only for an opener with CAP_SYS_ADMIN: without it the
// split is refused (unsupported), never guessed. A forked child drops the capability and
// opens its own pagemap afresh.
TEST(CountNonPresent, WithoutCapSysAdminIsUnsupported) {
  PAGESCAN_REQUIRE_FACT(Fact::guard_regions);
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to drop CAP_SYS_ADMIN alone";
  Mapping m = Mapping::anonymous(4);
  std::memset(m.data(), 1, m.length());
  ASSERT_EQ(::madvise(m.data(), page_size(), uapi::kMadvGuardInstall), 0) << std::strerror(errno);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2] = {};
    if (::syscall(SYS_capget, &header, data) != 0) ::_exit(10);
    data[CAP_SYS_ADMIN / 32].effective &= ~(1u << (CAP_SYS_ADMIN % 32));
    if (::syscall(SYS_capset, &header, data) != 0) ::_exit(11);
    auto process = Process::attach(::getpid());
    if (!process) ::_exit(12);
    auto n = count_non_present(*process, m.start(), m.start() + m.length());
    if (n) ::_exit(13);  // the guard marker's frame should have been hidden
    ::_exit(n.error().kind() == ErrorKind::unsupported &&
                    n.error().message().find("CAP_SYS_ADMIN") != std::string::npos
                ? 0
                : 14);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0)
      << "10/11: capget/capset failed, 12: attach failed, 13: split without CAP_SYS_ADMIN, "
         "14: another error";
}
