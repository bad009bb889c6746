// Scenario building blocks for tests: mappings, page writes, THP, uffd write-protect.
#include "support/memory.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "kernel/uapi.hpp"

namespace pagescan::test {

std::size_t page_size() {
  static const std::size_t size = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return size;
}

Mapping Mapping::anonymous(std::size_t pages, int extra_flags, int prot) {
  std::size_t len = pages * page_size();
  void* p = ::mmap(nullptr, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | extra_flags, -1, 0);
  if (p == MAP_FAILED) {
    ADD_FAILURE() << "mmap of " << pages << " pages failed: " << std::strerror(errno);
    return {};
  }
  return Mapping(p, len);
}

Mapping Mapping::aligned(std::size_t length, std::size_t align, int prot) {
  std::size_t span = length + align;
  void* raw = ::mmap(nullptr, span, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (raw == MAP_FAILED) {
    ADD_FAILURE() << "mmap of " << span << " bytes failed: " << std::strerror(errno);
    return {};
  }
  auto base = reinterpret_cast<std::uintptr_t>(raw);
  std::uintptr_t start = (base + align - 1) & ~(align - 1);
  if (start > base) ::munmap(raw, start - base);
  std::uintptr_t tail = base + span - (start + length);
  if (tail) ::munmap(reinterpret_cast<void*>(start + length), tail);
  return Mapping(reinterpret_cast<void*>(start), length);
}

std::optional<Mapping> Mapping::hugetlb(std::size_t length, bool shared) {
  int flags = (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS | MAP_HUGETLB;
  void* p = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, flags, -1, 0);
  if (p == MAP_FAILED) return std::nullopt;
  return Mapping(p, length);
}

Mapping Mapping::file(std::size_t pages, bool shared) {
  char path[] = "/tmp/pagescan-test-XXXXXX";
  int fd = ::mkstemp(path);
  if (fd < 0) {
    ADD_FAILURE() << "mkstemp failed: " << std::strerror(errno);
    return {};
  }
  ::unlink(path);
  std::size_t len = pages * page_size();
  std::string fill(len, 'f');
  if (::write(fd, fill.data(), len) != static_cast<ssize_t>(len)) ADD_FAILURE() << "write failed";
  void* p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, shared ? MAP_SHARED : MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) {
    ADD_FAILURE() << "mmap of file failed: " << std::strerror(errno);
    return {};
  }
  return Mapping(p, len);
}

Mapping& Mapping::operator=(Mapping&& o) noexcept {
  if (this != &o) {
    unmap_owned();
    addr_ = o.addr_;
    length_ = o.length_;
    gone_ = std::move(o.gone_);
    o.addr_ = nullptr;
  }
  return *this;
}

Mapping::~Mapping() {
  unmap_owned();
}

int Mapping::unmap_pages(std::size_t first, std::size_t count) {
  int rc = ::munmap(page(first), count * page_size());
  if (rc == 0) disown_pages(first, count);
  return rc;
}

void Mapping::disown_pages(std::size_t first, std::size_t count) {
  if (gone_.empty()) gone_.assign(pages(), false);
  for (std::size_t i = first; i < first + count && i < gone_.size(); ++i) gone_[i] = true;
}

// Unmaps each run of pages still owned (all of them when none was given up).
void Mapping::unmap_owned() const {
  if (!addr_) return;
  if (gone_.empty()) {
    ::munmap(addr_, length_);
    return;
  }
  for (std::size_t i = 0; i < gone_.size();) {
    if (gone_[i]) {
      ++i;
      continue;
    }
    std::size_t run = i;
    while (run < gone_.size() && !gone_[run]) ++run;
    ::munmap(page(i), (run - i) * page_size());
    i = run;
  }
}

void Mapping::write_page(std::size_t i, char value) const {
  *static_cast<volatile char*>(page(i)) = value;
}

void Mapping::write_pages(std::size_t first, std::size_t count, char value) const {
  for (std::size_t i = first; i < first + count; ++i) write_page(i, value);
}

char Mapping::read_page(std::size_t i) const {
  return *static_cast<volatile char*>(page(i));
}

bool is_thp_mapped(const void* addr) {
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  auto target = reinterpret_cast<std::uintptr_t>(addr);
  bool in_vma = false;
  while (std::getline(smaps, line)) {
    unsigned long lo = 0, hi = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx ", &lo, &hi) == 2 && line.find(':') > line.find(' ')) {
      in_vma = target >= lo && target < hi;
      continue;
    }
    if (in_vma && line.rfind("AnonHugePages:", 0) == 0) {
      return std::strtoul(line.c_str() + 14, nullptr, 10) > 0;
    }
  }
  return false;
}

bool make_thp(const Mapping& m) {
  if (::madvise(m.data(), m.length(), MADV_HUGEPAGE) != 0) return false;
  for (std::size_t off = 0; off < m.length(); off += kThpSize) {
    *static_cast<volatile char*>(m.data() + off) = 1;
  }
  return is_thp_mapped(m.data());
}

std::optional<AsyncWp> AsyncWp::create() {
  auto uffd =
      kernel::Userfaultfd::open(uapi::kUffdFeatureWpAsync | uapi::kUffdFeatureWpUnpopulated |
                                uapi::kUffdFeatureWpHugetlbfsShmem);
  if (!uffd) return std::nullopt;
  return AsyncWp(std::move(*uffd));
}

void AsyncWp::init(void* addr, std::size_t len) {
  auto r = uffd_.register_wp(addr, len);
  ASSERT_TRUE(r) << r.error().message();
  protect(addr, len);
}

void AsyncWp::protect(void* addr, std::size_t len) {
  auto r = uffd_.write_protect(addr, len, true);
  ASSERT_TRUE(r) << r.error().message();
}

void AsyncWp::free(void* addr, std::size_t len) {
  auto r = uffd_.unregister(addr, len);
  ASSERT_TRUE(r) << r.error().message();
}

std::uint64_t pagemap_entry(const void* addr) {
  int fd = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  std::uint64_t e = 0;
  off_t off = static_cast<off_t>(reinterpret_cast<std::uintptr_t>(addr) / page_size() * 8);
  if (fd >= 0 && ::pread(fd, &e, 8, off) != 8) e = 0;
  if (fd >= 0) ::close(fd);
  return e;
}

}  // namespace pagescan::test
