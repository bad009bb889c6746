// RAII guards for system settings tests change: hugetlb reservations and swap. They
// restore the previous state in their destructors, so a failing test leaves none behind.
#pragma once

#include <cstdint>
#include <string>

namespace pagescan::test {

// Makes at least `pages` default-size huge pages free while it lives (raising
// vm.nr_hugepages), and puts vm.nr_hugepages back afterwards.
class HugetlbReservation {
 public:
  explicit HugetlbReservation(std::uint64_t pages);
  ~HugetlbReservation();
  HugetlbReservation(const HugetlbReservation&) = delete;
  // Default-size huge pages a new mapping can take now: HugePages_Free less the pages
  // mappings have reserved but not faulted in (HugePages_Rsvd).
  std::uint64_t free_pages() const;
  bool ok() const { return ok_; }
  const std::string& why_not() const { return why_not_; }

 private:
  std::uint64_t previous_ = 0;
  bool changed_ = false;
  bool ok_ = false;
  std::string why_not_;
};

// Makes swap available while it lives: a temporary swapfile when none is active.
class SwapSpace {
 public:
  explicit SwapSpace(std::uint64_t bytes = 256u << 20);
  ~SwapSpace();
  SwapSpace(const SwapSpace&) = delete;
  bool ok() const { return ok_; }
  const std::string& why_not() const { return why_not_; }

 private:
  std::string path_;
  bool ok_ = false;
  std::string why_not_;
};

}  // namespace pagescan::test
