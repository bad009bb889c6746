// The interface every write-tracking engine implements, and shared range helpers.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "pagescan/watch.hpp"

namespace pagescan {

// One engine instance watches one region. The WriteWatch front end has already checked
// that every range passed in lies inside the region and is page-aligned.
struct WriteWatch::Engine {
  virtual ~Engine() = default;
  virtual WatchEngine kind() const = 0;

  std::uint64_t start = 0;  // the watched region
  std::uint64_t end = 0;
  std::uint64_t page_size = 4096;
  std::uint64_t granularity = 4096;

  // Written pages of [start, end), at most max_pages (0: all), ascending; with reset,
  // re-arm exactly what is returned.
  virtual Result<Harvest> collect(std::uint64_t start, std::uint64_t end, std::uint64_t max_pages,
                                  bool reset) = 0;
  virtual Result<void> reset(std::uint64_t start, std::uint64_t end) = 0;
  // Marks the ranges written again.
  virtual Result<void> fold_back(const Harvest& harvest) = 0;
  virtual Result<void> prepare_for_kernel_write(std::uint64_t, std::uint64_t) { return {}; }
  // Whether [start, end) is still the memory armed at create: fails (invalid_argument)
  // when the engine can tell that part of it was unmapped and mapped afresh since (the
  // new pages are not armed, so writes to them would go unreported). Engines that keep
  // no per-page state in the memory itself cannot tell and succeed. The caller has
  // checked the region is wholly mapped, and nobody writes to it during the call.
  virtual Result<void> check_intact() const { return {}; }
};

namespace watch {

// "watch of [0x...-0x...)" for messages.
std::string describe(std::uint64_t start, std::uint64_t end);

// Refuses a length that runs past the end of the user address space (or wraps): "<what>
// of N bytes at 0x...: the range runs past the end of the user address space (highest
// end 0x...)". `what` is "watch" or "snapshot".
Result<void> past_address_space(const char* what, std::uint64_t addr, std::uint64_t len,
                                std::uint64_t page);

// Whether this kernel has what the engine needs, from probes without side effects in the
// caller except where stated: unsupported with the reason when not (the same error the
// factory below returns). The mprotect and everything engines need nothing probed.
Result<void> uffd_engine_supported();
// Runs the soft-dirty functional test on first call, which FORKS the caller once
// (feature_probes.hpp): call it only when the soft-dirty engine was asked for.
Result<void> soft_dirty_engine_supported();

// Engines (one file each). Each returns unsupported with the reason when it cannot run.
Result<std::unique_ptr<WriteWatch::Engine>> make_uffd_engine(std::uint64_t start, std::uint64_t end,
                                                             const WatchOptions& options);
Result<std::unique_ptr<WriteWatch::Engine>> make_soft_dirty_engine(std::uint64_t start,
                                                                   std::uint64_t end,
                                                                   const WatchOptions& options);
Result<std::unique_ptr<WriteWatch::Engine>> make_mprotect_engine(std::uint64_t start,
                                                                 std::uint64_t end,
                                                                 const WatchOptions& options);
Result<std::unique_ptr<WriteWatch::Engine>> make_everything_engine(std::uint64_t start,
                                                                   std::uint64_t end,
                                                                   const WatchOptions& options);

// The harvest of an engine that knows nothing: every page of [lo, hi), cut at max_pages.
Harvest whole_range(std::uint64_t lo, std::uint64_t hi, std::uint64_t max_pages,
                    std::uint64_t page_size);

// Rounds reported ranges out to `granularity` and clips them to [lo, hi), merging.
void widen_to_granularity(Harvest& harvest, std::uint64_t granularity, std::uint64_t lo,
                          std::uint64_t hi, std::uint64_t page_size);

}  // namespace watch
}  // namespace pagescan
