// Port of sanity_tests() from the kernel selftest pagemap_ioctl.c (kernel-pagemap-scan.md
// §7): mask combinations over write-protected, written and file-backed memory, run against
// pagescan. Complete answers come from scan() and are checked against one bare kernel call
// with a buffer large enough for everything; the buffer behaviour from scan_raw().
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <vector>

#include "pagescan/scan.hpp"
#include "support/conformance.hpp"
#include "support/memory.hpp"

using namespace pagescan;
using namespace pagescan::test;

namespace {

constexpr Categories kW = Category::written;
constexpr Categories kWrittenPresent = Category::written | Category::present;

ScanRequest request(const Mapping& m, std::uint64_t mask, std::uint64_t anyof,
                    std::uint64_t inverted, std::uint64_t return_mask) {
  ScanRequest r = ScanRequest::over(m.start(), m.end());
  r.category_mask = Categories::from_bits(mask);
  r.category_anyof_mask = Categories::from_bits(anyof);
  r.category_inverted = Categories::from_bits(inverted);
  r.return_mask = Categories::from_bits(return_mask);
  return r;
}

// The request as one bare kernel call writing into all of `vec`.
RawScanArgs raw(const ScanRequest& r, std::vector<PageRegion>& vec) {
  RawScanArgs a = to_raw_args(r);
  a.vec = addr(vec.data());
  a.vec_len = vec.size();
  return a;
}

}  // namespace

class SanityTests : public PagemapIoctlTest {
 protected:
  static constexpr std::size_t kPages = 10;

  // mmap + wp_init + wp_addr_range of 10 anonymous pages, as each part of the selftest.
  void SetUp() override {
    PagemapIoctlTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    mem_ = Mapping::anonymous(kPages);
    ASSERT_NO_FATAL_FAILURE(track(mem_));
  }

  // scan() of `r` must equal one kernel call with an ample buffer. The selftest only asks
  // for success here; the kernel's own answer is the reference. No WP may change memory
  // between the two (every use here protects nothing: no page is written).
  std::vector<PageRegion> scan_like_kernel(const ScanRequest& r) {
    std::vector<PageRegion> kernel_vec(kPages);
    RawScanArgs a = raw(r, kernel_vec);
    auto ours = scan(self_process(), r);
    long k = kernel_scan(a);
    EXPECT_GE(k, 0) << "the kernel rejected the request";
    if (!ours) {
      ADD_FAILURE() << ours.error().message();
      return {};
    }
    if (k >= 0) {
      EXPECT_EQ(ours->regions, written_part(kernel_vec, static_cast<std::size_t>(k)));
      EXPECT_EQ(ours->walk_end, a.walk_end);
    }
    return ours->regions;
  }

  // The selftest's assertion for its checks 2-4: vec[0] is all 10 pages, written and present.
  void expect_all_pages_written_present(const PageRegion& r) {
    EXPECT_EQ(r.start, mem_.start());
    EXPECT_EQ(len_pages(r), kPages);
    EXPECT_TRUE(r.categories.contains(kWrittenPresent)) << to_string(r.categories);
  }

  Mapping mem_;
};

// --- 1. Mask combinations on write-protected, never written pages: all accepted. ---
// After the write-protect every page carries the same state (a uffd-wp marker under
// WP_UNPOPULATED, §4.1), so whatever matches is one region of all ten pages.

TEST_F(SanityTests, WpOpCanBeSpecifiedWithAllRequired) {
  auto r = scan_like_kernel(
      request(mem_, kBitsAll, 0, 0, kBitsAll).with_write_protect().with_check_wp_async());
  EXPECT_TRUE(r.empty()) << "no page can have all seven categories";
}

TEST_F(SanityTests, RequiredMaskSpecified) {
  auto r = scan_like_kernel(request(mem_, kBitsAll, 0, 0, kBitsAll));
  EXPECT_TRUE(r.empty()) << "no page can have all seven categories";
}

TEST_F(SanityTests, AnyofMaskSpecified) {
  auto r = scan_like_kernel(request(mem_, 0, kBitsAll, 0, kBitsAll));
  ASSERT_EQ(r.size(), 1u) << "every page of a uffd-wp VMA is at least WPALLOWED";
  EXPECT_EQ(r[0].start, mem_.start());
  EXPECT_EQ(len_pages(r[0]), kPages);
}

TEST_F(SanityTests, ExcludedMaskSpecified) {
  auto r = scan_like_kernel(request(mem_, 0, 0, kBitsAll, kBitsAll));
  ASSERT_EQ(r.size(), 1u) << "category_inverted alone selects nothing (§3.1)";
  EXPECT_EQ(len_pages(r[0]), kPages);
}

TEST_F(SanityTests, RequiredAndAnyofMaskSpecified) {
  auto r = scan_like_kernel(request(mem_, kBitsAll, kBitsAll, 0, kBitsAll));
  EXPECT_TRUE(r.empty());
}

// --- 2.-6. All ten pages written. ---

TEST_F(SanityTests, GetWrittenAndPresentPagesWithAnyofMask) {
  mem_.write_pages(0, kPages, 0);
  auto r = scan_like_kernel(request(mem_, 0, kBitsAll, 0, kBitsAll));
  ASSERT_EQ(r.size(), 1u);
  expect_all_pages_written_present(r[0]);
}

