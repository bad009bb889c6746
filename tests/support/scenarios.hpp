// Real memory layouts for the emulated-vs-kernel differential tests: each scenario maps
// labelled parts (anonymous, THP, huge zero page, hugetlb, file, memfd, SysV shm,
// swapped-out, guard, mixed protections, uffd-registered, [vvar]) at known addresses.
//
// Every scenario is built inside its own 1 GiB slot far below the kernel's mmap area
// (from 32 TiB up, clear of ASan's shadow and allocator), so nothing else the process
// maps can land in a gap of the window while both backends scan it: requests may cover
// the gaps and the slot around the window safely.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "support/memory.hpp"

namespace pagescan::test {

// A labelled address range of a scenario ("thp", "hugetlb-private", "gap", ...).
struct ScenarioPart {
  std::string label;
  std::uint64_t start = 0;
  std::uint64_t end = 0;
};

// One built layout. Destruction releases everything: the uffd registration, SysV
// attachments, mappings, and the process holding COW-shared pages.
class Scenario {
 public:
  explicit Scenario(std::string name) : name_(std::move(name)) {}
  Scenario(const Scenario&) = delete;
  Scenario& operator=(const Scenario&) = delete;
  ~Scenario();

  const std::string& name() const { return name_; }
  // Empty when the scenario was built; otherwise why this machine cannot build it.
  const std::string& skip_reason() const { return skip_reason_; }
  bool built() const { return skip_reason_.empty(); }

  // The window requests cover; nothing outside the scenario maps into it.
  std::uint64_t window_start() const { return window_start_; }
  std::uint64_t window_end() const { return window_end_; }
  // The slot around the window (also unmapped outside the window), or the window itself
  // for scenarios on memory the process does not own ([vvar]).
  std::uint64_t slot_start() const { return slot_start_; }
  std::uint64_t slot_end() const { return slot_end_; }
  const std::vector<ScenarioPart>& parts() const { return parts_; }
  // THP blocks and hugetlb pages: request edges are put inside them.
  const std::vector<ScenarioPart>& huge_pages() const { return huge_pages_; }
  // Parts that could not be built here and were left out (kitchen sink), with reasons.
  const std::vector<std::string>& omitted() const { return omitted_; }
  // The uffd the scenario registered its WP parts with, if any.
  AsyncWp* uffd() { return uffd_ ? &*uffd_ : nullptr; }

  // "name: part [+0x1000, +0x9000) ..." with offsets from the window start.
  std::string describe() const;

  // For the builders (scenarios.cpp).
  void skip(std::string reason);
  void omit(std::string what) { omitted_.push_back(std::move(what)); }
  void add_part(std::string label, std::uint64_t start, std::uint64_t end);
  void add_huge_page(std::string label, std::uint64_t start, std::uint64_t end);
  void adopt(Mapping m) { mappings_.push_back(std::move(m)); }
  void adopt_shm(void* addr) { shm_.push_back(addr); }
  void set_window(std::uint64_t start, std::uint64_t end) {
    window_start_ = start;
    window_end_ = end;
  }
  void set_slot(std::uint64_t start, std::uint64_t end) {
    slot_start_ = start;
    slot_end_ = end;
  }
  std::optional<AsyncWp>& uffd_slot() { return uffd_; }
  // A forked process keeping pages COW-shared; it exits when `lifeline` is closed.
  void set_cow_holder(pid_t pid, int lifeline) {
    cow_holder_ = pid;
    cow_lifeline_ = lifeline;
  }

 private:
  std::string name_;
  std::string skip_reason_;
  std::uint64_t window_start_ = 0, window_end_ = 0;
  std::uint64_t slot_start_ = 0, slot_end_ = 0;
  std::vector<ScenarioPart> parts_;
  std::vector<ScenarioPart> huge_pages_;
  std::vector<std::string> omitted_;
  std::optional<AsyncWp> uffd_;  // declared before mappings_: unregistered after them
  std::vector<Mapping> mappings_;
  std::vector<void*> shm_;
  pid_t cow_holder_ = -1;
  int cow_lifeline_ = -1;
};

// The scenarios compared without write-protect, by name:
//   anon, anon-alternating, thp, huge-zero-page, hugetlb-private, hugetlb-shared, file-private,
//   file-shared, memfd-shared, memfd-private, sysv-shm, swapped, guard,
//   mixed-protection, uffd-registered, vvar, kitchen-sink, thp-split,
//   thp-split-mixed-wp, emptied-pte-table, emptied-vma, cow-shared.
// Swapped-out parts need swap (SwapSpace) and hugetlb parts free huge pages
// (HugetlbReservation): the caller provides them, the builder only uses them.
std::vector<std::string> scan_scenario_names();
std::unique_ptr<Scenario> build_scenario(const std::string& name);

// uffd-registered layouts for write-protect comparisons: wp-anon, wp-thp, wp-hugetlb,
// wp-memfd. Each call builds a fresh copy in a fresh slot with the same layout relative
// to window_start(), so two copies can be protected by the two backends and compared.
std::vector<std::string> write_protect_scenario_names();
std::unique_ptr<Scenario> build_write_protect_scenario(const std::string& name);

// Huge pages (2 MiB) a scenario of that name needs, for HugetlbReservation.
std::uint64_t hugetlb_pages_needed(const std::string& name);

}  // namespace pagescan::test
