// CoreDumper's pre-copy and incremental dumps on tests/targets/dump_target.c: a target
// writing non-stop while the dump pre-copies still yields the image of one moment, and a
// core made from the previous one plus what changed equals a full dump of the same
// moment, segment by segment.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "dump/test_hooks.hpp"
#include "pagescan/core_dump.hpp"
#include "support/core_dump_helpers.hpp"
#include "support/kernel_facts.hpp"
#include "support/temp_dir.hpp"

namespace pagescan::test {
namespace {

const std::uint64_t kPage = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));

class CoreDumpPrecopy : public ::testing::Test {
 protected:
  void SetUp() override {
    PAGESCAN_REQUIRE_FACT(Fact::pagemap_scan);
    PAGESCAN_REQUIRE_FACT(Fact::uffd_wp_async);
  }
  void TearDown() override {
    dump::test_hooks::skip_final_recopy = false;
    dump::test_hooks::fail_after_first_pass = false;
  }
};

std::uint64_t word_at(const CoreReader& core, std::uint64_t address) {
  const std::string bytes = core.read(address, 8);
  std::uint64_t v = ~0ull;
  if (bytes.size() == 8) std::memcpy(&v, bytes.data(), 8);
  return v;
}

// The writer's invariant (dump_target.c): after P page writes, page j holds
// v(j, P) = P > j ? (P - 1 - j) / pages + 1 : 0, except that page P % pages may already
// hold v(j, P + 1). Returns "" when the core satisfies it, else the first page that
// does not.
std::string check_writer_image(const CoreReader& core, const DumpTarget& target) {
  const std::uint64_t p = word_at(core, target.progress);
  if (p == ~0ull) return "writer_progress is not in the core";
  const auto n = static_cast<std::uint64_t>(target.pages);
  auto v = [&](std::uint64_t j, std::uint64_t after) {
    return after > j ? (after - 1 - j) / n + 1 : 0;
  };
  for (std::uint64_t j = 0; j < n; ++j) {
    const std::uint64_t got = word_at(core, target.region + j * kPage);
    if (got == v(j, p) || (j == p % n && got == v(j, p + 1))) continue;
    return "page " + std::to_string(j) + " holds " + std::to_string(got) + ", progress " +
           std::to_string(p) + " says " + std::to_string(v(j, p));
  }
  return "";
}

