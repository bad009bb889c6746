// Rounds of a ProcessWriteWatch over plain_target (remote_rounds.hpp).
#include "support/remote_rounds.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

namespace pagescan::test {

namespace {
const std::uint64_t kPage = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}  // namespace

std::vector<PageRange> pages_of(const TargetProcess& t, std::uint64_t first, std::uint64_t count) {
  if (count == 0) return {};
  return {PageRange{t.region() + first * kPage, t.region() + (first + count) * kPage}};
}

std::vector<PageRange> round(TargetProcess& target, ProcessWriteWatch& watch,
                             const std::string& command) {
  EXPECT_TRUE(target.send(command));
  EXPECT_EQ(target.read_line(), "done") << command;
  auto harvest = watch.collect();
  EXPECT_TRUE(harvest) << (harvest ? "" : harvest.error().message());
  return harvest ? harvest->ranges : std::vector<PageRange>{};
}

std::uint64_t mapped_address(TargetProcess& target, const std::string& command) {
  EXPECT_TRUE(target.send(command));
  std::string line = target.read_line();
  EXPECT_EQ(line.rfind("mapped 0x", 0), 0u) << line;
  EXPECT_EQ(target.read_line(), "done");
  return line.size() > 7 ? std::stoull(line.substr(7), nullptr, 16) : 0;
}

void expect_exact_rounds(TargetProcess& target, ProcessWriteWatch& watch) {
  EXPECT_EQ(round(target, watch, "0 4"), pages_of(target, 0, 4)) << "user writes";
  EXPECT_EQ(round(target, watch, "pread 10 2"), pages_of(target, 10, 2)) << "kernel writes";
  EXPECT_EQ(round(target, watch, "read 20 5"), pages_of(target, 20, 0)) << "reads only";
  EXPECT_EQ(round(target, watch, "0 0"), pages_of(target, 0, 0)) << "nothing";
  EXPECT_EQ(round(target, watch, "threads 4 30 8"), pages_of(target, 30, 8)) << "4 threads";
  // Pages written before are armed again: written again, reported again.
  EXPECT_EQ(round(target, watch, "0 4"), pages_of(target, 0, 4)) << "re-armed";
}

std::uint64_t expect_new_mapping_whole_once_then_exact(TargetProcess& target,
                                                       ProcessWriteWatch& watch) {
  const std::uint64_t second = mapped_address(target, "map 16");
  const PageRange whole{second, second + 16 * kPage};
  auto first = watch.collect();
  EXPECT_TRUE(first) << first.error().message();
  if (!first) return second;
  EXPECT_TRUE(covers(first->ranges, whole)) << "a new mapping is reported whole";
  EXPECT_TRUE(covers(watch.armed(), whole)) << "and armed";
  // Then exactly: two pages written.
  std::vector<PageRange> next = round(target, watch, "w2 3 2");
  EXPECT_TRUE(covers(next, PageRange{second + 3 * kPage, second + 5 * kPage}));
  EXPECT_FALSE(overlaps(next, PageRange{second, second + 3 * kPage}));
  EXPECT_FALSE(overlaps(next, PageRange{second + 5 * kPage, second + 16 * kPage}));
  return second;
}

bool covers(const std::vector<PageRange>& ranges, const PageRange& want) {
  for (const PageRange& r : ranges) {
    if (r.start <= want.start && want.end <= r.end) return true;
  }
  return false;
}

bool overlaps(const std::vector<PageRange>& ranges, const PageRange& span) {
  for (const PageRange& r : ranges) {
    if (r.start < span.end && r.end > span.start) return true;
  }
  return false;
}

}  // namespace pagescan::test
