// Ports of the smaller PAGEMAP_SCAN selftests (kernel-pagemap-scan.md §7): pagemap_ioctl.c's
// unmapped_region_tests, userfaultfd_tests and zeropfn_tests, guard-regions.c's
// pagemap_scan for anonymous, shmem and file memory, and vm_util.c's identities between a
// one-page scan and the /proc/self/pagemap bits, run against pagescan.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "kernel/uapi.hpp"
#include "pagescan/scan.hpp"
#include "support/conformance.hpp"
#include "support/kernel_facts.hpp"
#include "support/memory.hpp"
#include "support/system_settings.hpp"

using namespace pagescan;
using namespace pagescan::test;

namespace {

constexpr Categories kGuard = Category::guard;
constexpr Categories kPfnzero = Category::pfnzero;

// True if no page of [start, start + len) is mapped in this process.
bool is_gap(std::uint64_t start, std::uint64_t len) {
  unsigned char v = 0;
  for (std::uint64_t p = start; p < start + len; p += page_size()) {
    if (::mincore(reinterpret_cast<void*>(p), page_size(), &v) == 0 || errno != ENOMEM) {
      return false;
    }
  }
  return true;
}

// A memfd of `pages` pages mapped MAP_SHARED (shmem).
Mapping shmem(std::size_t pages) {
  int fd = ::memfd_create("pagescan-conformance", MFD_CLOEXEC);
  if (fd < 0) {
    ADD_FAILURE() << "memfd_create: " << std::strerror(errno);
    return {};
  }
  std::size_t len = pages * page_size();
  void* p = MAP_FAILED;
  if (::ftruncate(fd, static_cast<off_t>(len)) == 0) {
    p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  }
  ::close(fd);
  if (p == MAP_FAILED) {
    ADD_FAILURE() << "mapping a memfd: " << std::strerror(errno);
    return {};
  }
  return Mapping(p, len);
}

}  // namespace

// --- pagemap_ioctl.c: unmapped_region_tests, userfaultfd_tests, zeropfn_tests. ---

class UnmappedRegion : public PagemapIoctlTest {};

TEST_F(UnmappedRegion, GetStatusOfPages) {
  // The selftest's fixed, presumably unmapped range; gaps are never reported (§3.2).
  constexpr std::uint64_t kStart = 0x10000000;
  constexpr std::uint64_t kLen = 0x40000;
  if (!is_gap(kStart, kLen)) GTEST_SKIP() << "0x10000000 is mapped in this process";
  RawScanArgs a;
  a.start = kStart;
  a.end = kStart + kLen;
  a.vec = 1;  // accepted_like_kernel supplies the buffers
  a.vec_len = kLen / page_size();
  a.category_mask = kNonWrittenBits;
  a.return_mask = kNonWrittenBits;
  RawAnswer got;
  ASSERT_TRUE(accepted_like_kernel(a, &got));
  EXPECT_EQ(got.count, 0u);
  EXPECT_EQ(got.walk_end, kStart + kLen);

  auto r = scan(self_process(), ScanRequest::over(kStart, kStart + kLen)
                                    .all_of(Categories::from_bits(kNonWrittenBits))
                                    .returning(Categories::from_bits(kNonWrittenBits)));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(r->regions.empty());
  EXPECT_EQ(r->walk_end, kStart + kLen);
}

class Userfaultfd : public PagemapIoctlTest {};

TEST_F(Userfaultfd, AllNewPagesMustNotBeWrittenAfterMprotectSplits) {
  // 16 PROT_NONE pages registered and protected, then split into 8 VMAs of mixed
  // protection: every piece keeps its async-WP registration, so WPC raises no EPERM.
  constexpr std::size_t kPages = 16;
  Mapping mem = Mapping::anonymous(kPages, 0, PROT_NONE);
  ASSERT_NE(mem.data(), nullptr);
  ASSERT_NO_FATAL_FAILURE(wp().init(mem.data(), mem.length()));
  const int prots[8] = {PROT_READ | PROT_WRITE, PROT_READ, PROT_READ | PROT_WRITE, PROT_READ,
                        PROT_READ | PROT_WRITE, PROT_NONE, PROT_READ | PROT_WRITE, PROT_READ};
  const std::size_t slice = mem.length() / 8;
  for (std::size_t i = 0; i < 8; ++i) {
    ASSERT_EQ(::mprotect(mem.data() + i * slice, slice, prots[i]), 0) << std::strerror(errno);
  }
  ASSERT_TRUE(wp_addr_range(mem.start() + mem.length() / 16, mem.length() - 2 * slice));
  ASSERT_TRUE(wp_addr_range(mem.start(), mem.length()));

  RawScanArgs a;
  a.flags = kWpc;
  a.start = mem.start();
  a.end = mem.end();
  a.vec = 1;  // accepted_like_kernel supplies the buffers
  a.vec_len = 1;
  a.max_pages = kPages - 2;
  a.category_mask = kWritten;
  a.return_mask = kWritten;
  RawAnswer got;
  ASSERT_TRUE(accepted_like_kernel(a, &got));
  EXPECT_EQ(got.count, 0u);

  auto r = scan(self_process(), ScanRequest::over(mem.start(), mem.end())
                                    .all_of(Category::written)
                                    .returning(Category::written)
                                    .limit_pages(kPages - 2)
                                    .with_write_protect()
                                    .with_check_wp_async());
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(r->regions.empty());
}

