// The complete scan: every region, merged as one unbounded kernel call would, whatever
// the buffer size, with walk_end and the stop reason right.
#include <gtest/gtest.h>

#include "pagescan/features.hpp"
#include "pagescan/scan.hpp"
#include "support/memory.hpp"

using namespace pagescan;
using namespace pagescan::test;

namespace {

const Process& self() {
  static Process p = std::move(*Process::self());
  return p;
}

void skip_without_scan() {
  if (!features().pagemap_scan) GTEST_SKIP() << "kernel lacks PAGEMAP_SCAN";
}

}  // namespace

TEST(CompleteScan, AlternatingPagesGiveOneRegionEach) {
  skip_without_scan();
  Mapping m = Mapping::anonymous(2000);
  for (std::size_t i = 0; i < m.pages(); i += 2) m.write_page(i);
  for (std::size_t chunk : {0, 1, 2, 7, 512, 4096}) {
    auto r = scan(self(),
                  ScanRequest::over(m.start(), m.end())
                      .all_of(Category::present)
                      .returning(Category::present),
                  ScanOptions{chunk});
    ASSERT_TRUE(r) << r.error().message();
    ASSERT_EQ(r->regions.size(), 1000u) << "chunk " << chunk;
    for (std::size_t i = 0; i < 1000; ++i) {
      EXPECT_EQ(r->regions[i].start, m.page_addr(2 * i));
      EXPECT_EQ(r->regions[i].end, m.page_addr(2 * i + 1));
    }
    EXPECT_EQ(r->walk_end, m.end());
    EXPECT_EQ(r->stop_reason, StopReason::complete);
    EXPECT_EQ(r->pages, 1000u);
  }
}
