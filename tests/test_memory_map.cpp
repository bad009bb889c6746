// The memory map: every VMA of a process with its backing classified.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/shm.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cstring>

#include "pagescan/memory_map.hpp"
#include "support/kernel_facts.hpp"
#include "support/memory.hpp"
#include "support/scan_helpers.hpp"

using namespace pagescan;
using namespace pagescan::test;

namespace {

const MappedRegion* find(const std::vector<MappedRegion>& map, const void* addr) {
  auto a = reinterpret_cast<std::uint64_t>(addr);
  for (const MappedRegion& r : map) {
    if (a >= r.start && a < r.end) return &r;
  }
  return nullptr;
}

// Files on tmpfs are shared memory (mountinfo says so); /tmp is tmpfs on some systems.
Backing backing_of_tmp_files() {
  struct statfs fs {};
  return ::statfs("/tmp", &fs) == 0 && fs.f_type == TMPFS_MAGIC ? Backing::shared_memory
                                                                : Backing::file;
}

}  // namespace

TEST(MemoryMap, ClassifiesEveryKindOfBacking) {
  Mapping anon = Mapping::anonymous(4);
  Mapping file = Mapping::file(4, false);
  void* shared =
      ::mmap(nullptr, 4 * page_size(), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(shared, MAP_FAILED);
  Mapping shared_map(shared, 4 * page_size());
  int id = ::shmget(IPC_PRIVATE, 4 * page_size(), IPC_CREAT | 0600);
  ASSERT_GE(id, 0);
  void* sysv = ::shmat(id, nullptr, 0);
  ::shmctl(id, IPC_RMID, nullptr);
  int stack_var = 0;

  auto map = read_memory_map(self_process());
  ASSERT_TRUE(map) << map.error().message();
  ASSERT_FALSE(map->empty());
  for (std::size_t i = 1; i < map->size(); ++i) EXPECT_LE((*map)[i - 1].end, (*map)[i].start);

  EXPECT_EQ(find(*map, anon.data())->backing, Backing::anonymous);
  EXPECT_EQ(find(*map, file.data())->backing, backing_of_tmp_files());
  EXPECT_EQ(find(*map, shared)->backing, Backing::shared_memory);
  EXPECT_EQ(find(*map, sysv)->backing, Backing::shared_memory);
  EXPECT_EQ(find(*map, &stack_var)->backing, Backing::stack);
  bool vvar_seen = false;
  for (const MappedRegion& r : *map) {
    if (r.path == "[vvar]") {
      vvar_seen = true;
      EXPECT_EQ(r.backing, Backing::special);
      EXPECT_TRUE(r.pfnmap) << "[vvar] is VM_PFNMAP";
    }
  }
  EXPECT_TRUE(vvar_seen);
  ::shmdt(sysv);
}

TEST(MemoryMap, MarksUffdRegisteredAndHugetlbVmas) {
  PAGESCAN_REQUIRE_FACT(Fact::uffd_wp_async);
  auto wp = AsyncWp::create();
  ASSERT_TRUE(wp) << "no async uffd-wp although " << kernel_fact(Fact::uffd_wp_async).finding;
  Mapping m = Mapping::anonymous(8);
  wp->init(m.data(), m.length());
  auto map = read_memory_map(self_process());
  ASSERT_TRUE(map);
  EXPECT_TRUE(find(*map, m.data())->uffd_wp);
  wp->free(m.data(), m.length());
  auto after = read_memory_map(self_process());
  ASSERT_TRUE(after);
  EXPECT_FALSE(find(*after, m.data())->uffd_wp);
}

TEST(SmapsFigures, AVmaOfFiveWrittenPagesShowsThemResidentAnonymousAndPrivate) {
  // PROT_NONE pages on both sides keep the VMA from merging with a neighbour.
  Mapping m = Mapping::anonymous(10, 0, PROT_NONE);
  ASSERT_EQ(::mprotect(m.page(1), 8 * page_size(), PROT_READ | PROT_WRITE), 0);
  for (std::size_t i = 1; i <= 5; ++i) std::memset(m.page(i), 1, page_size());
  auto map = read_memory_map(self_process());
  ASSERT_TRUE(map) << map.error().message();
  const MappedRegion* r = find(*map, m.page(1));
  ASSERT_NE(r, nullptr);
  ASSERT_EQ(r->length(), 8 * page_size());
  const std::uint64_t five = 5 * page_size();
  for (SmapsField f :
       {SmapsField::rss, SmapsField::pss, SmapsField::anonymous, SmapsField::private_dirty}) {
    EXPECT_TRUE(r->smaps.has(f)) << smaps_name(f);
    EXPECT_EQ(r->smaps[f], five) << smaps_name(f);
  }
  EXPECT_EQ(r->smaps[SmapsField::swap], 0u);
  EXPECT_FALSE(r->smaps.has(SmapsField::pss_anon)) << "Pss_Anon is a rollup-only line";
}

// A file on tmpfs is shmem whatever its path (/tmp and /run are tmpfs on many systems):
// the backing comes from the target's mountinfo, not from the name.
TEST(MemoryMap, AFileOnTmpfsIsSharedMemoryWhateverItsPath) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to mount a tmpfs";
  char dir[] = "/tmp/pagescan-tmpfs-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr) << std::strerror(errno);
  if (::mount("tmpfs", dir, "tmpfs", 0, "size=1m") != 0) {
    ::rmdir(dir);
    GTEST_SKIP() << "mount tmpfs: " << std::strerror(errno);
  }
  // Unmounted and removed however the test ends.
  struct Unmount {
    const char* dir;
    ~Unmount() {
      ::umount2(dir, MNT_DETACH);
      ::rmdir(dir);
    }
  } unmount{dir};
  const std::string name = std::string(dir) + "/data";
  int fd = ::open(name.c_str(), O_RDWR | O_CREAT, 0600);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(4 * page_size())), 0);
  void* p = ::mmap(nullptr, 4 * page_size(), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  ASSERT_NE(p, MAP_FAILED);
  Mapping tmpfs(p, 4 * page_size());
  Mapping other = Mapping::file(4, true);  // a file in /tmp: tmpfs or not, by its device

  auto map = read_memory_map(self_process());
  ASSERT_TRUE(map) << map.error().message();
  const MappedRegion* r = find(*map, p);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->path, name);
  EXPECT_EQ(r->backing, Backing::shared_memory);
  EXPECT_EQ(find(*map, other.data())->backing, backing_of_tmp_files());
}