class Zeropfn : public PagemapIoctlTest {};

TEST_F(Zeropfn, ReadOnlyAnonPagesArePfnzero) {
  PAGESCAN_REQUIRE_FACT(Fact::zero_page);  // else read faults map private pages
  constexpr std::size_t kPages = 10;
  Mapping mem = Mapping::anonymous(kPages, 0, PROT_READ);
  ASSERT_NE(mem.data(), nullptr);
  for (std::size_t i = 0; i < kPages; ++i) mem.read_page(i);

  std::vector<PageRegion> vec(2, kSentinel);
  RawScanArgs a;
  a.start = mem.start();
  a.end = mem.end();
  a.vec = addr(vec.data());
  a.vec_len = 1;
  a.max_pages = kPages;
  a.category_mask = kPfnzero.bits();
  a.return_mask = kPfnzero.bits();
  auto n = scan_raw(self_process(), a);
  ASSERT_TRUE(n) << n.error().message();
  ASSERT_EQ(*n, 1u);
  EXPECT_EQ(len_pages(vec[0]), kPages);
  EXPECT_EQ(vec[1], kSentinel);

  auto r = scan(self_process(),
                ScanRequest::over(mem.start(), mem.end()).all_of(kPfnzero).returning(kPfnzero));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->regions, std::vector<PageRegion>{region_of(mem, 0, kPages, kPfnzero)});
}

TEST_F(Zeropfn, HugeZeroPageIsPfnzero) {
  PAGESCAN_REQUIRE_FACT(Fact::huge_zero_page);  // needs THP and use_zero_page=1
  Mapping mem = Mapping::aligned(kThpSize, kThpSize);
  ASSERT_NE(mem.data(), nullptr);
  ASSERT_EQ(::madvise(mem.data(), mem.length(), MADV_HUGEPAGE), 0) << std::strerror(errno);
  mem.read_page(0);  // a read fault maps the huge zero page over the whole PMD

  std::vector<PageRegion> vec(2, kSentinel);
  RawScanArgs a;
  a.start = mem.start();
  a.end = mem.end();
  a.vec = addr(vec.data());
  a.vec_len = 1;
  a.category_mask = kPfnzero.bits();
  a.return_mask = kPfnzero.bits();
  auto n = scan_raw(self_process(), a);
  ASSERT_TRUE(n) << n.error().message();
  ASSERT_EQ(*n, 1u) << "needs the June 2025 huge zero page fix (§4.1, PFNZERO)";
  EXPECT_EQ(len_pages(vec[0]), kThpSize / page_size());

  auto r = scan(self_process(),
                ScanRequest::over(mem.start(), mem.end()).all_of(kPfnzero).returning(kPfnzero));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->regions,
            std::vector<PageRegion>{region_of(mem, 0, kThpSize / page_size(), kPfnzero)});
}

// --- guard-regions.c: pagemap_scan, for each backing. ---

namespace {

// Ten pages with no guard: nothing; guards on the even pages: five one-page regions of
// exactly GUARD. walk_end is the end both times.
void check_guard_pagemap_scan(const Mapping& mem) {
  constexpr std::size_t kPages = 10;
  ASSERT_EQ(mem.pages(), kPages);
  std::vector<PageRegion> vec(kPages + 1, kSentinel);
  RawScanArgs a;
  a.start = mem.start();
  a.end = mem.end();
  a.vec = addr(vec.data());
  a.vec_len = kPages;
  a.category_anyof_mask = kGuard.bits();
  a.return_mask = kGuard.bits();
  RawScanArgs before = a;
  auto n = scan_raw(self_process(), before);
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_EQ(*n, 0u);
  EXPECT_EQ(before.walk_end, mem.end());

  for (std::size_t i = 0; i < kPages; i += 2) {
    if (::madvise(mem.page(i), page_size(), uapi::kMadvGuardInstall) != 0) {
      if (i == 0 && errno == EINVAL) {
        GTEST_SKIP() << "MADV_GUARD_INSTALL is refused on this kind of mapping (EINVAL): "
                        "file-backed guard regions need Linux 6.15";
      }
      FAIL() << "MADV_GUARD_INSTALL on page " << i << ": " << std::strerror(errno);
    }
  }

  RawScanArgs after = a;
  n = scan_raw(self_process(), after);
  ASSERT_TRUE(n) << n.error().message();
  ASSERT_EQ(*n, 5u);
  EXPECT_EQ(after.walk_end, mem.end());
  std::vector<PageRegion> expected;
  for (std::size_t i = 0; i < kPages; i += 2) expected.push_back(region_of(mem, i, 1, kGuard));
  EXPECT_EQ(written_part(vec, 5), expected);
  for (std::size_t i = 5; i < vec.size(); ++i) EXPECT_EQ(vec[i], kSentinel) << "vec[" << i << "]";

  auto r = scan(self_process(),
                ScanRequest::over(mem.start(), mem.end()).any_of(kGuard).returning(kGuard));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->regions, expected);
  EXPECT_EQ(r->walk_end, mem.end());
}

