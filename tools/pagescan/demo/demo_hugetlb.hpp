// One free hugetlb page for the demo: vm.nr_hugepages is raised from 0 to 1 when (and
// only when) it is 0, and put back on every way out: restore(), the destructor, or a
// fatal signal (SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE) while it is raised.
#pragma once

#include <cstdint>
#include <string>

namespace pagescan::cli {

class HugetlbLease {
 public:
  // Looks for a free default-size huge page of `page_size` bytes (0: the kernel has no
  // hugetlb) and, when there is none because vm.nr_hugepages is 0, raises it to 1.
  explicit HugetlbLease(std::uint64_t page_size);
  ~HugetlbLease();
  HugetlbLease(const HugetlbLease&) = delete;
  HugetlbLease& operator=(const HugetlbLease&) = delete;

  bool available() const { return available_; }
  const std::string& why_not() const { return why_not_; }
  // True when this lease raised vm.nr_hugepages (and has not yet put it back).
  bool raised() const { return raised_; }

  // Puts vm.nr_hugepages back to 0 if this lease raised it and it still reads 1 (another
  // program's later change is left alone). A page already mapped stays mapped: the
  // kernel makes it surplus and frees it when it is unmapped. Idempotent.
  void restore();

 private:
  bool available_ = false;
  bool raised_ = false;
  std::string why_not_;
};

}  // namespace pagescan::cli
