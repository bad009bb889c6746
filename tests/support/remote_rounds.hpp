// Rounds of a ProcessWriteWatch over plain_target (target_process.hpp): the target does
// a command, the watch collects, and the tests compare page ranges.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pagescan/process_watch.hpp"
#include "support/target_process.hpp"

namespace pagescan::test {

// Pages [first, first + count) of the target's region, as one range (none for count 0).
std::vector<PageRange> pages_of(const TargetProcess& t, std::uint64_t first, std::uint64_t count);

// One round: the target does `command` (and says "done"), then a collect; its ranges.
std::vector<PageRange> round(TargetProcess& target, ProcessWriteWatch& watch,
                             const std::string& command);

// The target does `command` that prints "mapped 0x7f..." then "done": that address.
std::uint64_t mapped_address(TargetProcess& target, const std::string& command);

// The rounds every engine must report exactly, over a watch of the whole region: user
// writes, kernel writes (pread), reads only, nothing, four threads, pages written again.
void expect_exact_rounds(TargetProcess& target, ProcessWriteWatch& watch);

// A whole-process watch following the target: it maps 16 pages ("map 16"); the next
// collect must report and arm them whole, and after a write of their pages 3 and 4 the
// one after must report those and no other page of them. Returns the mapping's address.
std::uint64_t expect_new_mapping_whole_once_then_exact(TargetProcess& target,
                                                       ProcessWriteWatch& watch);

// Whether one of `ranges` holds all of `want`; whether any shares a page with `span`.
bool covers(const std::vector<PageRange>& ranges, const PageRange& want);
bool overlaps(const std::vector<PageRange>& ranges, const PageRange& span);

}  // namespace pagescan::test
