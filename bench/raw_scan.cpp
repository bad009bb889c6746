// The baseline scan: PAGEMAP_SCAN straight into one preallocated buffer.
#include "raw_scan.hpp"

#include "kernel/pagemap_scan.hpp"

namespace pagescan::bench {

RawScan raw_scan(int pagemap_fd, const ScanRequest& request, std::span<PageRegion> buffer) {
  RawScan result;
  RawScanArgs args = to_raw_args(request);
  args.vec = reinterpret_cast<std::uint64_t>(buffer.data());
  args.vec_len = buffer.size();
  for (;;) {
    long n = kernel::pagemap_scan_ioctl(pagemap_fd, args);
    ++result.calls;
    if (n < 0) {
      result.error = static_cast<int>(-n);
      return result;
    }
    result.regions += static_cast<std::uint64_t>(n);
    if (static_cast<std::uint64_t>(n) < buffer.size() || args.walk_end >= request.end) break;
    args.start = args.walk_end;
  }
  return result;
}

}  // namespace pagescan::bench
