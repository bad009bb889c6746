// Requests for the differential tests: every category alone (all-of, any-of, inverted)
// and seeded random mixes of masks, max_pages, vec_len and ranges around a scenario's
// parts and huge pages. Seeds are fixed, and every request prints itself, so a failure
// replays.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "pagescan/categories.hpp"
#include "pagescan/scan.hpp"
#include "support/scenarios.hpp"

namespace pagescan::test {

// One request: the raw arguments (vec left 0; vec_len set) and whether vec is passed as
// a real pointer even when vec_len is 0.
struct PlannedRequest {
  RawScanArgs args;
  bool vec_pointer = true;
  std::string origin;  // "category written all-of", "random", ...
};

// "#12 (random) [W+0x4000, W+0x9000) flags=0x2 mask=written anyof= inv= ret=all
// max_pages=3 vec_len=1": addresses relative to `base` (the window start).
std::string describe(const PlannedRequest& r, std::uint64_t base, std::size_t index);

// A stable 64-bit hash of a name, to derive per-scenario seeds from one base seed.
std::uint64_t seed_for(const std::string& name, std::uint64_t base_seed);

class RequestGenerator {
 public:
  // `present`: the categories some page of the scenario has; random masks require them
  // more often than the others, so most requests match something.
  RequestGenerator(const Scenario& s, Categories supported, Categories present, std::uint64_t seed);

  // The 27 single-category requests over the whole window: each category as all-of,
  // any-of and inverted all-of, returning every supported category.
  std::vector<PlannedRequest> single_categories() const;
  // Seeded random non-write-protecting requests (flags 0 or CHECK_WPASYNC).
  PlannedRequest random_scan();
  // Seeded random write-protecting requests (WP_MATCHING, sometimes CHECK_WPASYNC);
  // vec_len 0 only when `allow_no_buffer`.
  PlannedRequest random_write_protect(bool allow_no_buffer);

  std::mt19937_64& rng() { return rng_; }

 private:
  std::uint64_t pick(std::uint64_t n) { return n ? rng_() % n : 0; }
  bool chance(unsigned percent) { return pick(100) < percent; }
  // Each supported category with `percent_each` % chance.
  std::uint64_t random_subset(unsigned percent_each);
  // Present categories with `percent_present` %, the others with `percent_absent` %.
  std::uint64_t random_mask(unsigned percent_present, unsigned percent_absent);
  std::uint64_t random_max_pages();
  std::uint64_t random_vec_len(bool allow_zero);
  void random_range(RawScanArgs& a);

  std::uint64_t page_;
  std::uint64_t window_start_, window_end_, slot_start_, slot_end_;
  std::vector<std::uint64_t> anchors_;                         // part edges
  std::vector<std::pair<std::uint64_t, std::uint64_t>> huge_;  // huge pages
  std::vector<std::uint64_t> part_pages_;                      // part sizes in pages
  std::uint64_t supported_;
  std::uint64_t present_;
  std::mt19937_64 rng_;
};

}  // namespace pagescan::test
