// Scaffolding for region snapshot tests: seeded page contents and write patterns, a
// reference of what the region held at capture (independent of the snapshot's own image),
// the engines to run, and pagemap bits.
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "pagescan/snapshot.hpp"
#include "pagescan/watch.hpp"

namespace pagescan::test {

// Every write-tracking engine, for parameterized tests (the unavailable ones skip).
inline constexpr WatchEngine kAllEngines[] = {WatchEngine::uffd, WatchEngine::soft_dirty,
                                              WatchEngine::mprotect, WatchEngine::everything};

// What the test believes a region holds: the content of every non-zero page; every other
// page reads as zero. Built by the test's own writes, so comparing with it checks the
// snapshot's image as well as restore.
class RegionReference {
 public:
  RegionReference(char* base, std::size_t pages) : base_(base), pages_(pages) {}

  // Fills `count` distinct pages chosen at random (every page when count >= pages) with a
  // mix of: random bytes over the whole page, a few non-zero bytes, an explicit memset to
  // zero (a populated zero page), a read (the shared zero page). The rest stay untouched.
  void populate(std::mt19937_64& rng, std::size_t count);
  // Puts random non-zero content in page i and records it.
  void fill_page(std::size_t i, std::mt19937_64& rng);
  // Records that page i now reads as zero.
  void forget_page(std::size_t i) { nonzero_.erase(i); }

  // The first page whose content differs from the reference, reading every page (which
  // maps the zero page into untouched ones).
  std::optional<std::size_t> first_mismatch() const;

  std::size_t nonzero_pages() const { return nonzero_.size(); }
  bool is_nonzero(std::size_t i) const { return nonzero_.count(i) != 0; }

 private:
  char* base_;
  std::size_t pages_;
  std::map<std::size_t, std::vector<char>> nonzero_;
};

// Writes to `count` distinct random pages of [base, base + pages * page) (all of them when
// count >= pages) and returns their indexes, ascending. Each write is one of: zeros over
// the whole page, random bytes over the whole page, one random byte at a random offset
// (possibly zero: a write all the same). Writes do not go through any reference.
std::vector<std::size_t> scribble(char* base, std::size_t pages, std::mt19937_64& rng,
                                  std::size_t count);

// "examined 3 copied 2 zeroed 1 dropped 0" for messages.
std::string describe(const RestoreStats& stats);

// pagemap bits of one page of this process (pagemap.rst): present (63), swapped (62).
bool page_present(const void* addr);
bool page_swapped(const void* addr);

// RegionSnapshot::prepare_for_kernel_write when the snapshot API offers it; otherwise
// unsupported, saying so. The mprotect engine needs it before read(2) into the region.
template <class Snapshot>
Result<void> prepare_for_kernel_write(Snapshot& s, void* base, std::size_t len) {
  if constexpr (requires { s.prepare_for_kernel_write(base, len); }) {
    return s.prepare_for_kernel_write(base, len);
  } else {
    return Error(EOPNOTSUPP, ErrorKind::unsupported,
                 "RegionSnapshot has no prepare_for_kernel_write(): a kernel write into a "
                 "region tracked by the mprotect engine fails with EFAULT");
  }
}

}  // namespace pagescan::test
