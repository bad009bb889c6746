// Running one request through a backend (scan_raw or scan) or through the reference
// model, in a form two answers can be compared in: the count or -errno, walk_end and the
// whole output buffer, prefilled with a sentinel so that entries past the count can be
// checked untouched (kernel-pagemap-scan.md §3.4). Messages show addresses relative to a
// base ("W+0x4000"), the window start of the scenario.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pagescan/process.hpp"
#include "pagescan/scan.hpp"
#include "support/scan_model.hpp"
#include "support/scan_requests.hpp"

namespace pagescan::test::diff {

// What every output entry holds before a call, and walk_end before a call.
extern const PageRegion kSentinel;
inline constexpr std::uint64_t kWalkEndSentinel = 0x77a1ce2d0000ull;

std::string hex(std::uint64_t v);
std::string rel(std::uint64_t addr, std::uint64_t base);  // "W+0x1000"
std::string region_text(const PageRegion& r, std::uint64_t base);

// One raw call's answer, with what the backend said about it.
struct Outcome : ScanOutcome {
  Categories approximate;
  std::string trouble;  // a contract breach seen while running it
};

// scan_raw() with `backend` on a fresh sentinel-filled buffer of vec_len entries.
Outcome run_raw(const Process& process, const PlannedRequest& r, BackendChoice backend);
// The reference model's answer to the same call (features().chunk_regions() per chunk).
ScanOutcome run_model(const PageTruth& truth, const std::vector<ModelVma>& vmas,
                      const PlannedRequest& r);
// Empty when equal; otherwise what differs, with both answers.
std::string compare_outcomes(const char* a_name, const ScanOutcome& a, const char* b_name,
                             const ScanOutcome& b, std::uint64_t base);
// Empty, or which entry past the returned count was written.
std::string check_untouched(const char* who, const ScanOutcome& o);
// The answer with region addresses and walk_end shifted by -base (sentinels kept).
ScanOutcome relative(const ScanOutcome& o, std::uint64_t base);

std::uint64_t used_categories(const RawScanArgs& a);  // masks and return mask

// Every page's categories in [start, end) by one backend: a complete scan with empty
// masks returning every supported category. `approximate` receives what it flagged.
std::optional<PageTruth> truth_of(const Process& process, std::uint64_t start, std::uint64_t end,
                                  BackendChoice backend, Categories* approximate,
                                  std::string& error);
// The VMAs of the calling process overlapping [start, end), WP-allowed as `truth` says.
std::vector<ModelVma> model_vmas(const PageTruth& truth, std::uint64_t start, std::uint64_t end);
// The pages where `want` and `got` differ, as runs with the kernel's categories and the
// pagemap entry (read through `pagemap_fd`, -1 for none), for messages.
std::string truth_diff(const PageTruth& want, const char* want_name, const PageTruth& got,
                       const char* got_name, const PageTruth& kernel, std::uint64_t start,
                       std::uint64_t end, std::uint64_t base, int pagemap_fd);

// A complete scan() answer in comparable form: the error's errno, or the result.
struct Complete {
  int error = 0;
  std::vector<PageRegion> regions;
  std::uint64_t walk_end = 0;
  StopReason stop = StopReason::complete;
  std::uint64_t pages = 0;
  std::uint64_t withdrawn = 0;
  Categories approximate;
};

// scan() of the request `a` with `backend` and `chunk` regions per call, addresses
// shifted by -base. `trouble` receives a contract breach (wrong backend, counts).
Complete run_scan(const Process& process, const RawScanArgs& a, BackendChoice backend,
                  std::size_t chunk, std::uint64_t base, std::string& trouble);
// What one unbounded call answers according to the model, as scan() reports it.
Complete model_complete(const PageTruth& truth, const std::vector<ModelVma>& vmas,
                        const RawScanArgs& args);
std::string compare_complete(const char* a_name, const Complete& a, const char* b_name,
                             const Complete& b, std::uint64_t base);

}  // namespace pagescan::test::diff
