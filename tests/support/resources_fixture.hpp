// Scaffolding for resource-leak tests: warming up the library's process-lifetime state
// before a baseline is taken, a baseline of what the process holds, and the check that
// a fresh watch over a region works (no registration was left behind on it).
#pragma once

#include <gtest/gtest.h>
#include <signal.h>

#include <cstddef>
#include <cstdint>

#include "pagescan/watch.hpp"
#include "support/memory.hpp"
#include "support/resources_census.hpp"

namespace pagescan::test::leaks {

// Runs every path that opens process-lifetime state once (features(), the engines'
// self-tests, the self Process handles the uffd engine and snapshots keep, the snapshot's
// /proc/self/maps fd for PROCMAP_QUERY, the emulator's zero-page probe), so that a
// baseline taken afterwards only moves when a call leaks.
void warm_up_for_leak_checks();

// The SIGSEGV disposition before the library installed anything (taken by
// warm_up_for_leak_checks() before its first watch).
const struct sigaction& sigsegv_before_any_watch();

// An anonymous read-write mapping of `pages` pages whose neighbouring pages are unmapped,
// so it never merges with another mapping and a range rounded out past it is unmapped.
Mapping isolated_mapping(std::size_t pages);

// What the process holds at construction; each check compares with now.
class Baseline {
 public:
  Baseline();
  testing::AssertionResult same_fds() const { return leaks::same_fds(census_); }
  testing::AssertionResult same_userfaultfds() const;
  // Always true under a sanitizer: its allocator changes the mappings by itself.
  testing::AssertionResult same_mappings() const;
  testing::AssertionResult same_sigsegv() const { return same_disposition(sigsegv_); }
  // All four.
  testing::AssertionResult unchanged() const;

 private:
  Census census_;
  std::vector<std::string> mappings_;
  struct sigaction sigsegv_ = {};
};

// Success when a fresh watch of `engine` over [start, end) reports exactly one written
// page after a write to it and nothing after re-arming: the region carries nothing left
// over from an earlier watch. The watch is destroyed before returning.
testing::AssertionResult fresh_watch_works(WatchEngine engine, std::uint64_t start,
                                           std::uint64_t end);

// Success when no VMA overlapping [start, end) is registered for uffd write-protect.
testing::AssertionResult no_uffd_wp(std::uint64_t start, std::uint64_t end);

}  // namespace pagescan::test::leaks