TEST_F(SanityTests, GetAllPagesWithRequiredMaskLeavesVecUntouched) {
  // The selftest's check passes only because the call returns 0 and vec[0] still holds
  // the previous call's region (§3.4): a scan must never write past its count.
  mem_.write_pages(0, kPages, 0);
  std::vector<PageRegion> vec(kPages, kSentinel);
  RawScanArgs fill = raw(request(mem_, 0, kBitsAll, 0, kBitsAll), vec);
  auto n = scan_raw(self_process(), fill);
  ASSERT_TRUE(n) << n.error().message();
  ASSERT_EQ(*n, 1u);
  const PageRegion before = vec[0];

  RawScanArgs a = raw(request(mem_, kBitsAll, 0, 0, kBitsAll), vec);
  auto m = scan_raw(self_process(), a);
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(*m, 0u) << "written anonymous pages are not FILE, SWAPPED, PFNZERO or HUGE";
  EXPECT_EQ(vec[0], before);
  expect_all_pages_written_present(vec[0]);
  for (std::size_t i = 1; i < vec.size(); ++i) EXPECT_EQ(vec[i], kSentinel) << "vec[" << i << "]";

  // The bare kernel call leaves a prefilled buffer alone too.
  std::vector<PageRegion> kernel_vec(kPages, kSentinel);
  RawScanArgs k = raw(request(mem_, kBitsAll, 0, 0, kBitsAll), kernel_vec);
  EXPECT_EQ(kernel_scan(k), 0);
  for (const PageRegion& r : kernel_vec) EXPECT_EQ(r, kSentinel);

  auto full = scan(self_process(), request(mem_, kBitsAll, 0, 0, kBitsAll));
  ASSERT_TRUE(full) << full.error().message();
  EXPECT_TRUE(full->regions.empty());
}

TEST_F(SanityTests, GetWrittenAndPresentPagesWithRequiredAndAnyofMask) {
  mem_.write_pages(0, kPages, 0);
  auto r = scan_like_kernel(request(mem_, kWritten, kPresent, 0, kBitsAll));
  ASSERT_EQ(r.size(), 1u);
  expect_all_pages_written_present(r[0]);
}

TEST_F(SanityTests, DontGetWrittenPages) {
  mem_.write_pages(0, kPages, 0);
  auto r = scan_like_kernel(request(mem_, kWritten, 0, kWritten, kBitsAll));
  EXPECT_TRUE(r.empty());
}

TEST_F(SanityTests, DontGetPresentPages) {
  mem_.write_pages(0, kPages, 0);
  auto r = scan_like_kernel(request(mem_, kPresent, 0, kPresent, kBitsAll));
  EXPECT_TRUE(r.empty());
}

// --- 8. WP with a narrow return mask. ---

TEST_F(SanityTests, FindWrittenPresentPagesWithReturnMask) {
  mem_.write_pages(0, kPages, 0);
  auto r = scan(self_process(),
                request(mem_, 0, kBitsAll, 0, kWritten).with_write_protect().with_check_wp_async());
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->regions, std::vector<PageRegion>{region_of(mem_, 0, kPages, kW)});

  // The pages it reported as written are protected again.
  auto after = scan(self_process(), request(mem_, kWritten, 0, 0, kWritten));
  ASSERT_TRUE(after) << after.error().message();
  EXPECT_TRUE(after->regions.empty());
}

// --- 9. A read-only private mapping of a file that exists (the selftest maps its source). ---

TEST_F(SanityTests, MemoryMappedFile) {
  int fd = ::open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  struct stat st {};
  ASSERT_EQ(::fstat(fd, &st), 0);
  const std::size_t size = static_cast<std::size_t>(st.st_size);
  void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  ASSERT_NE(p, MAP_FAILED);
  Mapping file(p, size);
  // Read every page, as the selftest's memcpy of the whole file does.
  for (std::size_t off = 0; off < size; off += page_size()) {
    (void)*static_cast<volatile char*>(file.data() + off);
  }

  ScanRequest r = ScanRequest::over(file.start(), file.start() + size)
                      .any_of(Categories::from_bits(kNonWrittenBits))
                      .returning(Categories::from_bits(kNonWrittenBits));
  auto got = scan(self_process(), r);
  ASSERT_TRUE(got) << got.error().message();
  ASSERT_FALSE(got->regions.empty());
  EXPECT_EQ(got->regions[0].start, file.start());
  EXPECT_EQ(len_pages(got->regions[0]), (size + page_size() - 1) / page_size());
  EXPECT_TRUE(got->regions[0].categories.contains(Category::file))
      << to_string(got->regions[0].categories);
}

// --- 10. A private file mapping, write-protected, written and synced. ---

TEST_F(SanityTests, ReadWriteToMemoryMappedFile) {
  Mapping file = Mapping::file(kPages, /*shared=*/false);
  ASSERT_NO_FATAL_FAILURE(track(file));
  for (std::size_t i = 0; i < file.length(); ++i) file.data()[i] = 'z';
  ASSERT_EQ(::msync(file.data(), file.length(), MS_SYNC), 0);

  ScanRequest r = ScanRequest::over(file.start(), file.end())
                      .all_of(kW)
                      .any_of(Category::present | Category::swapped | Category::file)
                      .returning(Categories::from_bits(kBitsAll));
  auto got = scan(self_process(), r);
  ASSERT_TRUE(got) << got.error().message();
  ASSERT_FALSE(got->regions.empty());
  EXPECT_EQ(got->regions[0].start, file.start());
  EXPECT_EQ(len_pages(got->regions[0]), kPages);
  EXPECT_TRUE(got->regions[0].categories.contains(kW)) << to_string(got->regions[0].categories);
}
