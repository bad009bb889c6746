// Race-test plumbing (see race_address_space.hpp).
//
// Why a quiet range: top-down mmap (the default layout) puts a new mapping in the highest
// free gap below mmap_base that fits it. A range reserved at the current frontier and then
// punched with holes is exactly such a gap, so another thread's malloc arena, thread stack
// or scan buffer lands in it, and a race test would take that foreign mapping for one of
// its own, or fail to map its range again. So the range is placed 16 GiB below the lowest
// mapping near the frontier: the free gap between the two lies higher, and every mapping
// that fits in it is put there first.
#include "support/race_address_space.hpp"

#include <dirent.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>
#include <thread>

#include "proc/maps.hpp"
#include "support/exit_events.hpp"

namespace pagescan::test {

std::chrono::milliseconds race_budget(std::chrono::milliseconds normal) {
  return kUnderSanitizer ? normal / 2 : normal;
}

namespace {

constexpr std::uint64_t kGap = 16ull << 30;
constexpr std::uint64_t kAlign = 2ull << 20;  // a PMD, so THP-sized pieces stay aligned

// The lowest start of the mappings within 64 GiB below `frontier` (the cluster the
// kernel is filling now), or `frontier` itself.
std::uint64_t lowest_near(std::uint64_t frontier) {
  std::uint64_t lowest = frontier;
  auto vmas = proc::read_vmas(0, false);
  if (!vmas) return lowest;
  const std::uint64_t floor = frontier > (64ull << 30) ? frontier - (64ull << 30) : 0;
  for (const proc::Vma& v : *vmas) {
    if (v.start >= floor && v.start < lowest) lowest = v.start;
  }
  return lowest;
}

}  // namespace

QuietRange::QuietRange(std::size_t length) {
  constexpr int kFlags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
  void* probe = ::mmap(nullptr, length, PROT_NONE, kFlags, -1, 0);
  if (probe == MAP_FAILED) {
    why_ = std::string("probe mmap failed: ") + std::strerror(errno);
    return;
  }
  const auto frontier = reinterpret_cast<std::uint64_t>(probe);
  ::munmap(probe, length);
  const std::uint64_t lowest = lowest_near(frontier);
  if (lowest < kGap + length + (1ull << 32)) {
    why_ = "no room 16 GiB below the lowest mapping";
    return;
  }
  const std::uint64_t want = (lowest - kGap - length) & ~(kAlign - 1);
  void* p =
      ::mmap(reinterpret_cast<void*>(want), length, PROT_NONE, kFlags | MAP_FIXED_NOREPLACE, -1, 0);
  if (p == MAP_FAILED || reinterpret_cast<std::uint64_t>(p) != want) {
    std::ostringstream text;
    text << "could not reserve 0x" << std::hex << length << " bytes at 0x" << want << ": "
         << (p == MAP_FAILED ? std::strerror(errno) : "the kernel placed it elsewhere");
    why_ = text.str();
    if (p != MAP_FAILED) ::munmap(p, length);
    return;
  }
  start_ = want;
  length_ = length;
}

QuietRange::~QuietRange() {
  if (start_) ::munmap(data(), length_);
}

namespace {

template <class Visit>
void for_each_fd(Visit visit) {
  DIR* dir = ::opendir("/proc/self/fd");
  if (!dir) return;
  const int own = ::dirfd(dir);
  while (dirent* e = ::readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    const int fd = std::atoi(e->d_name);
    if (fd != own) visit(fd);
  }
  ::closedir(dir);
}

}  // namespace

std::size_t open_fd_count() {
  std::size_t n = 0;
  for_each_fd([&](int) { ++n; });
  return n;
}

std::size_t userfaultfd_count() {
  std::size_t n = 0;
  for_each_fd([&](int fd) {
    char link[64] = {};
    const std::string path = "/proc/self/fd/" + std::to_string(fd);
    if (::readlink(path.c_str(), link, sizeof link - 1) > 0 &&
        std::strcmp(link, "anon_inode:[userfaultfd]") == 0) {
      ++n;
    }
  });
  return n;
}

int wait_with_timeout(pid_t pid, std::chrono::milliseconds timeout, bool& timed_out) {
  // The pidfd's exit event, bounded: no polling of waitpid().
  timed_out = !wait_process_exit(pid, timeout);
  if (timed_out) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return status;
}

}  // namespace pagescan::test
