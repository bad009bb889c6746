// proc::sorted_disjoint(): what every read_vmas* caller (memory map, watch engines,
// snapshots) gets from a maps file read in several read(2) calls on a changing target.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "proc/maps.hpp"

namespace pagescan::proc {
namespace {

std::vector<Vma> listing(const std::string& text) {
  auto parsed = parse_maps(text);
  EXPECT_TRUE(parsed) << parsed.error().message();
  return parsed ? *parsed : std::vector<Vma>{};
}

TEST(SortedDisjoint, AVmaThatGrewDownIsClippedToThePreviousEnd) {
  // The second read saw the stack VMA after it grew below the first entry's end.
  auto out =
      sorted_disjoint(listing("7f0000000000-7f0000004000 rw-p 00000000 00:00 0 \n"
                              "7f0000002000-7f0000008000 rw-p 00000000 00:00 0 [stack]\n"));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].end, 0x7f0000004000u);
  EXPECT_EQ(out[1].start, 0x7f0000004000u);
  EXPECT_EQ(out[1].end, 0x7f0000008000u);
  EXPECT_EQ(out[1].path, "[stack]");
}

TEST(SortedDisjoint, AVmaWhollyBelowThePreviousEndIsDropped) {
  // Moved below the reading position between two reads: listed before, or not at all.
  auto out =
      sorted_disjoint(listing("7f0000004000-7f0000008000 rw-p 00000000 00:00 0 \n"
                              "7f0000001000-7f0000002000 r--p 00000000 00:00 0 \n"
                              "7f0000004000-7f0000006000 rw-p 00000000 00:00 0 \n"
                              "7f0000009000-7f000000a000 rw-p 00000000 00:00 0 \n"));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].start, 0x7f0000004000u);
  EXPECT_EQ(out[1].start, 0x7f0000009000u);
}

TEST(SortedDisjoint, AClippedFileVmaKeepsTheOffsetOfItsNewStart) {
  auto out = sorted_disjoint(
      listing("7f0000000000-7f0000003000 rw-p 00000000 00:00 0 \n"
              "7f0000002000-7f0000006000 r--p 00010000 08:01 1234 /usr/lib/libx.so\n"));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].start, 0x7f0000003000u);
  EXPECT_EQ(out[1].offset, 0x11000u) << "the file offset must follow the clipped start";
}

TEST(SortedDisjoint, AQuietListingIsUnchanged) {
  auto self = read_vmas(0, false);
  ASSERT_TRUE(self) << self.error().message();
  ASSERT_FALSE(self->empty());
  for (std::size_t i = 1; i < self->size(); ++i) {
    EXPECT_LE((*self)[i - 1].end, (*self)[i].start) << "entry " << i;
  }
  const std::size_t n = self->size();
  EXPECT_EQ(sorted_disjoint(std::move(*self)).size(), n);
}

}  // namespace
}  // namespace pagescan::proc
