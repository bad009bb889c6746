// Request validation: every check of pagemap_scan_get_args(), in the kernel's order and
// with its errno (kernel-pagemap-scan.md §2.1). The kernel is the oracle: each request is
// also issued as a bare ioctl and must get the same errno.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>

#include "kernel/pagemap_scan.hpp"
#include "pagescan/features.hpp"
#include "pagescan/scan.hpp"
#include "support/kernel_facts.hpp"
#include "support/memory.hpp"
#include "support/scan_helpers.hpp"

using namespace pagescan;
using namespace pagescan::test;

namespace {

struct Case {
  const char* name;
  RawScanArgs args;
  int expected_errno;        // 0: accepted
  const char* message_part;  // must appear in our message
};

// The kernel's answer for a request: 0 or its errno. The vec, if any, points at real
// memory large enough, so accepted requests are harmless.
int kernel_errno(RawScanArgs args) {
  int fd = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  long n = kernel::pagemap_scan_ioctl(fd, args);
  ::close(fd);
  return n < 0 ? static_cast<int>(-n) : 0;
}

std::vector<Case> cases(std::uint64_t buf, std::uint64_t limit) {
  const std::uint64_t page = page_size();
  auto base = [&] {
    RawScanArgs a;
    a.start = a.end = 0x10000;
    return a;
  };
  std::vector<Case> out;
  auto add = [&](const char* name, auto edit, int err, const char* part) {
    RawScanArgs a = base();
    edit(a);
    out.push_back(Case{name, a, err, part});
  };
  add(
      "size zero", [](RawScanArgs& a) { a.size = 0; }, EINVAL, "size is 0");
  add(
      "size 95", [](RawScanArgs& a) { a.size = 95; }, EINVAL, "expected 96");
  add(
      "size 97", [](RawScanArgs& a) { a.size = 97; }, EINVAL, "size is 97");
  add(
      "flags 0x4", [](RawScanArgs& a) { a.flags = 4; }, EINVAL, "flags 0x4");
  add(
      "flags all ones", [](RawScanArgs& a) { a.flags = ~0ull; }, EINVAL, "unknown bits");
  add(
      "inverted bit 9", [](RawScanArgs& a) { a.category_inverted = 1u << 9; }, EINVAL,
      "category_inverted 0x200");
  add(
      "mask 0xfff", [](RawScanArgs& a) { a.category_mask = 0xfff; }, EINVAL, "category_mask");
  add(
      "anyof bit 63", [](RawScanArgs& a) { a.category_anyof_mask = 1ull << 63; }, EINVAL,
      "category_anyof_mask");
  add(
      "return 0x1000", [](RawScanArgs& a) { a.return_mask = 0x1000; }, EINVAL,
      "return_mask 0x1000");
  add(
      "start unaligned", [](RawScanArgs& a) { a.start = 0x10001, a.end = 0x20000; }, EINVAL,
      "not page-aligned");
  add(
      "end before start", [](RawScanArgs& a) { a.start = 0x20000, a.end = 0x10000; }, EFAULT,
      "before start");
  add(
      "end one past the limit", [&](RawScanArgs& a) { a.start = 0, a.end = limit + 1; }, EFAULT,
      "beyond the user address space");
  add(
      "end a page past the limit", [&](RawScanArgs& a) { a.start = 0, a.end = limit + page; },
      EFAULT, "beyond");
  add(
      "start and end past the limit", [&](RawScanArgs& a) { a.start = a.end = limit + page; },
      EFAULT, "beyond");
  add(
      "vec NULL with vec_len", [](RawScanArgs& a) { a.vec_len = 3; }, EINVAL, "vec is NULL");
  add(
      "vec_len overflowing", [&](RawScanArgs& a) { a.vec = buf, a.vec_len = ~0ull / 8; }, EFAULT,
      "does not fit");
  add(
      "vec beyond the limit", [&](RawScanArgs& a) { a.vec = limit - 8, a.vec_len = 1; }, EFAULT,
      "does not fit");
  // First failure wins: the order is visible where errnos differ.
  add(
      "unaligned start beats end before start",
      [](RawScanArgs& a) { a.start = 0x20001, a.end = 0x10000; }, EINVAL, "page-aligned");
  add(
      "end before start beats vec NULL",
      [](RawScanArgs& a) { a.start = 0x20000, a.end = 0x10000, a.vec_len = 1; }, EFAULT,
      "before start");
  add(
      "bad mask beats unaligned start",
      [](RawScanArgs& a) { a.return_mask = 1u << 10, a.start = 0x10001; }, EINVAL, "return_mask");
  add(
      "size beats flags", [](RawScanArgs& a) { a.size = 1, a.flags = 8; }, EINVAL, "size is 1");
  // Accepted corner cases (§2.1 "other requests are accepted").
  add(
      "end at the limit", [&](RawScanArgs& a) { a.start = a.end = limit; }, 0, "");
  add(
      "vec with vec_len 0", [&](RawScanArgs& a) { a.vec = buf; }, 0, "");
  add(
      "in-range unmapped vec with vec_len 1", [](RawScanArgs& a) { a.vec = 0x10, a.vec_len = 1; },
      0, "");
  add(
      "empty masks, unaligned end", [](RawScanArgs& a) { a.end = 0x10001; }, 0, "");
  add(
      "max_pages without vec", [](RawScanArgs& a) { a.max_pages = 5; }, 0, "");
  add(
      "every known category in every mask",
      [&](RawScanArgs& a) {
        std::uint64_t all = accepted_scan_categories().bits();
        a.category_inverted = a.category_mask = a.category_anyof_mask = a.return_mask = all;
      },
      0, "");
  return out;
}

}  // namespace

