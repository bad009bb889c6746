// The system-setting guards of tests/support against the kernel's own accounting: a
// HugetlbReservation's pages must be there for a new mapping to take.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <optional>

#include "pagescan/features.hpp"
#include "support/io.hpp"
#include "support/kernel_facts.hpp"
#include "support/memory.hpp"
#include "support/system_settings.hpp"

namespace pagescan::test {
namespace {

// HugePages_Free still counts pages a mapping reserved at mmap() but has not faulted in
// (HugePages_Rsvd): they are not free for anyone else, so the guard must raise the pool.
TEST(HugetlbReservation, PagesReservedByAnUnfaultedMappingAreNotFree) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to raise vm.nr_hugepages";
  if (kernel_hugetlb_page_size() != kThpSize) {
    GTEST_SKIP() << "the default huge page size is not 2 MiB";
  }
  PAGESCAN_REQUIRE_FACT(Fact::hugetlb);
  HugetlbReservation pool(1);
  ASSERT_TRUE(pool.ok()) << pool.why_not();
  // A private hugetlb mapping reserves its pages at mmap(): take every free one, untouched.
  const std::uint64_t free = pool.free_pages();
  ASSERT_GE(free, 1u);
  std::optional<Mapping> holder = Mapping::hugetlb(free * kThpSize);
  ASSERT_TRUE(holder) << "cannot map the " << free << " free huge pages";
  ASSERT_GE(meminfo_value("HugePages_Free").value_or(0), free) << "the holder faulted pages in";
  EXPECT_EQ(pool.free_pages(), 0u);

  HugetlbReservation more(1);
  ASSERT_TRUE(more.ok()) << more.why_not();
  EXPECT_GE(more.free_pages(), 1u);
  std::optional<Mapping> fresh = Mapping::hugetlb(kThpSize);
  ASSERT_TRUE(fresh) << "the reservation said a huge page was free, yet mmap found none";
  fresh->write_page(0);  // faults the page in: no SIGBUS
}

}  // namespace
}  // namespace pagescan::test
