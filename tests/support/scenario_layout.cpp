// Building blocks of the differential-test scenarios: placing mappings, touching pages.
#include "support/scenario_layout.hpp"

#include <fcntl.h>
#include <sys/shm.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>

#include "kernel/uapi.hpp"
#include "pagescan/features.hpp"
#include "proc/maps.hpp"
#include "support/memory.hpp"

namespace pagescan::test::layout {

namespace {

constexpr std::uint64_t kSlotSize = 1ull << 30;

// A free, 1 GiB-aligned window for one scenario, so its mappings have no neighbours but
// the ones it places. The kernel picks the place (an over-sized reservation, trimmed to
// its aligned middle and released): a fixed address could lie outside what a sanitizer
// lets the program map (TSan turns a hint outside its application ranges into address 0).
std::uint64_t next_slot() {
  void* p =
      ::mmap(nullptr, 2 * kSlotSize, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return 0;
  auto start = reinterpret_cast<std::uint64_t>(p);
  ::munmap(p, 2 * kSlotSize);
  return (start + kSlotSize - 1) & ~(kSlotSize - 1);
}

std::uint64_t page() {
  return page_size();
}

bool read_flag_file(const char* path) {
  std::ifstream in(path);
  int v = 0;
  in >> v;
  return v == 1;
}

bool ensure_uffd(Scenario& s) {
  if (s.uffd()) return true;
  s.uffd_slot() = AsyncWp::create();
  if (!s.uffd()) {
    s.skip("kernel lacks async userfaultfd write-protect (UFFD_FEATURE_WP_ASYNC)");
    return false;
  }
  return true;
}

}  // namespace

std::optional<proc::Vma> vma_at(const void* addr) {
  auto vmas = proc::read_vmas(0, true);
  if (!vmas) return std::nullopt;
  auto a = reinterpret_cast<std::uint64_t>(addr);
  for (const proc::Vma& v : *vmas) {
    if (a >= v.start && a < v.end) return v;
  }
  return std::nullopt;
}

void touch_write(char* p, std::size_t first, std::size_t count, char base) {
  for (std::size_t i = first; i < first + count; ++i) {
    *static_cast<volatile char*>(p + i * page()) = static_cast<char>(base + i);
  }
}

void touch_read(char* p, std::size_t first, std::size_t count) {
  for (std::size_t i = first; i < first + count; ++i) {
    (void)*static_cast<volatile char*>(p + i * page());
  }
}

bool uffd_register(Scenario& s, void* addr, std::size_t len, bool protect) {
  if (!ensure_uffd(s)) return false;
  auto r = s.uffd()->uffd().register_wp(addr, len);
  if (!r) {
    s.skip("UFFDIO_REGISTER: " + r.error().message());
    return false;
  }
  if (protect) {
    auto w = s.uffd()->uffd().write_protect(addr, len, true);
    if (!w) {
      s.skip("UFFDIO_WRITEPROTECT: " + w.error().message());
      return false;
    }
  }
  return true;
}

bool guard(char* p, std::size_t first, std::size_t count) {
  return ::madvise(p + first * page(), count * page(), uapi::kMadvGuardInstall) == 0;
}

// MADV_PAGEOUT (21) over [first, first + count); true when every page left memory.
// Anonymous pages must show the swap bit 62 (§6.1); shmem pages swap out of the page
// table entirely (pte_none, §4.1), so they must no longer be present.
bool page_out(char* p, std::size_t first, std::size_t count, bool anon, std::string& why) {
  constexpr int kMadvPageout = 21;
  if (::madvise(p + first * page(), count * page(), kMadvPageout) != 0) {
    why = std::string("MADV_PAGEOUT: ") + std::strerror(errno);
    return false;
  }
  std::size_t left = 0;
  for (std::size_t i = first; i < first + count; ++i) {
    std::uint64_t e = pagemap_entry(p + i * page());
    bool out = anon ? (e & uapi::PM_SWAP) != 0 : (e & uapi::PM_PRESENT) == 0;
    if (!out) ++left;
  }
  if (left) {
    why = "MADV_PAGEOUT left " + std::to_string(left) + " of " + std::to_string(count) +
          " pages in memory (swap: " + std::to_string(features().swap_total_bytes >> 20) +
          " MiB when probed)";
    return false;
  }
  return true;
}

Layout::Layout(Scenario& s) : s_(s), slot_(next_slot()) {
  if (!slot_) error_ = std::string("no free 2 GiB of address space: ") + std::strerror(errno);
  window_start_ = slot_ + kPmd - 4 * page();
  cursor_ = window_start_;
  gap(4);
}

void Layout::gap(std::size_t pages) {
  if (!pages) return;
  s_.add_part("gap", cursor_, cursor_ + pages * page());
  cursor_ += pages * page();
}

void Layout::align(std::uint64_t bytes) {
  std::uint64_t to = (cursor_ + bytes - 1) & ~(bytes - 1);
  if (to != cursor_) s_.add_part("gap", cursor_, to);
  cursor_ = to;
}

char* Layout::map(const std::string& label, std::size_t len, int prot, int flags, int fd) {
  if (!error_.empty()) return nullptr;  // keep the first failure, place nothing after it
  void* want = reinterpret_cast<void*>(cursor_);
  void* p = ::mmap(want, len, prot, flags | MAP_FIXED_NOREPLACE, fd, 0);
  if (p == MAP_FAILED) {
    error_ = label + ": mmap: " + std::strerror(errno);
    return nullptr;
  }
  if (p != want) {  // a kernel without MAP_FIXED_NOREPLACE takes it as a hint
    ::munmap(p, len);
    error_ = label + ": mmap placed the mapping elsewhere";
    return nullptr;
  }
  s_.adopt(Mapping(p, len));
  s_.add_part(label, cursor_, cursor_ + len);
  cursor_ += len;
  return static_cast<char*>(p);
}

char* Layout::anon(const std::string& label, std::size_t pages, int prot) {
  char* p = map(label, pages * page(), prot, MAP_PRIVATE | MAP_ANONYMOUS);
  // Plain pages whatever the system's THP mode, and nothing for khugepaged to collapse.
  if (p) ::madvise(p, pages * page(), MADV_NOHUGEPAGE);
  return p;
}

char* Layout::file(const std::string& label, std::size_t pages, bool shared, int prot) {
  char path[] = "/var/tmp/pagescan-diff-XXXXXX";
  int fd = ::mkstemp(path);
  if (fd < 0) {
    error_ = label + ": mkstemp: " + std::strerror(errno);
    return nullptr;
  }
  ::unlink(path);
  std::string fill(pages * page(), 'f');
  bool ok = ::write(fd, fill.data(), fill.size()) == static_cast<ssize_t>(fill.size());
  char* p = ok ? map(label, fill.size(), prot, shared ? MAP_SHARED : MAP_PRIVATE, fd) : nullptr;
  if (!ok) error_ = label + ": cannot fill the file";
  ::close(fd);
  return p;
}

char* Layout::memfd(const std::string& label, std::size_t pages, bool shared, std::size_t filled) {
  int fd = ::memfd_create("pagescan-diff", MFD_CLOEXEC);
  if (fd < 0) {
    error_ = label + ": memfd_create: " + std::strerror(errno);
    return nullptr;
  }
  std::string fill(filled * page(), 'm');
  bool ok = ::ftruncate(fd, static_cast<off_t>(pages * page())) == 0 &&
            ::pwrite(fd, fill.data(), fill.size(), 0) == static_cast<ssize_t>(fill.size());
  char* p =
      ok ? map(label, pages * page(), PROT_READ | PROT_WRITE, shared ? MAP_SHARED : MAP_PRIVATE, fd)
         : nullptr;
  if (!ok) error_ = label + ": cannot size the memfd";
  ::close(fd);
  return p;
}

char* Layout::hugetlb(const std::string& label, std::size_t count, bool shared) {
  align(kPmd);
  int flags = (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS | MAP_HUGETLB;
  std::uint64_t at = cursor_;
  char* p = map(label, count * kPmd, PROT_READ | PROT_WRITE, flags);
  if (!p) {
    error_ += " (free hugetlb pages: " + std::to_string(features().hugetlb_pages_free) + ")";
    return nullptr;
  }
  for (std::size_t i = 0; i < count; ++i) {
    s_.add_huge_page(label, at + i * kPmd, at + (i + 1) * kPmd);
  }
  return p;
}

char* Layout::thp(const std::string& label, std::size_t blocks,
                  const std::vector<std::size_t>& touch) {
  align(kPmd);
  std::uint64_t at = cursor_;
  char* p = map(label, blocks * kPmd, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  if (!p) return nullptr;
  if (::madvise(p, blocks * kPmd, MADV_HUGEPAGE) != 0) {
    error_ = label + ": MADV_HUGEPAGE: " + std::strerror(errno);
    return nullptr;
  }
  for (std::size_t b : touch) *static_cast<volatile char*>(p + b * kPmd) = 1;
  ::madvise(p, blocks * kPmd, MADV_NOHUGEPAGE);
  auto v = vma_at(p);
  if (!v || v->anon_huge_pages != touch.size() * kPmd) {
    error_ = label + ": the kernel gave " + std::to_string(v ? v->anon_huge_pages >> 10 : 0) +
             " kB of THP, wanted " + std::to_string(touch.size() * (kPmd >> 10)) +
             " kB (THP unavailable or memory fragmented)";
    return nullptr;
  }
  for (std::size_t b : touch) s_.add_huge_page(label, at + b * kPmd, at + (b + 1) * kPmd);
  return p;
}

char* Layout::huge_zero(const std::string& label, std::size_t blocks) {
  if (!read_flag_file("/sys/kernel/mm/transparent_hugepage/use_zero_page")) {
    error_ = "transparent_hugepage/use_zero_page is not 1";
    return nullptr;
  }
  align(kPmd);
  std::uint64_t at = cursor_;
  char* p = map(label, blocks * kPmd, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS);
  if (!p) return nullptr;
  if (::madvise(p, blocks * kPmd, MADV_HUGEPAGE) != 0) {
    error_ = label + ": MADV_HUGEPAGE: " + std::strerror(errno);
    return nullptr;
  }
  (void)*static_cast<volatile char*>(p);
  ::madvise(p, blocks * kPmd, MADV_NOHUGEPAGE);
  // The huge zero page maps the whole block with one PMD: the last page is present too.
  std::uint64_t e = pagemap_entry(p + kPmd - page());
  if (!(e & uapi::PM_PRESENT)) {
    error_ = label + ": a read fault did not map the huge zero page";
    return nullptr;
  }
  s_.add_huge_page(label, at, at + kPmd);
  return p;
}

char* Layout::shm(const std::string& label, std::size_t pages) {
  int id = ::shmget(IPC_PRIVATE, pages * page(), IPC_CREAT | 0600);
  if (id < 0) {
    error_ = label + ": shmget: " + std::strerror(errno);
    return nullptr;
  }
  void* p = ::shmat(id, reinterpret_cast<void*>(cursor_), 0);
  ::shmctl(id, IPC_RMID, nullptr);  // destroyed at the last detach
  if (p == reinterpret_cast<void*>(-1)) {
    error_ = label + ": shmat: " + std::strerror(errno);
    return nullptr;
  }
  s_.adopt_shm(p);
  s_.add_part(label, cursor_, cursor_ + pages * page());
  cursor_ += pages * page();
  return static_cast<char*>(p);
}

void Layout::finish() {
  gap(4);
  s_.set_window(window_start_, cursor_);
  s_.set_slot(slot_, slot_ + kSlotSize);
}

void Layout::omit(const std::string& what) {
  s_.omit(what + ": " + error_);
  // An optional part that failed must not stop the parts after it; without a slot there
  // is nowhere to place anything, so that failure stays.
  if (slot_) error_.clear();
}

}  // namespace pagescan::test::layout