TEST(Validation, EveryCaseGetsTheKernelsErrnoAndANamedReason) {
  PAGESCAN_REQUIRE_FACT(Fact::pagemap_scan);
  static PageRegion buffer[64];
  const std::uint64_t buf = reinterpret_cast<std::uint64_t>(buffer);
  for (const Case& c : cases(buf, kernel_user_address_limit())) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(kernel_errno(c.args), c.expected_errno) << "the kernel changed: update §2.1";
    auto ours = validate(c.args, features().limits());
    if (c.expected_errno == 0) {
      EXPECT_TRUE(ours) << ours.error().message();
      continue;
    }
    ASSERT_FALSE(ours);
    EXPECT_EQ(ours.error().errno_value(), c.expected_errno);
    EXPECT_EQ(ours.error().kind(), ErrorKind::invalid_argument);
    EXPECT_NE(ours.error().message().find(c.message_part), std::string::npos)
        << ours.error().message();
  }
}

// scan_raw validates first and never issues a request the kernel would reject, and its
// errors say what was being scanned.
TEST(Validation, ScanRawRejectsBeforeTheKernelAndLeavesWalkEndAlone) {
  PAGESCAN_REQUIRE_FACT(Fact::pagemap_scan);
  RawScanArgs a;
  a.start = 0x10001;
  a.end = 0x20000;
  a.walk_end = 0xdead000;
  auto r = scan_raw(self_process(), a);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().errno_value(), EINVAL);
  EXPECT_EQ(a.walk_end, 0xdead000u) << "walk_end is written back only after validation";
  const std::string& msg = r.error().message();
  EXPECT_NE(msg.find("scan of self (pid " + std::to_string(::getpid()) + ") [0x10001-0x20000)"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("start 0x10001 is not page-aligned"), std::string::npos) << msg;
}

TEST(Validation, CompleteScanReportsTheRequestFieldThatIsWrong) {
  PAGESCAN_REQUIRE_FACT(Fact::pagemap_scan);
  auto r = scan(self_process(), ScanRequest::over(0x20000, 0x10000));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().errno_value(), EFAULT);
  EXPECT_NE(r.error().message().find("end 0x10000 is before start 0x20000"), std::string::npos);

  ScanRequest unknown = ScanRequest::over(0x10000, 0x20000);
  unknown.return_mask = Categories::from_bits(1u << 12);
  auto u = scan(self_process(), unknown);
  ASSERT_FALSE(u);
  EXPECT_EQ(u.error().errno_value(), EINVAL);
  EXPECT_NE(u.error().message().find("return_mask 0x1000"), std::string::npos)
      << u.error().message();
}

// The probed user-space limit is exactly the kernel's: the limit is accepted as an end,
// one byte more is not.
TEST(Validation, ProbedUserAddressLimitIsExact) {
  PAGESCAN_REQUIRE_FACT(Fact::pagemap_scan);
  const std::uint64_t limit = kernel_user_address_limit();
  RawScanArgs ok;
  ok.start = 0;
  ok.end = limit;
  ok.vec = 0;
  // Walk nothing: a range of length 0 at the limit.
  ok.start = limit;
  EXPECT_EQ(kernel_errno(ok), 0);
  RawScanArgs over = ok;
  over.start = 0;
  over.end = limit + 1;
  EXPECT_EQ(kernel_errno(over), EFAULT);
#if defined(__x86_64__)
  // 4-level paging: TASK_SIZE_MAX; 5-level: 2^56 - 4096.
  EXPECT_TRUE(limit == 0x7ffffffff000ull || limit == (1ull << 56) - 4096) << std::hex << limit;
#endif
}

// On kernels that may oops, write-protect without an output buffer is refused (§5.3).
TEST(Validation, WriteProtectWithoutBufferFollowsTheKernelFix) {
  PAGESCAN_REQUIRE_FACT(Fact::pagemap_scan);
  Mapping m = Mapping::anonymous(2);
  RawScanArgs a;
  a.flags = RawScanArgs::kWpMatching;
  a.start = m.start();
  a.end = m.end();
  auto r = scan_raw(self_process(), a);
  if (features().wp_without_buffer_safe) {
    EXPECT_TRUE(r) << r.error().message();
  } else {
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind(), ErrorKind::unsupported);
  }
}