// PAGE_IS_GUARD came in Linux 6.16, MADV_GUARD_INSTALL in 6.13.
#define SKIP_WITHOUT_GUARD_CATEGORY()           \
  do {                                          \
    PAGESCAN_REQUIRE_FACT(Fact::scan_guard);    \
    PAGESCAN_REQUIRE_FACT(Fact::guard_regions); \
  } while (0)

}  // namespace

TEST(GuardRegions, PagemapScanAnon) {
  SKIP_WITHOUT_GUARD_CATEGORY();
  Mapping mem = Mapping::anonymous(10);
  check_guard_pagemap_scan(mem);
}

TEST(GuardRegions, PagemapScanShmem) {
  SKIP_WITHOUT_GUARD_CATEGORY();
  Mapping mem = shmem(10);
  ASSERT_NE(mem.data(), nullptr);
  check_guard_pagemap_scan(mem);
}

TEST(GuardRegions, PagemapScanFile) {
  SKIP_WITHOUT_GUARD_CATEGORY();
  Mapping mem = Mapping::file(10, /*shared=*/true);
  ASSERT_NE(mem.data(), nullptr);
  check_guard_pagemap_scan(mem);
}

// --- vm_util.c: a one-page scan agrees with /proc/self/pagemap. ---
//
// vm_util.c reads a page's categories with one PAGEMAP_SCAN over the page, anyof = return
// = every category, and asserts pagemap bit 62 <-> SWAPPED, bits 63|62 <-> PRESENT|SWAPPED
// and bit 55 <-> SOFT_DIRTY (§6.2). We check the identities over every kind of page this
// machine can make.

namespace {

// The categories scan() reports for the page at `p` (none if it is not reported).
Categories scanned_categories(const void* p) {
  const Categories all = accepted_scan_categories();
  auto r = scan(self_process(),
                ScanRequest::over(addr(p), addr(p) + page_size()).any_of(all).returning(all));
  if (!r) {
    ADD_FAILURE() << r.error().message();
    return {};
  }
  EXPECT_LE(r->regions.size(), 1u);
  return r->regions.empty() ? Categories{} : r->regions[0].categories;
}

struct PageKind {
  std::string name;
  const char* page;
};

// Owns one mapping per kind of page, each in its own VMA.
class PageZoo {
 public:
  PageZoo() {
    const Mapping& untouched = add(Mapping::anonymous(1));
    kinds_.push_back({"untouched anonymous page", untouched.data()});

    const Mapping& written = add(Mapping::anonymous(1));
    written.write_page(0);
    kinds_.push_back({"written anonymous page", written.data()});

    const Mapping& zero = add(Mapping::anonymous(1));
    zero.read_page(0);
    kinds_.push_back({"zero page after a read fault", zero.data()});

    const Mapping& dropped = add(Mapping::anonymous(2));
    dropped.write_pages(0, 2);
    ::madvise(dropped.data(), page_size(), MADV_DONTNEED);
    kinds_.push_back({"written, then MADV_DONTNEED (pte_none)", dropped.data()});

    const Mapping& file_read = add(Mapping::file(1, false));
    file_read.read_page(0);
    kinds_.push_back({"private file page, read", file_read.data()});

    const Mapping& file_cow = add(Mapping::file(1, false));
    file_cow.write_page(0);
    kinds_.push_back({"private file page, written (COW)", file_cow.data()});

    const Mapping& file_shared = add(Mapping::file(1, true));
    file_shared.write_page(0);
    kinds_.push_back({"shared file page, written", file_shared.data()});

    const Mapping& memfd = add(shmem(1));
    memfd.write_page(0);
    kinds_.push_back({"shmem page, written", memfd.data()});

    wp_ = AsyncWp::create();
    if (wp_) {
      const Mapping& marker = add(Mapping::anonymous(1));
      wp_->init(marker.data(), marker.length());
      kinds_.push_back({"uffd-wp marker on an unpopulated page", marker.data()});

      const Mapping& protected_page = add(Mapping::anonymous(1));
      protected_page.write_page(0);
      wp_->init(protected_page.data(), protected_page.length());
      kinds_.push_back({"written page, then uffd-wp protected", protected_page.data()});

      const Mapping& rewritten = add(Mapping::anonymous(1));
      wp_->init(rewritten.data(), rewritten.length());
      rewritten.write_page(0);
      kinds_.push_back({"uffd-wp protected page, then written", rewritten.data()});
    }

    if (kernel_has(Fact::guard_regions)) {
      const Mapping& guarded = add(Mapping::anonymous(2));
      ::madvise(guarded.data(), page_size(), uapi::kMadvGuardInstall);
      kinds_.push_back({"guard marker", guarded.data()});
    }

    Mapping thp = Mapping::aligned(kThpSize, kThpSize);
    if (make_thp(thp)) {
      const Mapping& huge = add(std::move(thp));
      kinds_.push_back({"PMD-mapped THP, first page", huge.data()});
      kinds_.push_back({"PMD-mapped THP, middle page", huge.page(100)});
    }

    Mapping huge_zero = Mapping::aligned(kThpSize, kThpSize);
    if (kernel_has(Fact::huge_zero_page) &&
        ::madvise(huge_zero.data(), huge_zero.length(), MADV_HUGEPAGE) == 0) {
      const Mapping& z = add(std::move(huge_zero));
      z.read_page(0);
      kinds_.push_back({"huge zero page after a read fault", z.page(1)});
    }
  }

