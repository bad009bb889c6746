// Feature probing: what the running kernel offers, tested by using it, probed lazily.
//
// Version numbers lie (distribution backports, 6.7 having the ioctl but not soft-dirty),
// so every probe exercises the interface: an empty PAGEMAP_SCAN per category bit, a uffd
// handshake, a soft-dirty round trip in a forked child, a guard install on a scratch page.
//
// A library must not surprise its caller's process, so the probes are grouped by what
// needs them and each group is probed on first use only (feature_probes.hpp): a scan
// costs a few empty ioctls, a uffd watch one userfaultfd handshake, and only the
// soft-dirty engine, asked for by name, forks. features() assembles every group for
// `pagescan features`; its header states the side effects of the groups only it probes.
#include "pagescan/features.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dirent.h>
#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "feature_probes.hpp"
#include "kernel/pagemap_scan.hpp"
#include "kernel/uapi.hpp"
#include "kernel/userfaultfd.hpp"
#include "proc/proc_files.hpp"

namespace pagescan {

namespace {

// An empty scan (start == end): validation runs, the walk does nothing (§1.6).
int empty_scan(int fd, std::uint64_t at, std::uint64_t return_mask) {
  RawScanArgs args;
  args.start = at;
  args.end = at;
  args.return_mask = return_mask;
  long n = kernel::pagemap_scan_ioctl(fd, args);
  return n < 0 ? static_cast<int>(-n) : 0;
}

void probe_pagemap_scan(Features& f) {
  int fd = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    f.pagemap_scan_errno = errno;
    return;
  }
  const std::uint64_t page = f.page_size;
  int err = empty_scan(fd, 0, 0);
  if (err) {
    f.pagemap_scan_errno = err;
    ::close(fd);
    return;
  }
  f.pagemap_scan = true;
  for (Category c : kAllCategories) {
    if (empty_scan(fd, 0, static_cast<std::uint64_t>(c)) == 0) f.scan_categories |= c;
  }
  // The highest range end access_ok() accepts: binary search over page-aligned
  // addresses with start == end, which never walks anything.
  std::uint64_t lo = 0, hi = (~0ull / page);  // in pages; lo accepted, hi rejected
  while (hi - lo > 1) {
    std::uint64_t mid = lo + (hi - lo) / 2;
    if (empty_scan(fd, mid * page, 0) == 0) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  f.user_address_limit = lo * page;
  ::close(fd);
}

void probe_userfaultfd(Features& f) {
  auto offer = kernel::Userfaultfd::probe();
  if (!offer) {
    f.userfaultfd_detail = offer.error().message();
    return;
  }
  f.userfaultfd = true;
  f.userfaultfd_via_dev = offer->via_dev;
  f.userfaultfd_user_mode_only = offer->user_mode_only;
  f.userfaultfd_features = offer->features;
  f.uffd_wp_async = offer->features & uapi::kUffdFeatureWpAsync;
  f.uffd_wp_unpopulated = offer->features & uapi::kUffdFeatureWpUnpopulated;
  f.uffd_wp_hugetlbfs_shmem = offer->features & uapi::kUffdFeatureWpHugetlbfsShmem;
  if (!f.uffd_wp_async) f.userfaultfd_detail = "kernel lacks kUffdFeatureWpAsync (6.7+)";
}

std::uint64_t pagemap_entry(int fd, const void* addr, std::uint64_t page) {
  std::uint64_t entry = 0;
  off_t off = static_cast<off_t>(reinterpret_cast<std::uintptr_t>(addr) / page * 8);
  if (::pread(fd, &entry, sizeof entry, off) != sizeof entry) return 0;
  return entry;
}

// Soft-dirty, tested in a forked child because clear_refs resets the whole process:
// the caller's own soft-dirty state (a checkpointer's) must not be disturbed. The child
// only makes async-signal-safe calls.
void probe_soft_dirty(Features& f) {
  pid_t child = ::fork();
  if (child < 0) {
    f.soft_dirty_detail =
        std::string("fork for the soft-dirty test failed: ") + std::strerror(errno);
    return;
  }
  if (child == 0) {
    const std::uint64_t page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
    auto* mem = static_cast<volatile char*>(
        ::mmap(nullptr, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    int pm = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    int cr = ::open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
    if (mem == MAP_FAILED || pm < 0 || cr < 0) ::_exit(3);
    mem[0] = 1;
    if (!(pagemap_entry(pm, const_cast<char*>(mem), page) & uapi::PM_SOFT_DIRTY)) ::_exit(1);
    if (::write(cr, "4", 1) != 1) ::_exit(4);
    if (pagemap_entry(pm, const_cast<char*>(mem), page) & uapi::PM_SOFT_DIRTY) ::_exit(2);
    mem[0] = 2;
    if (!(pagemap_entry(pm, const_cast<char*>(mem), page) & uapi::PM_SOFT_DIRTY)) ::_exit(2);
    ::_exit(0);
  }
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 99;
  f.soft_dirty = code == 0;
  switch (code) {
    case 0:
      f.soft_dirty_detail = "written page showed bit 55 after clear_refs";
      break;
    case 1:
      f.soft_dirty_detail =
          "pagemap bit 55 never set on a written page (kernel built without "
          "CONFIG_MEM_SOFT_DIRTY)";
      break;
    case 2:
      f.soft_dirty_detail = "clear_refs 4 did not reset bit 55, or a write did not set it";
      break;
    case 4:
      f.soft_dirty_detail = "writing 4 to /proc/self/clear_refs failed";
      break;
    default:
      f.soft_dirty_detail = "the soft-dirty test child failed to set up";
      break;
  }
}

// Whether pagemap shows PFNs to us, read from a page that is certainly present: the one
// holding a local variable just written, so nothing is mapped for it.
bool read_pfns_visible() {
  volatile char here = 1;
  int pm = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (pm < 0) return false;
  const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  std::uint64_t e = pagemap_entry(pm, const_cast<const char*>(&here), page);
  ::close(pm);
  return (e & uapi::PM_PRESENT) && (e & uapi::PM_PFN_MASK) != 0;
}

// Guard regions, by installing one on a scratch page (then unmapped): only features()
// probes this, and its header says so.
void probe_guard_regions(Features& f) {
  const std::uint64_t page = f.page_size;
  void* mem = ::mmap(nullptr, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return;
  f.guard_regions = ::madvise(mem, page, uapi::kMadvGuardInstall) == 0;
  ::munmap(mem, page);
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

void probe_thp(Features& f) {
  const std::string base = "/sys/kernel/mm/transparent_hugepage/";
  if (auto enabled = proc::read_text_file(base + "enabled")) {
    // "always [madvise] never": the bracketed word is in force.
    auto open = enabled->find('['), close = enabled->find(']');
    if (open != std::string::npos && close > open) {
      f.thp_mode = enabled->substr(open + 1, close - open - 1);
    }
  }
  if (auto size = proc::read_text_file(base + "hpage_pmd_size")) {
    f.thp_pmd_size = std::strtoull(size->c_str(), nullptr, 10);
  }
  if (auto zero = proc::read_text_file(base + "use_zero_page")) {
    f.thp_use_zero_page = trimmed(*zero) == "1";
  }
  if (DIR* dir = ::opendir(base.c_str())) {
    while (dirent* e = ::readdir(dir)) {
      unsigned long kb = 0;
      if (std::sscanf(e->d_name, "hugepages-%lukB", &kb) == 1) f.thp_sizes.push_back(kb * 1024);
    }
    ::closedir(dir);
  }
  std::sort(f.thp_sizes.begin(), f.thp_sizes.end());
}

std::uint64_t meminfo_field(const std::string& meminfo, const char* name) {
  auto at = meminfo.find(name);
  if (at == std::string::npos) return 0;
  return std::strtoull(meminfo.c_str() + at + std::strlen(name), nullptr, 10);
}

void probe_hugetlb_and_swap(Features& f) {
  if (auto meminfo = proc::read_text_file("/proc/meminfo")) {
    f.hugetlb_pages_total = meminfo_field(*meminfo, "HugePages_Total:");
    f.hugetlb_pages_free = meminfo_field(*meminfo, "HugePages_Free:");
    f.hugetlb_page_size = meminfo_field(*meminfo, "Hugepagesize:") * 1024;
    f.swap_total_bytes = meminfo_field(*meminfo, "SwapTotal:") * 1024;
  }
}

// The Sep 2025 fix (check p->vec_buf for NULL) is in 6.17 and later.
bool release_at_least(const std::string& release, int major, int minor) {
  int ma = 0, mi = 0;
  if (std::sscanf(release.c_str(), "%d.%d", &ma, &mi) != 2) return false;
  return ma > major || (ma == major && mi >= minor);
}

}  // namespace

Features probe::basics() {
  Features f;
  f.page_size = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  utsname u{};
  if (::uname(&u) == 0) f.kernel_release = u.release;
  return f;
}

namespace {

void probe_scanning(Features& f) {
  probe_pagemap_scan(f);
  if (!f.pagemap_scan) {
    // Without the ioctl there is nothing to probe; use the architecture's usual limit
    // (4-level paging) so requests can still be validated for the emulated backend.
    f.user_address_limit = (sizeof(void*) == 8 ? (1ull << 47) : (1ull << 32)) - f.page_size;
  }
  f.wp_without_buffer_safe = f.pagemap_scan && release_at_least(f.kernel_release, 6, 17);
}

// Each group on top of basics(), probed afresh.
template <void (*Probe)(Features&)>
Features probed() {
  Features f = probe::basics();
  Probe(f);
  return f;
}

// Copies the fields of each group from `from` (which has that group probed) into `to`.
void take_scanning(Features& to, const Features& from) {
  to.pagemap_scan = from.pagemap_scan;
  to.pagemap_scan_errno = from.pagemap_scan_errno;
  to.scan_categories = from.scan_categories;
  to.user_address_limit = from.user_address_limit;
  to.wp_without_buffer_safe = from.wp_without_buffer_safe;
}
void take_userfaultfd(Features& to, const Features& from) {
  to.userfaultfd = from.userfaultfd;
  to.userfaultfd_via_dev = from.userfaultfd_via_dev;
  to.userfaultfd_user_mode_only = from.userfaultfd_user_mode_only;
  to.userfaultfd_features = from.userfaultfd_features;
  to.uffd_wp_async = from.uffd_wp_async;
  to.uffd_wp_unpopulated = from.uffd_wp_unpopulated;
  to.uffd_wp_hugetlbfs_shmem = from.uffd_wp_hugetlbfs_shmem;
  to.userfaultfd_detail = from.userfaultfd_detail;
}
void take_soft_dirty(Features& to, const Features& from) {
  to.soft_dirty = from.soft_dirty;
  to.soft_dirty_detail = from.soft_dirty_detail;
}
void take_zero_pages(Features& to, const Features& from) {
  to.zero_page = from.zero_page;
  to.zero_page_detail = from.zero_page_detail;
  to.huge_zero_page = from.huge_zero_page;
  to.huge_zero_page_detail = from.huge_zero_page_detail;
}
void take_thp(Features& to, const Features& from) {
  to.thp_mode = from.thp_mode;
  to.thp_pmd_size = from.thp_pmd_size;
  to.thp_sizes = from.thp_sizes;
  to.thp_use_zero_page = from.thp_use_zero_page;
}

// The groups only features() needs, probed afresh.
void probe_the_rest(Features& f) {
  f.pfns_visible = probe::pfns_visible();
  probe_guard_regions(f);
  probe_hugetlb_and_swap(f);
}

}  // namespace

namespace probe {

const Features& scanning() {
  static const Features f = probed<probe_scanning>();
  return f;
}
const Features& userfaultfd() {
  static const Features f = probed<probe_userfaultfd>();
  return f;
}
const Features& soft_dirty() {
  static const Features f = probed<probe_soft_dirty>();
  return f;
}
const Features& thp() {
  static const Features f = probed<probe_thp>();
  return f;
}
bool pfns_visible() {
  static const bool visible = read_pfns_visible();
  return visible;
}

}  // namespace probe

Features probe_features() {
  Features f = probe::basics();
  probe_scanning(f);
  probe_userfaultfd(f);
  probe_soft_dirty(f);
  probe_thp(f);
  probe_the_rest(f);
  // The zero-page tests map memory afresh every time; their cached group is not used.
  take_zero_pages(f, probe::zero_pages_afresh());
  return f;
}

// Assembled from the cached groups, so a group the library probed already (the
// soft-dirty fork above all) is not probed twice.
const Features& features() {
  static const Features cached = [] {
    Features f = probe::basics();
    take_scanning(f, probe::scanning());
    take_userfaultfd(f, probe::userfaultfd());
    take_soft_dirty(f, probe::soft_dirty());
    take_thp(f, probe::thp());
    take_zero_pages(f, probe::zero_pages());
    probe_the_rest(f);
    return f;
  }();
  return cached;
}

}  // namespace pagescan
