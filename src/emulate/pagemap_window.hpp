// Batched reads of /proc/PID/pagemap for the emulated backend: whole PMD blocks per pread.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <vector>

namespace pagescan::emulate {

// A window of pagemap entries starting at a PMD block, read with one pread (or a few,
// on short reads). Entries are reached by pointer, so the walk classifies whole blocks
// and runs without a call per page. The storage is the caller's, reused across calls.
class PagemapWindow {
 public:
  // 16 blocks (64 KiB of entries) per read, as the pread loop it is measured against:
  // a call that stops early (a full output chunk) wastes at most one window.
  static constexpr std::uint64_t kWindowPmds = 16;

  PagemapWindow(int fd, std::uint64_t page, std::vector<std::uint64_t>& storage)
      : fd_(fd), page_(page), pmd_(page * (page / 8)), entries_(storage) {}

  std::uint64_t pmd() const { return pmd_; }
  std::uint64_t span() const { return kWindowPmds * pmd_; }

  bool holds(std::uint64_t addr) const { return addr >= lo_ && addr < hi_; }
  // The entry of `addr` and those after it up to the window's end (holds(addr) first).
  const std::uint64_t* at(std::uint64_t addr) const {
    return entries_.data() + (addr - lo_) / page_;
  }

  // Loads the window of `addr`'s PMD block, reaching no further than `limit` (rounded up
  // to a block) nor kWindowPmds blocks. Returns false on a read error.
  bool load(std::uint64_t addr, std::uint64_t limit) {
    std::uint64_t lo = addr & ~(pmd_ - 1);
    std::uint64_t hi = std::min(lo + span(), (limit + pmd_ - 1) & ~(pmd_ - 1));
    if (hi <= lo) hi = lo + pmd_;
    std::size_t n = static_cast<std::size_t>((hi - lo) / page_);
    if (entries_.size() < n) entries_.resize(n);
    std::size_t done = 0;
    while (done < n) {
      ssize_t got = ::pread(fd_, entries_.data() + done, (n - done) * 8,
                            static_cast<off_t>((lo / page_ + done) * 8));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) {
        lo_ = hi_ = 0;
        return false;
      }
      if (got == 0) break;  // past the end of user space: the rest reads as empty
      done += static_cast<std::size_t>(got) / 8;
    }
    std::fill(entries_.begin() + static_cast<std::ptrdiff_t>(done),
              entries_.begin() + static_cast<std::ptrdiff_t>(n), 0);
    lo_ = lo;
    hi_ = hi;
    return true;
  }

 private:
  int fd_;
  std::uint64_t page_, pmd_;
  std::uint64_t lo_ = 0, hi_ = 0;
  std::vector<std::uint64_t>& entries_;
};

}  // namespace pagescan::emulate
