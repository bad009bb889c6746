// Fuzzes the emulator's output assembly (OutputBuilder) against a page-by-page reference:
// random page streams, buffer sizes, page budgets and return masks must give the same
// regions and the same stop address (kernel-pagemap-scan.md §2.4, §3.3-§3.5).
//
// The reference states the kernel's rules one page at a time: a page extends the last
// region when it starts at its end with equal masked categories; a page that would start
// a region in a full chunk, or arrive after the budget is spent, stops the walk at its
// own address.
#include <algorithm>
#include <cstdlib>
#include <vector>

#include "emulate/output_builder.hpp"

namespace {

constexpr std::uint64_t kPage = 4096;

struct Reader {
  const std::uint8_t* data;
  std::size_t size;
  std::size_t at = 0;
  std::uint64_t next(std::uint64_t bound) {
    std::uint64_t v = 0;
    for (int i = 0; i < 2 && at < size; ++i) v = (v << 8) | data[at++];
    return bound ? v % bound : v;
  }
  bool done() const { return at >= size; }
};

struct Run {
  std::uint64_t start, pages, categories;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Reader in{data, size};
  const std::uint64_t vec_len = 1 + in.next(600);
  const std::uint64_t max_pages = in.next(3) == 0 ? 0 : 1 + in.next(2000);
  const std::uint64_t return_mask = in.next(0x200);
  std::vector<Run> runs;
  std::uint64_t addr = 0x10000000;
  while (!in.done() && runs.size() < 4000) {
    addr += in.next(3) * kPage;  // a gap, or none
    Run r{addr, 1 + in.next(700), in.next(0x200)};
    runs.push_back(r);
    addr += r.pages * kPage;
  }

  // The builder, fed run by run as the emulated walk feeds it.
  std::vector<pagescan::PageRegion> out(vec_len);
  pagescan::emulate::OutputBuilder builder(out.data(), vec_len, max_pages, return_mask, kPage,
                                           kPage / 8);
  for (const Run& r : runs) {
    std::uint64_t end = r.start + r.pages * kPage;
    if (builder.output(r.categories, r.start, &end) != 0) break;
  }
  std::size_t count = builder.flush();

  // The reference, page by page.
  std::vector<pagescan::PageRegion> want;
  const std::uint64_t chunk = std::min<std::uint64_t>(vec_len, kPage / 8);
  const std::uint64_t budget = max_pages ? max_pages : ~0ull;
  std::uint64_t found = 0, stop = 0;
  for (const Run& r : runs) {
    for (std::uint64_t i = 0; i < r.pages && !stop; ++i) {
      std::uint64_t p = r.start + i * kPage, c = r.categories & return_mask;
      bool extends = !want.empty() && want.back().end == p && want.back().categories.bits() == c;
      if (found == budget || (!extends && want.size() == chunk)) {
        stop = p;
        break;
      }
      if (extends) {
        want.back().end += kPage;
      } else {
        want.push_back({p, p + kPage, pagescan::Categories::from_bits(c)});
      }
      ++found;
    }
    if (stop) break;
  }
  // The kernel records a stop when a cut lands exactly at a run's end too; the reference
  // sees that as the next page's stop, which is the same address.
  if (count != want.size()) std::abort();
  for (std::size_t i = 0; i < count; ++i) {
    if (!(out[i] == want[i])) std::abort();
  }
  if (stop && builder.walk_end() != stop) std::abort();
  if (!stop && builder.walk_end() != 0) std::abort();
  return 0;
}
