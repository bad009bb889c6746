// The VMAs of the calling process overlapping a range, by PROCMAP_QUERY on a
// /proc/self/maps fd that follows fork(), falling back to reading the maps file.
#pragma once

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <vector>

#include "kernel/uapi.hpp"
#include "proc/maps.hpp"

namespace pagescan::self_maps {

// PROCMAP_QUERY flags (linux/fs.h, 6.11+).
inline constexpr std::uint64_t kVmaReadable = 0x01;
inline constexpr std::uint64_t kVmaWritable = 0x02;
inline constexpr std::uint64_t kVmaExecutable = 0x04;
inline constexpr std::uint64_t kCoveringOrNextVma = 0x10;

// A /proc/self/maps fd of this process. /proc/self is resolved when the file is opened,
// so an fd inherited across fork() describes the parent's mappings: the fd is reopened
// when getpid() changes. Lock-free (pid and fd packed in one atomic word), so a fork()
// racing another thread's call cannot leave a lock held in the child. -1 when the file
// cannot be opened.
inline int fd() {
  static std::atomic<std::uint64_t> cache{0};  // pid << 32 | fd; pid 0: nothing opened
  const auto now = static_cast<std::uint32_t>(::getpid());
  std::uint64_t seen = cache.load(std::memory_order_acquire);
  while (static_cast<std::uint32_t>(seen >> 32) != now) {
    const int opened = ::open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    const std::uint64_t mine = std::uint64_t{now} << 32 | static_cast<std::uint32_t>(opened);
    if (cache.compare_exchange_strong(seen, mine, std::memory_order_acq_rel)) {
      // The parent's fd, inherited: ours to close (nobody else here uses it).
      const int old = static_cast<int>(static_cast<std::uint32_t>(seen));
      if (seen != 0 && old >= 0) ::close(old);
      return opened;
    }
    if (opened >= 0) ::close(opened);  // another thread of this process won; use its fd
  }
  return static_cast<int>(static_cast<std::uint32_t>(seen));
}

// One mapped piece: [start, end) clipped to the range asked about, with its protection.
struct Piece {
  std::uint64_t start = 0, end = 0;
  int prot = 0;  // PROT_* bits
};

// The mapped pieces of [lo, hi), ascending (holes are simply absent). Empty with an
// error only when neither PROCMAP_QUERY nor the maps file can be read.
inline Result<std::vector<Piece>> pieces(std::uint64_t lo, std::uint64_t hi) {
  std::vector<Piece> out;
  const int maps = fd();
  std::uint64_t at = lo;
  while (maps >= 0 && at < hi) {
    uapi::procmap_query q{};
    q.size = sizeof q;
    q.query_flags = kCoveringOrNextVma;
    q.query_addr = at;
    if (::ioctl(maps, uapi::PROCMAP_QUERY, &q) != 0) {
      if (errno == ENOENT) return out;  // no VMA at or above `at`
      break;                            // no PROCMAP_QUERY (before 6.11): read the file
    }
    if (q.vma_start >= hi) return out;
    int prot = 0;
    if (q.vma_flags & kVmaReadable) prot |= PROT_READ;
    if (q.vma_flags & kVmaWritable) prot |= PROT_WRITE;
    if (q.vma_flags & kVmaExecutable) prot |= PROT_EXEC;
    out.push_back(Piece{std::max(lo, q.vma_start), std::min(hi, q.vma_end), prot});
    at = q.vma_end;
  }
  if (at >= hi) return out;
  out.clear();
  auto vmas = proc::read_vmas_below(0, false, hi);
  if (!vmas) return vmas.error();
  for (const proc::Vma& v : *vmas) {
    if (v.end <= lo || v.start >= hi) continue;
    int prot = 0;
    if (v.perms.size() >= 3) {
      if (v.perms[0] == 'r') prot |= PROT_READ;
      if (v.perms[1] == 'w') prot |= PROT_WRITE;
      if (v.perms[2] == 'x') prot |= PROT_EXEC;
    }
    out.push_back(Piece{std::max(lo, v.start), std::min(hi, v.end), prot});
  }
  return out;
}

}  // namespace pagescan::self_maps
