// The baseline: PAGEMAP_SCAN called directly with one large preallocated buffer.
#pragma once

#include <cstdint>
#include <span>

#include "pagescan/scan.hpp"

namespace pagescan::bench {

struct RawScan {
  std::uint64_t regions = 0;  // regions returned over all calls
  std::uint64_t calls = 0;    // ioctls issued: 1 when the buffer was big enough
  int error = 0;              // errno of a failed call, else 0
};

// Issues PAGEMAP_SCAN over the request's range into `buffer`, as a caller that owns a
// buffer big enough for the whole answer does. Only if the buffer fills does it call
// again from walk_end (a full buffer is the one case where walk_end is not stale,
// kernel-pagemap-scan.md §2.4), overwriting the buffer from its start; then only the
// last call's regions remain in it.
RawScan raw_scan(int pagemap_fd, const ScanRequest& request, std::span<PageRegion> buffer);

}  // namespace pagescan::bench
