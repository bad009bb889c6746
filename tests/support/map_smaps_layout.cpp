// The child layout of the `pagescan map` smaps and width tests (map_smaps_layout.hpp).
#include "support/map_smaps_layout.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <optional>

#include "kernel/uapi.hpp"
#include "support/kernel_facts.hpp"
#include "support/memory.hpp"
#include "support/scan_helpers.hpp"
#include "support/scenario_layout.hpp"

namespace pagescan::test::map_smaps {

namespace {

// `pages` pages between two PROT_NONE pages, so no neighbour can merge with it.
char* isolated(std::size_t pages, int flags = MAP_PRIVATE | MAP_ANONYMOUS) {
  const std::size_t page = page_size();
  auto* base = static_cast<char*>(
      ::mmap(nullptr, (pages + 2) * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  if (base == MAP_FAILED) return nullptr;
  void* p = ::mmap(base + page, pages * page, PROT_READ | PROT_WRITE, flags | MAP_FIXED, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  ::madvise(p, pages * page, MADV_NOHUGEPAGE);
  return static_cast<char*>(p);
}

void report(std::vector<std::uint64_t>& out, Part part, const void* p, std::size_t pages) {
  out[2 * part] = reinterpret_cast<std::uint64_t>(p);
  out[2 * part + 1] = p ? reinterpret_cast<std::uint64_t>(p) + pages * page_size() : 0;
}

// MADV_PAGEOUT may give up on a page it finds busy: a few tries.
bool page_out(char* p, std::size_t count, bool anon) {
  std::string why;
  for (int attempt = 0; attempt < 5; ++attempt) {
    if (layout::page_out(p, 0, count, anon, why)) return true;
  }
  return false;
}

}  // namespace

std::string part_name(Part part) {
  static const char* kNames[] = {"shmem", "anon-swap", "guard", "thp", "uffd", "long-file"};
  return kNames[part];
}

std::vector<std::uint64_t> build() {
  const std::size_t page = page_size();
  std::vector<std::uint64_t> out(2 * kPartCount + 1, 0);
  bool paged_out = true;

  char* shmem = isolated(kShmemPages, MAP_SHARED | MAP_ANONYMOUS);
  if (shmem) {
    layout::touch_write(shmem, 0, kShmemPages);
    paged_out = page_out(shmem, kShmemOut, false) && paged_out;
    report(out, kShmem, shmem, kShmemPages);
  }
  char* anon = isolated(kAnonPages);
  if (anon) {
    layout::touch_write(anon, 0, kAnonPages);
    paged_out = page_out(anon, kAnonOut, true) && paged_out;
    report(out, kAnonSwap, anon, kAnonPages);
  }
  char* guard = isolated(kGuardPages);
  if (guard) {
    layout::touch_write(guard, 0, kGuardPages);
    if (layout::guard(guard, 0, kGuarded)) report(out, kGuard, guard, kGuardPages);
  }
  char* raw = isolated(2 * kThpSize / page);
  if (raw) {
    auto* aligned = reinterpret_cast<char*>((reinterpret_cast<std::uintptr_t>(raw) + kThpSize - 1) &
                                            ~(kThpSize - 1));
    if (::madvise(aligned, kThpSize, MADV_HUGEPAGE) == 0) {
      for (std::size_t off = 0; off < kThpSize; off += page) aligned[off] = 1;
      if (is_thp_mapped(aligned)) report(out, kThp, aligned, kThpSize / page);
    }
  }
  if (kernel_has(Fact::uffd_wp_async)) {
    static std::optional<AsyncWp> wp;  // kept open: closing the uffd unregisters the VMA
    wp = AsyncWp::create();
    char* tracked = isolated(kUffdPages);
    if (wp && tracked) {
      wp->init(tracked, kUffdPages * page);
      layout::touch_write(tracked, 0, kUffdWritten);
      report(out, kUffd, tracked, kUffdPages);
    }
  }
  // A path far longer than a screen line, so the table must shorten it.
  std::string dir = "/tmp/pagescan-map-a-directory-name-long-enough-to-need-shortening-XXXXXX";
  if (::mkdtemp(dir.data())) {
    const std::string name = dir + "/and-a-file-name-that-is-long-as-well.bin";
    int fd = ::open(name.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0 && ::ftruncate(fd, static_cast<off_t>(4 * page)) == 0) {
      void* p = ::mmap(nullptr, 4 * page, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p != MAP_FAILED) report(out, kLongFile, p, 4);
    }
    if (fd >= 0) ::close(fd);
    ::unlink(name.c_str());
    ::rmdir(dir.c_str());
  }
  out[2 * kPartCount] = paged_out ? 1 : 0;
  return out;
}

}  // namespace pagescan::test::map_smaps