  const std::vector<PageKind>& kinds() const { return kinds_; }

 private:
  const Mapping& add(Mapping m) {
    mappings_.push_back(std::move(m));
    return mappings_.back();
  }
  std::optional<AsyncWp> wp_;
  std::deque<Mapping> mappings_;  // a deque: references from add() stay valid
  std::vector<PageKind> kinds_;
};

// Checks `pagemap_bits` set <-> `categories` set for every kind of page in `zoo`.
void expect_identity(const std::vector<PageKind>& kinds, std::uint64_t pagemap_bits,
                     Categories categories) {
  for (const PageKind& k : kinds) {
    std::uint64_t entry = pagemap_entry(k.page);
    Categories c = scanned_categories(k.page);
    EXPECT_EQ((entry & pagemap_bits) != 0, c.intersects(categories))
        << k.name << ": pagemap entry 0x" << std::hex << entry << ", scan categories '"
        << to_string(c) << "'";
  }
}

}  // namespace

class PagemapIdentity : public ::testing::Test {
 protected:
  void SetUp() override {
    PAGESCAN_REQUIRE_FACT(Fact::pagemap_scan);
    zoo_.emplace();
  }
  std::optional<PageZoo> zoo_;
};

TEST_F(PagemapIdentity, SwappedMatchesPagemapBit62) {
  expect_identity(zoo_->kinds(), uapi::PM_SWAP, Category::swapped);
}

TEST_F(PagemapIdentity, PopulatedMatchesPagemapBits63And62) {
  expect_identity(zoo_->kinds(), uapi::PM_PRESENT | uapi::PM_SWAP,
                  Category::present | Category::swapped);
}

TEST_F(PagemapIdentity, SoftDirtyMatchesPagemapBit55) {
  PAGESCAN_REQUIRE_FACT(Fact::soft_dirty);
  PAGESCAN_REQUIRE_FACT(Fact::scan_soft_dirty);
  expect_identity(zoo_->kinds(), uapi::PM_SOFT_DIRTY, Category::soft_dirty);
}

TEST_F(PagemapIdentity, SwappedOutPageMatchesBits62And63) {
  PAGESCAN_REQUIRE_FACT(Fact::swap);
  SwapSpace swap(16u << 20);
  ASSERT_TRUE(swap.ok()) << swap.why_not();
  Mapping mem = Mapping::anonymous(1);
  mem.write_page(0, 7);
  std::uint64_t entry = 0;
  // MADV_PAGEOUT reclaims at once when it can; it may give up on a busy page, so retry.
  for (int attempt = 0; attempt < 10 && !(entry & uapi::PM_SWAP); ++attempt) {
    ASSERT_EQ(::madvise(mem.data(), mem.length(), MADV_PAGEOUT), 0) << std::strerror(errno);
    entry = pagemap_entry(mem.data());
  }
  if (!(entry & uapi::PM_SWAP)) GTEST_SKIP() << "MADV_PAGEOUT left the page in memory";
  std::vector<PageKind> kinds{{"swapped-out anonymous page", mem.data()}};
  expect_identity(kinds, uapi::PM_SWAP, Category::swapped);
  expect_identity(kinds, uapi::PM_PRESENT | uapi::PM_SWAP, Category::present | Category::swapped);
  EXPECT_EQ(mem.read_page(0), 7) << "the page did not come back from swap";
}
