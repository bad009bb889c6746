// The differential comparison of the emulated backend with the kernel's PAGEMAP_SCAN:
// the same requests on the same memory through both, compared field by field (count or
// errno, every entry of the output buffer including the untouched sentinels past the
// count, walk_end), complete scan() results for a subset, and write-protect requests on
// two identically built copies of a layout.
//
// Where the emulator cannot know the kernel's answer (kernel-pagemap-scan.md §6.5) the
// irreducible rules of irreducible.hpp predict its answer page by page; the emulator is
// then held to the reference model (scan_model.hpp) over that prediction, the kernel to
// the model over its own answer, and the categories that differ must be flagged
// approximate. Results are collected in a DiffReport rather than asserted, so a forked
// child (the unprivileged run) can send them to its parent.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pagescan/process.hpp"
#include "support/sanitizers.hpp"
#include "support/scenarios.hpp"

namespace pagescan::test {

struct DiffReport {
  std::size_t scenarios = 0;       // scenarios compared
  std::size_t requests = 0;        // raw calls compared, both backends
  std::size_t scans = 0;           // complete scan() pairs compared
  std::size_t write_protects = 0;  // write-protecting calls compared on two copies
  // How the kernel answered the raw requests: regions, nothing, an error.
  std::size_t with_regions = 0, without_regions = 0, errors = 0;
  // Write-protect steps that split a PMD-mapped THP (§5.3) and complete scans that saw a
  // partial hugetlb page withdrawn (§5.4), in copy A (the same in B, or they differ).
  std::size_t thp_splits = 0, hugetlb_withdrawals = 0;
  // Raw kernel calls that returned more regions than one bounce chunk holds: the kernel
  // restarted its walk internally (§3.6) and the emulator had to do the same.
  std::size_t restarts = 0;
  std::vector<std::string> failures;
  std::vector<std::string> differences;  // irreducible differences seen, by rule
  std::vector<std::string> notes;        // skipped scenarios, omitted parts, ...

  void fail(std::string what);
  void merge(const DiffReport& other);
  std::string summary() const;
  // One line per item, for a pipe; parse() inverts it.
  std::string serialize() const;
  static DiffReport parse(std::string_view text);
};

struct DiffConfig {
  std::uint64_t seed = 0x5ca9d1ffull;  // base seed; each scenario derives its own
  // Per scenario, after the 27 single-category ones. Fewer under sanitizers, where each
  // emulated call (one smaps read and parse for a process with the sanitizer's many
  // mappings) costs 10-30 times more, so the suite stays within its time budget in CI.
  std::size_t random_requests = kUnderSanitizer ? 80 : 150;
  std::size_t scan_every = 5;  // compare complete scan() on every n-th request

  // The defaults, with PAGESCAN_DIFF_SEED (a number, 0x... allowed) and
  // PAGESCAN_DIFF_REQUESTS overriding seed and random_requests: a failure printed with
  // its seed replays with PAGESCAN_DIFF_SEED=<seed>, and other seeds explore further.
  static DiffConfig from_environment();
};

// Compares both backends on every request for `s` (built in the calling process),
// through `process` (a Process::self() handle: its pagemap fd decides PFN visibility).
void compare_scan_scenario(const Process& process, const Scenario& s, const DiffConfig& config,
                           DiffReport& report);

// Builds two copies of the write-protect scenario `name`, then for four scripted steps
// (a range ending inside the first huge page, one starting a page into it, a max_pages
// cut, the whole window) and `steps` random ones: writes the same pages of both,
// write-protects copy A with the kernel and copy B with the emulator (scan_raw, or
// scan() for every fourth step), compares the answers relative to each copy's window,
// and compares every page's categories of both copies afterwards (kernel scans).
// Returns false with `skip_reason` when the scenario cannot be built here.
bool compare_write_protect_scenario(const Process& process, const std::string& name,
                                    const DiffConfig& config, std::size_t steps, DiffReport& report,
                                    std::string& skip_reason);

}  // namespace pagescan::test
