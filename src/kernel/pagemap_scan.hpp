// The PAGEMAP_SCAN ioctl itself, and the errors it raises described with context.
#pragma once

#include <cstdint>
#include <string>

#include "pagescan/process.hpp"
#include "pagescan/result.hpp"
#include "pagescan/scan.hpp"

namespace pagescan::kernel {

// One ioctl; returns the region count, or -errno. Writes walk_end back into args.
long pagemap_scan_ioctl(int pagemap_fd, RawScanArgs& args);

// "scan of pid 1234 [0x7f00...-0x7f10...)" for messages.
std::string describe_scan(const Process& process, std::uint64_t start, std::uint64_t end);

// An Error for a failed ioctl, with the errno's meaning for PAGEMAP_SCAN spelled out
// (EPERM: a VMA is not async write-protected; ENOTTY: no ioctl before 6.7; ...).
Error scan_failure(int err, const Process& process, const RawScanArgs& args);

}  // namespace pagescan::kernel
