// Scenario building blocks for tests: mappings, page writes, THP, uffd write-protect.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kernel/userfaultfd.hpp"

namespace pagescan::test {

std::size_t page_size();
inline constexpr std::size_t kThpSize = 2u << 20;  // PMD size on x86-64

// An mmap that is unmapped on destruction.
class Mapping {
 public:
  Mapping() = default;
  // Anonymous private read-write mapping of `pages` pages (extra flags OR'd in).
  static Mapping anonymous(std::size_t pages, int extra_flags = 0,
                           int prot = PROT_READ | PROT_WRITE);
  // A mapping of `length` bytes aligned to `align` (for THP: kThpSize).
  static Mapping aligned(std::size_t length, std::size_t align, int prot = PROT_READ | PROT_WRITE);
  // MAP_HUGETLB private (or shared) mapping of `length` bytes; empty if the kernel refuses.
  static std::optional<Mapping> hugetlb(std::size_t length, bool shared = false);
  // A mapping of a fresh temporary file of `pages` pages, private or shared.
  static Mapping file(std::size_t pages, bool shared);
  // Adopts an existing mapping.
  Mapping(void* addr, std::size_t length) : addr_(static_cast<char*>(addr)), length_(length) {}

  Mapping(Mapping&& o) noexcept : addr_(o.addr_), length_(o.length_), gone_(std::move(o.gone_)) {
    o.addr_ = nullptr;
  }
  Mapping& operator=(Mapping&& o) noexcept;
  ~Mapping();

  char* data() const { return addr_; }
  std::uint64_t start() const { return reinterpret_cast<std::uint64_t>(addr_); }
  std::uint64_t end() const { return start() + length_; }
  std::size_t length() const { return length_; }
  std::size_t pages() const { return length_ / page_size(); }
  char* page(std::size_t i) const { return addr_ + i * page_size(); }
  std::uint64_t page_addr(std::size_t i) const { return start() + i * page_size(); }

  void write_page(std::size_t i, char value = 1) const;
  void write_pages(std::size_t first, std::size_t count, char value = 1) const;
  char read_page(std::size_t i) const;  // a read fault: maps the zero page on anon memory
  void release() { addr_ = nullptr; }

  // munmap()s pages [first, first + count) now and never again: once unmapped, the kernel
  // may give those addresses to someone else (a sanitizer's runtime, another thread), so
  // the destructor must unmap only the pages still ours. Returns munmap's result.
  int unmap_pages(std::size_t first, std::size_t count);
  // Records that pages [first, first + count) left this mapping another way (mremap moved
  // or shrank them): the destructor leaves those addresses alone.
  void disown_pages(std::size_t first, std::size_t count);

 private:
  void unmap_owned() const;

  char* addr_ = nullptr;
  std::size_t length_ = 0;
  std::vector<bool> gone_;  // per page, once a page was given up; empty while none was
};

// MADV_HUGEPAGE on a THP-aligned mapping and touch: true if the range became a PMD THP.
bool make_thp(const Mapping& m);
// True if the kernel reports [addr, addr + kThpSize) as PMD-mapped (AnonHugePages > 0).
bool is_thp_mapped(const void* addr);

// A userfaultfd with WP_ASYNC | WP_UNPOPULATED (| WP_HUGETLBFS_SHMEM), as the kernel
// selftest's wp_init/wp_free use it.
class AsyncWp {
 public:
  // nullopt when the kernel lacks async uffd-wp (the caller skips).
  static std::optional<AsyncWp> create();
  void init(void* addr, std::size_t len);  // register MODE_WP + write-protect
  void protect(void* addr, std::size_t len);
  void free(void* addr, std::size_t len);  // unregister
  kernel::Userfaultfd& uffd() { return uffd_; }

 private:
  explicit AsyncWp(kernel::Userfaultfd uffd) : uffd_(std::move(uffd)) {}
  kernel::Userfaultfd uffd_;
};

// The raw pagemap entry of one page of this process.
std::uint64_t pagemap_entry(const void* addr);

}  // namespace pagescan::test
