// Feature probing: each probed answer checked against an independent observation.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "kernel/pagemap_scan.hpp"
#include "kernel/uapi.hpp"
#include "pagescan/features.hpp"
#include "support/memory.hpp"

using namespace pagescan;
using namespace pagescan::test;

TEST(Features, ProbedOnceAndCached) {
  EXPECT_EQ(&features(), &features());
}

// Each category the probe accepts is accepted by a real scan over memory; each one it
// rejects is rejected with EINVAL (§1.6).
TEST(Features, CategoryBitsMatchWhatARealScanAccepts) {
  const Features& f = features();
  if (!f.pagemap_scan) {
    EXPECT_NE(f.pagemap_scan_errno, 0);
    GTEST_SKIP() << "kernel lacks PAGEMAP_SCAN (errno " << f.pagemap_scan_errno << ")";
  }
  Mapping m = Mapping::anonymous(4);
  m.write_pages(0, 4);
  int fd = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  for (int bit = 0; bit < 12; ++bit) {
    PageRegion out[4];
    RawScanArgs a;
    a.start = m.start();
    a.end = m.end();
    a.vec = reinterpret_cast<std::uint64_t>(out);
    a.vec_len = 4;
    a.category_anyof_mask = 1ull << bit;
    long n = kernel::pagemap_scan_ioctl(fd, a);
    bool accepted = f.scan_categories.contains(Categories::from_bits(1ull << bit));
    EXPECT_EQ(n >= 0, accepted) << "bit " << bit;
    if (!accepted) EXPECT_EQ(n, -EINVAL) << "bit " << bit;
  }
  ::close(fd);
  // 6.7 accepts 0x7f, 6.8 adds soft-dirty, 6.16 guard: always a prefix of the bits.
  std::uint64_t bits = f.scan_categories.bits();
  EXPECT_EQ(bits & (bits + 1), 0u) << std::hex << bits;
  EXPECT_GE(bits, 0x7fu);
}

TEST(Features, SoftDirtyAgreesWithBit55OnAFreshlyWrittenPage) {
  Mapping m = Mapping::anonymous(1);
  m.write_page(0);
  bool bit55 = pagemap_entry(m.data()) & uapi::PM_SOFT_DIRTY;
  // A new VMA carries VM_SOFTDIRTY, so with soft-dirty built in bit 55 is set here.
  EXPECT_EQ(features().soft_dirty, bit55) << features().soft_dirty_detail;
  EXPECT_FALSE(features().soft_dirty_detail.empty());
}

TEST(Features, PfnVisibilityAgreesWithPagemap) {
  Mapping m = Mapping::anonymous(1);
  m.write_page(0);
  bool pfn = (pagemap_entry(m.data()) & uapi::PM_PFN_MASK) != 0;
  EXPECT_EQ(features().pfns_visible, pfn);
}

TEST(Features, ThpModeIsTheBracketedWord) {
  std::ifstream in("/sys/kernel/mm/transparent_hugepage/enabled");
  if (!in) GTEST_SKIP() << "kernel without transparent huge pages";
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("[" + features().thp_mode + "]"), std::string::npos) << text;
  EXPECT_EQ(features().thp_pmd_size, kThpSize);
}

TEST(Features, AsyncWriteProtectProbeMatchesAUserfaultfd) {
  auto wp = AsyncWp::create();
  EXPECT_EQ(features().uffd_wp_async && features().uffd_wp_unpopulated &&
                features().uffd_wp_hugetlbfs_shmem,
            wp.has_value())
      << features().userfaultfd_detail;
  if (!features().userfaultfd) EXPECT_FALSE(features().userfaultfd_detail.empty());
}

TEST(Features, GuardRegionsProbeMatchesMadvise) {
  Mapping m = Mapping::anonymous(1);
  bool works = ::madvise(m.data(), page_size(), uapi::kMadvGuardInstall) == 0;
  EXPECT_EQ(features().guard_regions, works);
}

TEST(Features, ChunkIsPmdOverPageSize) {
  EXPECT_EQ(features().page_size, page_size());
  EXPECT_EQ(features().chunk_regions(), page_size() / 8);
}
