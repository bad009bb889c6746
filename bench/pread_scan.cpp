// The pre-6.7 scan: /proc/self/maps for the VMAs, pread of /proc/self/pagemap per page.
#include "pread_scan.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "kernel/uapi.hpp"

namespace pagescan::bench {
namespace {

constexpr std::size_t kChunkBytes = 64 * 1024;  // 8 192 entries per pread

// pread until `length` bytes arrived: pagemap may return short reads (CRIU e7276cf63).
bool read_fully(int fd, void* buffer, std::size_t length, std::uint64_t offset,
                std::uint64_t& calls) {
  auto* out = static_cast<char*>(buffer);
  while (length > 0) {
    ssize_t n = ::pread(fd, out, length, static_cast<off_t>(offset));
    ++calls;
    if (n <= 0) return false;
    out += n;
    length -= static_cast<std::size_t>(n);
    offset += static_cast<std::uint64_t>(n);
  }
  return true;
}

}  // namespace

std::string PreadScanner::open() {
  page_size_ = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  fd_ = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) return std::string("open /proc/self/pagemap: ") + std::strerror(errno);
  entries_.resize(kChunkBytes / sizeof(std::uint64_t));
  maps_.reserve(1 << 20);

  // CRIU's init_zero_page_pfn(): a read fault maps the zero page; its PFN is only
  // visible with CAP_SYS_ADMIN, otherwise it reads 0 and pfnzero stays undetected.
  void* probe = ::mmap(nullptr, page_size_, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (probe != MAP_FAILED) {
    (void)*static_cast<volatile char*>(probe);
    std::uint64_t entry = 0, calls = 0;
    auto offset = reinterpret_cast<std::uint64_t>(probe) / page_size_ * sizeof entry;
    if (read_fully(fd_, &entry, sizeof entry, offset, calls) && (entry & uapi::PM_PRESENT)) {
      zero_pfn_ = entry & uapi::PM_PFN_MASK;
    }
    ::munmap(probe, page_size_);
  }
  return {};
}

PreadScanner::~PreadScanner() {
  if (fd_ >= 0) ::close(fd_);
}

// The VMAs overlapping [start, end), clipped to it, from one read of /proc/self/maps.
bool PreadScanner::read_vmas(std::uint64_t start, std::uint64_t end, std::string& error) {
  int fd = ::open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error = std::string("open /proc/self/maps: ") + std::strerror(errno);
    return false;
  }
  maps_.clear();
  char buffer[64 * 1024];
  for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) > 0;) {
    maps_.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);

  vmas_.clear();
  const char* p = maps_.c_str();
  while (*p) {
    char* next = nullptr;
    std::uint64_t vma_start = std::strtoull(p, &next, 16);
    std::uint64_t vma_end = std::strtoull(next + 1, &next, 16);
    if (vma_end > start && vma_start < end) {
      vmas_.push_back({std::max(vma_start, start), std::min(vma_end, end)});
    }
    const char* eol = std::strchr(next, '\n');
    if (!eol) break;
    p = eol + 1;
  }
  return true;
}

// The categories a pagemap entry shows (pagemap.rst; kernel-pagemap-scan.md §6.1).
std::uint64_t PreadScanner::decode(std::uint64_t entry) const {
  std::uint64_t c = 0;
  bool present = entry & uapi::PM_PRESENT;
  bool swapped = entry & uapi::PM_SWAP;
  if (present) c |= uapi::PAGE_IS_PRESENT;
  if (swapped) c |= uapi::PAGE_IS_SWAPPED;
  if (entry & uapi::PM_FILE) c |= uapi::PAGE_IS_FILE;
  if (present && zero_pfn_ && (entry & uapi::PM_PFN_MASK) == zero_pfn_) {
    c |= uapi::PAGE_IS_PFNZERO;
  }
  if ((present || swapped) && !(entry & uapi::PM_UFFD_WP)) c |= uapi::PAGE_IS_WRITTEN;
  return c;
}

bool PreadScanner::scan(const ScanRequest& request, std::vector<PageRegion>& out,
                        std::string& error) {
  out.clear();
  preads_ = 0;
  if (!read_vmas(request.start, request.end, error)) return false;

  const std::uint64_t inverted = request.category_inverted.bits();
  const std::uint64_t mask = request.category_mask.bits();
  const std::uint64_t anyof = request.category_anyof_mask.bits();
  const std::uint64_t ret = request.return_mask.bits();
  auto matches = [&](std::uint64_t c) {
    c ^= inverted;
    return (c & mask) == mask && (!anyof || (c & anyof));
  };
  // Empty entries dominate sparse ranges: decide them once.
  const bool empty_matches = matches(0);

  PageRegion current;
  bool open_region = false;
  auto add = [&](std::uint64_t addr, std::uint64_t categories) {
    if (open_region && current.end == addr && current.categories.bits() == categories) {
      current.end += page_size_;
      return;
    }
    if (open_region) out.push_back(current);
    current = PageRegion{addr, addr + page_size_, Categories::from_bits(categories)};
    open_region = true;
  };

  const std::uint64_t per_chunk = entries_.size();
  for (const Vma& vma : vmas_) {
    for (std::uint64_t first = vma.start / page_size_, last = vma.end / page_size_; first < last;) {
      std::uint64_t count = std::min(per_chunk, last - first);
      if (!read_fully(fd_, entries_.data(), count * sizeof(std::uint64_t),
                      first * sizeof(std::uint64_t), preads_)) {
        error = std::string("pread /proc/self/pagemap: ") + std::strerror(errno);
        return false;
      }
      for (std::uint64_t i = 0; i < count; ++i) {
        std::uint64_t entry = entries_[i];
        std::uint64_t addr = (first + i) * page_size_;
        if (entry == 0) {
          if (empty_matches) add(addr, 0);
          continue;
        }
        std::uint64_t c = decode(entry);
        if (matches(c)) add(addr, c & ret);
      }
      first += count;
    }
  }
  if (open_region) out.push_back(current);
  return true;
}

}  // namespace pagescan::bench