TEST_F(CoreDumpPrecopy, ATargetWritingNonStopYieldsTheImageOfTheStop) {
  DumpTarget target(4096, 3600000, true);
  ASSERT_EQ(target.error(), "");
  TempDir dir;
  auto dumper = CoreDumper::attach(target.pid());
  ASSERT_TRUE(dumper) << dumper.error().message();
  auto report = dumper->dump(dir / "writer.core");
  ASSERT_TRUE(report) << report.error().message();
  EXPECT_GE(report->precopy_passes, 2u) << "written pages after the first pass";
  EXPECT_EQ(report->threads, 5u);
  CoreReader core(dir / "writer.core");
  ASSERT_TRUE(core.ok()) << core.error();
  EXPECT_GT(word_at(core, target.progress), 4096u) << "the writer ran a whole round at least";
  EXPECT_EQ(check_writer_image(core, target), "");
  // The writer goes on after the dump.
  const std::uint64_t at_stop = word_at(core, target.progress);
  ::usleep(20'000);
  const std::string now = read_process_memory(target.pid(), target.progress, 8);
  ASSERT_EQ(now.size(), 8u);
  std::uint64_t progress = 0;
  std::memcpy(&progress, now.data(), 8);
  EXPECT_GT(progress, at_stop);
}

TEST_F(CoreDumpPrecopy, NegativeControlWithoutTheFinalRecopyTheImageIsTorn) {
  DumpTarget target(4096, 3600000, true);
  ASSERT_EQ(target.error(), "");
  TempDir dir;
  auto dumper = CoreDumper::attach(target.pid());
  ASSERT_TRUE(dumper) << dumper.error().message();
  dump::test_hooks::skip_final_recopy = true;
  auto report = dumper->dump(dir / "torn.core");
  ASSERT_TRUE(report) << report.error().message();
  CoreReader core(dir / "torn.core");
  ASSERT_TRUE(core.ok()) << core.error();
  EXPECT_NE(check_writer_image(core, target), "")
      << "the check passed a core that missed the writes after the last pre-copy pass";
}

// Both cores have the same segments with the same contents.
void expect_same_segments(const std::string& incremental, const std::string& full) {
  CoreReader a(incremental), b(full);
  ASSERT_TRUE(a.ok()) << a.error();
  ASSERT_TRUE(b.ok()) << b.error();
  ASSERT_EQ(a.segments().size(), b.segments().size());
  for (std::size_t i = 0; i < a.segments().size(); ++i) {
    const CoreSegment& x = a.segments()[i];
    const CoreSegment& y = b.segments()[i];
    ASSERT_EQ(x.vaddr, y.vaddr) << i;
    ASSERT_EQ(x.memsz, y.memsz) << i;
    ASSERT_EQ(x.filesz, y.filesz) << "segment at 0x" << std::hex << x.vaddr;
    ASSERT_EQ(x.flags, y.flags) << i;
    for (std::uint64_t at = 0; at < x.filesz; at += 1 << 20) {
      const std::size_t n =
          static_cast<std::size_t>(std::min<std::uint64_t>(1 << 20, x.filesz - at));
      ASSERT_EQ(a.read(x.vaddr + at, n) == b.read(y.vaddr + at, n), true)
          << "segment at 0x" << std::hex << x.vaddr << " differs in [0x" << at << ", +1 MiB)";
    }
  }
}

std::uint64_t mapped(DumpTarget& target, const std::string& command) {
  const auto lines = target.command(command);
  return lines.empty() ? 0 : std::stoull(lines.front().substr(7), nullptr, 16);
}

TEST_F(CoreDumpPrecopy, AnIncrementalCoreEqualsAFullDumpOfTheSameMoment) {
  DumpTarget target(256, 3600000);
  ASSERT_EQ(target.error(), "");
  const std::uint64_t a = mapped(target, "map 8 119");  // 0x77
  const std::uint64_t b = mapped(target, "map 4 102");  // 0x66
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(target.wait_blocked());
  TempDir dir;
  DumpOptions options;
  options.incremental = true;
  auto dumper = CoreDumper::attach(target.pid(), options);
  ASSERT_TRUE(dumper) << dumper.error().message();
  auto first = dumper->dump(dir / "core.1");
  ASSERT_TRUE(first) << first.error().message();
  EXPECT_FALSE(first->incremental);

  // Pages written, a mapping moved, one removed, one added, pages dropped.
  target.command("fill 10 5 170");  // 0xaa
  char move[64];
  std::snprintf(move, sizeof move, "move %llx 8", static_cast<unsigned long long>(a));
  const std::uint64_t a2 = mapped(target, move);
  ASSERT_NE(a2, 0u);
  ASSERT_NE(a2, a);
  char unmap[64];
  std::snprintf(unmap, sizeof unmap, "unmap %llx 4", static_cast<unsigned long long>(b));
  target.command(unmap);
  const std::uint64_t c = mapped(target, "map 2 85");  // 0x55
  ASSERT_NE(c, 0u);
  target.command("dontneed 20 3");
  ASSERT_TRUE(target.wait_blocked());
  ASSERT_TRUE(target.stop());

  for (int round = 2; round <= 3; ++round) {
    if (round == 3) {
      target.resume();
      target.command("fill 0 1 17");
      ASSERT_TRUE(target.wait_blocked());
      ASSERT_TRUE(target.stop());
    }
    const std::string name = "core." + std::to_string(round);
    auto next = dumper->dump(dir / name);
    ASSERT_TRUE(next) << next.error().message();
    EXPECT_TRUE(next->incremental);
    // Only what changed is read from the target: written pages, the moved and the new
    // mapping. The VMA the region and heap merged into changed extent (its neighbours
    // came and went): its file bytes are moved within the core, not read again.
    EXPECT_LT(next->copied_bytes, first->copied_bytes / 4) << "only what changed is copied";
    auto full = CoreDumper::attach(target.pid(), DumpOptions{.precopy = false});
    ASSERT_TRUE(full) << full.error().message();
    auto whole = full->dump(dir / ("full." + std::to_string(round)));
    ASSERT_TRUE(whole) << whole.error().message();
    SCOPED_TRACE(name);
    expect_same_segments(dir / name, dir / ("full." + std::to_string(round)));
    CoreReader core(dir / name);
    EXPECT_EQ(core.read(target.region + 10 * kPage, 1), "\xaa");
    EXPECT_EQ(core.read(a2 + 7 * kPage, 1), "\x77");
    EXPECT_EQ(core.read(c, 1), "\x55");
    EXPECT_EQ(core.read(target.region + 21 * kPage, kPage), std::string(kPage, '\0'));
    if (round == 3) EXPECT_EQ(core.read(target.region, 1), "\x11");
  }
  target.resume();
}

// A dump that fails after a pass has harvested (and re-armed) written pages leaves the
// previous core without them: the next dump must start over, not clone it. Without that,
// the pages written before the failed dump would keep their old bytes in the next core.
TEST_F(CoreDumpPrecopy, AfterAFailedDumpTheNextIsWhole) {
  DumpTarget target(256, 3600000);
  ASSERT_EQ(target.error(), "");
  ASSERT_TRUE(target.wait_blocked());
  TempDir dir;
  DumpOptions options;
  options.incremental = true;
  auto dumper = CoreDumper::attach(target.pid(), options);
  ASSERT_TRUE(dumper) << dumper.error().message();
  ASSERT_TRUE(dumper->dump(dir / "core.1"));

  target.command("fill 10 5 170");  // 0xaa, harvested by the failing dump
  ASSERT_TRUE(target.wait_blocked());
  dump::test_hooks::fail_after_first_pass = true;
  auto failed = dumper->dump(dir / "core.2");
  dump::test_hooks::fail_after_first_pass = false;
  ASSERT_FALSE(failed);

  target.command("fill 30 2 187");  // 0xbb
  ASSERT_TRUE(target.wait_blocked());
  ASSERT_TRUE(target.stop());
  auto next = dumper->dump(dir / "core.3");
  ASSERT_TRUE(next) << next.error().message();
  EXPECT_FALSE(next->incremental) << "made from a core that lacks the failed dump's harvest";
  auto full = CoreDumper::attach(target.pid(), DumpOptions{.precopy = false});
  ASSERT_TRUE(full) << full.error().message();
  ASSERT_TRUE(full->dump(dir / "full.core"));
  expect_same_segments(dir / "core.3", dir / "full.core");
  CoreReader core(dir / "core.3");
  EXPECT_EQ(core.read(target.region + 10 * kPage, 1), "\xaa");
  EXPECT_EQ(core.read(target.region + 30 * kPage, 1), "\xbb");
  target.resume();
}

// An XFS file system with reflink, on a loop device over a sparse image in `dir`,
// unmounted at the end. Needs mkfs.xfs, loop devices and CAP_SYS_ADMIN.
class ReflinkFileSystem {
 public:
  explicit ReflinkFileSystem(const TempDir& dir) : image_(dir / "xfs.img"), path_(dir / "xfs") {
    ::mkdir(path_.c_str(), 0755);
    const std::string made =
        run_capture("truncate -s 320M " + image_ + " && mkfs.xfs -q -m reflink=1 " + image_ +
                    " && mount -o loop " + image_ + " " + path_ + " && echo ok");
    mounted_ = made.find("ok") != std::string::npos;
    if (!mounted_) why_ = made;
  }
  ~ReflinkFileSystem() {
    if (mounted_) (void)run_capture("umount " + path_);
  }
  bool mounted() const { return mounted_; }
  const std::string& why() const { return why_; }
  const std::string& path() const { return path_; }

 private:
  std::string image_, path_, why_;
  bool mounted_ = false;
};

TEST_F(CoreDumpPrecopy, OnAFileSystemWithReflinkTheNextCoreIsAClone) {
  TempDir dir;
  ReflinkFileSystem xfs(dir);
  if (!xfs.mounted())
    GTEST_SKIP() << "cannot make an XFS with reflink on a loop device: " << xfs.why();
  DumpTarget target(256, 3600000);
  ASSERT_EQ(target.error(), "");
  ASSERT_TRUE(target.wait_blocked());
  DumpOptions options;
  options.incremental = true;
  auto dumper = CoreDumper::attach(target.pid(), options);
  ASSERT_TRUE(dumper) << dumper.error().message();
  auto first = dumper->dump(xfs.path() + "/core.1");
  ASSERT_TRUE(first) << first.error().message();
  EXPECT_FALSE(first->reflinked);
  target.command("fill 3 2 204");  // 0xcc
  ASSERT_TRUE(target.wait_blocked());
  ASSERT_TRUE(target.stop());
  auto second = dumper->dump(xfs.path() + "/core.2");
  ASSERT_TRUE(second) << second.error().message();
  EXPECT_TRUE(second->incremental);
  EXPECT_TRUE(second->reflinked) << "FICLONE on XFS with reflink";
  auto full = CoreDumper::attach(target.pid(), DumpOptions{.precopy = false});
  ASSERT_TRUE(full) << full.error().message();
  ASSERT_TRUE(full->dump(dir / "full.core"));
  expect_same_segments(xfs.path() + "/core.2", dir / "full.core");
  CoreReader core(xfs.path() + "/core.2");
  EXPECT_EQ(core.read(target.region + 4 * kPage, 1), "\xcc");
  target.resume();
}

}  // namespace
}  // namespace pagescan::test
