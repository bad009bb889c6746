// The tests' own kernel probes: each fact found by doing the thing and looking at the
// result in pagemap, kpageflags or sysfs, never by asking the library.
//
// The zero-page facts decide how read-only pages must be counted, so their code paths are
// spelled out. A read fault on private anonymous memory maps either the shared zero page
// (the usual kernel) or a private zero-filled page (pvm_no_zero_page=1, s390 guests that
// forbid it, use_zero_page=0 for the huge one). Three observations tell them apart, the
// most direct one available is used:
//   1. /proc/kpageflags readable (root): the mapped PFN carries KPF_ZERO_PAGE (bit 24),
//      which the kernel sets for both the 4 KiB and the huge zero page.
//   2. PFNs visible but no kpageflags: two read faults in two mappings map the same PFN
//      only when it is the shared zero page.
//   3. PFNs hidden: pagemap's flag bits. The 4 KiB zero page has no struct page behind
//      its PTE (vm_normal_page() is NULL), so pagemap never calls it exclusively mapped
//      (bit 56), which a freshly faulted private page is. The huge zero page is not an
//      anonymous page, so pagemap reports it FILE (bit 61) in private anonymous memory.
#include "support/kernel_facts.hpp"

#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <bit>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <vector>

#include "kernel/uapi.hpp"
#include "support/io.hpp"
#include "support/memory.hpp"
#include "support/system_settings.hpp"

namespace pagescan::test {

namespace {

constexpr std::array<std::string_view, 19> kNames = {
    "pagemap_scan",  "scan_wpallowed", "scan_written",  "scan_file",       "scan_present",
    "scan_swapped",  "scan_pfnzero",   "scan_huge",     "scan_soft_dirty", "scan_guard",
    "uffd_wp_async", "soft_dirty",     "guard_regions", "zero_page",       "huge_zero_page",
    "thp",           "hugetlb",        "swap",          "pfns_visible"};

constexpr std::array<Fact, kNames.size()> kFacts = {
    Fact::pagemap_scan,    Fact::scan_wpallowed, Fact::scan_written,   Fact::scan_file,
    Fact::scan_present,    Fact::scan_swapped,   Fact::scan_pfnzero,   Fact::scan_huge,
    Fact::scan_soft_dirty, Fact::scan_guard,     Fact::uffd_wp_async,  Fact::soft_dirty,
    Fact::guard_regions,   Fact::zero_page,      Fact::huge_zero_page, Fact::thp,
    Fact::hugetlb,         Fact::swap,           Fact::pfns_visible};

// kpageflags bits (include/uapi/linux/kernel-page-flags.h).
constexpr int kKpfThp = 22;
constexpr int kKpfZeroPage = 24;

const char* const kThpDir = "/sys/kernel/mm/transparent_hugepage/";

KernelFact found(bool present, std::string finding) {
  return KernelFact{present, std::move(finding)};
}

std::string errno_text(int err) {
  return std::string(strerrorname_np(err) ? strerrorname_np(err) : "?") + ": " + std::strerror(err);
}

std::string hex(std::uint64_t v) {
  std::ostringstream s;
  s << "0x" << std::hex << v;
  return s.str();
}

std::string first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

// One raw pagemap entry of this process, read afresh (0 when unreadable).
std::uint64_t entry_of(const volatile void* addr) {
  int fd = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  std::uint64_t e = 0;
  const auto at = reinterpret_cast<std::uintptr_t>(addr) / page_size() * 8;
  if (::pread(fd, &e, sizeof e, static_cast<off_t>(at)) != sizeof e) e = 0;
  ::close(fd);
  return e;
}

std::uint64_t pfn_of(std::uint64_t entry) {
  return (entry & uapi::PM_PRESENT) ? entry & uapi::PM_PFN_MASK : 0;
}

// The page's /proc/kpageflags word, or nullopt when that file is not readable (not root).
std::optional<std::uint64_t> kpageflags(std::uint64_t pfn) {
  int fd = ::open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::uint64_t flags = 0;
  ssize_t n = ::pread(fd, &flags, sizeof flags, static_cast<off_t>(pfn * 8));
  ::close(fd);
  if (n != sizeof flags) return std::nullopt;
  return flags;
}

char read_byte(const char* p) {
  return *static_cast<const volatile char*>(p);
}

// ---- PAGEMAP_SCAN ------------------------------------------------------------------

// A PAGEMAP_SCAN over one written page of this process, returning `return_mask`:
// 0 or the errno.
int scan_written_page(std::uint64_t return_mask) {
  Mapping m = Mapping::anonymous(1);
  if (!m.data()) return ENOMEM;
  m.write_page(0);
  int fd = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  uapi::page_region out[1]{};
  uapi::pm_scan_arg a{};
  a.size = sizeof a;
  a.start = m.start();
  a.end = m.end();
  a.vec = reinterpret_cast<std::uint64_t>(out);
  a.vec_len = 1;
  a.return_mask = return_mask;
  int err = ::ioctl(fd, uapi::PAGEMAP_SCAN, &a) < 0 ? errno : 0;
  ::close(fd);
  return err;
}

KernelFact probe_pagemap_scan() {
  int err = scan_written_page(uapi::PAGE_IS_PRESENT);
  if (err == 0) return found(true, "the PAGEMAP_SCAN ioctl scans /proc/self/pagemap");
  return found(false, "the PAGEMAP_SCAN ioctl fails on /proc/self/pagemap (" + errno_text(err) +
                          (err == ENOTTY ? "): kernel older than 6.7" : ")"));
}

KernelFact probe_scan_category(Category c) {
  std::string name =
      "PAGE_IS_" + std::string(to_string(c));  // the kernel's spelling: PAGE_IS_SOFT_DIRTY
  for (char& ch : name) ch = ch == '-' ? '_' : static_cast<char>(std::toupper(ch));
  if (!kernel_has(Fact::pagemap_scan)) return found(false, kernel_fact(Fact::pagemap_scan).finding);
  int err = scan_written_page(static_cast<std::uint64_t>(c));
  if (err == 0) return found(true, "PAGEMAP_SCAN accepts " + name);
  return found(false, "PAGEMAP_SCAN rejects " + name + " (" + errno_text(err) + ")");
}

// ---- userfaultfd ---------------------------------------------------------------------

// A userfaultfd the way an unprivileged process gets one: user-mode-only first (allowed
// even when vm.unprivileged_userfaultfd is 0), then plain, then /dev/userfaultfd.
int open_userfaultfd(std::string& how) {
  int fd = static_cast<int>(
      ::syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | uapi::kUffdUserModeOnly));
  if (fd >= 0) return how = "userfaultfd(UFFD_USER_MODE_ONLY)", fd;
  fd = static_cast<int>(::syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK));
  if (fd >= 0) return how = "userfaultfd()", fd;
  int err = errno;
  int dev = ::open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
  if (dev >= 0) {
    fd = ::ioctl(dev, uapi::kUserfaultfdIocNew, O_CLOEXEC | O_NONBLOCK);
    err = errno;
    ::close(dev);
    if (fd >= 0) return how = "/dev/userfaultfd", fd;
  }
  how = "userfaultfd: " + errno_text(err);
  return -1;
}

KernelFact probe_uffd_wp_async() {
  std::string how;
  int fd = open_userfaultfd(how);
  if (fd < 0) return found(false, "no userfaultfd (" + how + ")");
  auto fail = [&](const std::string& what) {
    std::string text = what + " (" + errno_text(errno) + ", via " + how + ")";
    ::close(fd);
    return found(false, text);
  };
  uffdio_api api{};
  api.api = UFFD_API;
  api.features = uapi::kUffdFeatureWpAsync | uapi::kUffdFeatureWpUnpopulated |
                 uapi::kUffdFeatureWpHugetlbfsShmem;
  if (::ioctl(fd, UFFDIO_API, &api) != 0) {
    return fail("UFFDIO_API refuses WP_ASYNC | WP_UNPOPULATED | WP_HUGETLBFS_SHMEM");
  }
  Mapping m = Mapping::anonymous(1);
  m.write_page(0);
  uffdio_register reg{};
  reg.range = {m.start(), page_size()};
  reg.mode = UFFDIO_REGISTER_MODE_WP;
  if (::ioctl(fd, UFFDIO_REGISTER, &reg) != 0) return fail("UFFDIO_REGISTER in MODE_WP fails");
  uffdio_writeprotect wp{};
  wp.range = {m.start(), page_size()};
  wp.mode = UFFDIO_WRITEPROTECT_MODE_WP;
  if (::ioctl(fd, UFFDIO_WRITEPROTECT, &wp) != 0) return fail("UFFDIO_WRITEPROTECT fails");
  const bool armed = entry_of(m.data()) & uapi::PM_UFFD_WP;
  m.write_page(0, 2);  // async: resolved by the kernel, no fault message to read
  const bool resolved = !(entry_of(m.data()) & uapi::PM_UFFD_WP);
  ::close(fd);
  if (!armed) return found(false, "UFFDIO_WRITEPROTECT left pagemap bit 57 clear");
  if (!resolved) return found(false, "a write left pagemap bit 57 set: not async");
  return found(true, "a write to an async write-protected page cleared bit 57");
}

// ---- soft-dirty ----------------------------------------------------------------------

// In a forked child: clear_refs resets the soft-dirty bits of the whole process, which
// must not disturb the test's own state. The child makes async-signal-safe calls only.
KernelFact probe_soft_dirty() {
  pid_t child = ::fork();
  if (child < 0) return found(false, "fork for the soft-dirty probe failed: " + errno_text(errno));
  if (child == 0) {
    const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    void* raw = ::mmap(nullptr, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int pm = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    int cr = ::open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
    if (raw == MAP_FAILED || pm < 0 || cr < 0) ::_exit(3);
    auto* mem = static_cast<volatile char*>(raw);
    auto bit55 = [&] {
      std::uint64_t e = 0;
      const auto at = static_cast<off_t>(reinterpret_cast<std::uintptr_t>(raw) / page * 8);
      return ::pread(pm, &e, sizeof e, at) == sizeof e && (e & uapi::PM_SOFT_DIRTY);
    };
    mem[0] = 1;
    if (!bit55()) ::_exit(1);
    if (::write(cr, "4", 1) != 1) ::_exit(4);
    if (bit55()) ::_exit(2);
    mem[0] = 2;
    if (!bit55()) ::_exit(5);
    ::_exit(0);
  }
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  switch (WIFEXITED(status) ? WEXITSTATUS(status) : -1) {
    case 0:
      return found(true, "bit 55 set by a write, cleared by clear_refs, set by the next write");
    case 1:
      return found(false, "written pages never show pagemap bit 55 (no CONFIG_MEM_SOFT_DIRTY)");
    case 2:
      return found(false, "writing 4 to clear_refs left pagemap bit 55 set");
    case 4:
      return found(false, "writing 4 to /proc/self/clear_refs failed");
    case 5:
      return found(false, "a write after clear_refs did not set pagemap bit 55");
    default:
      return found(false, "the soft-dirty probe's child could not set up");
  }
}

// ---- memory --------------------------------------------------------------------------

KernelFact probe_guard_regions() {
  Mapping m = Mapping::anonymous(1);
  if (::madvise(m.data(), page_size(), uapi::kMadvGuardInstall) == 0) {
    return found(true, "MADV_GUARD_INSTALL works on anonymous memory");
  }
  const int err = errno;
  return found(false, "MADV_GUARD_INSTALL fails (" + errno_text(err) + ")" +
                          (err == EINVAL ? ": kernel older than 6.13" : ""));
}

KernelFact probe_pfns_visible() {
  Mapping m = Mapping::anonymous(1);
  m.write_page(0);
  if (pfn_of(entry_of(m.data())) != 0) return found(true, "pagemap shows PFNs to this process");
  return found(false, "pagemap hides PFNs from this process (no CAP_SYS_ADMIN)");
}

KernelFact probe_zero_page() {
  // Two one-page mappings with THP kept off, read once each.
  Mapping a = Mapping::anonymous(1), b = Mapping::anonymous(1);
  ::madvise(a.data(), page_size(), MADV_NOHUGEPAGE);
  ::madvise(b.data(), page_size(), MADV_NOHUGEPAGE);
  (void)read_byte(a.data());
  (void)read_byte(b.data());
  const std::uint64_t ea = entry_of(a.data()), eb = entry_of(b.data());
  const char* const private_page = "this kernel maps a private page on read faults: no pfnzero";
  if (!(ea & uapi::PM_PRESENT)) {
    return found(false, "a read fault left the page not present: no pfnzero");
  }
  const std::uint64_t pfn = pfn_of(ea);
  if (pfn != 0) {
    if (auto flags = kpageflags(pfn)) {  // observation 1
      if (*flags & (1ull << kKpfZeroPage)) {
        return found(true,
                     "read faults map the shared zero page (pfn " + hex(pfn) + ", KPF_ZERO_PAGE)");
      }
      return found(false,
                   std::string(private_page) + " (pfn " + hex(pfn) + " lacks KPF_ZERO_PAGE)");
    }
    if (pfn == pfn_of(eb)) {  // observation 2
      return found(
          true, "read faults in two mappings map one pfn (" + hex(pfn) + "): the shared zero page");
    }
    return found(false, std::string(private_page) + " (two read faults, two pfns)");
  }
  if (!(ea & uapi::PM_MMAP_EXCLUSIVE)) {  // observation 3
    return found(true,
                 "a read-faulted page is not exclusively mapped (PFNs hidden): "
                 "the shared zero page");
  }
  return found(false, std::string(private_page) + " (exclusively mapped; PFNs hidden)");
}

// A kThpSize-aligned MADV_HUGEPAGE mapping; nullopt with the reason when refused.
std::optional<Mapping> thp_candidate(std::string& why) {
  Mapping m = Mapping::aligned(kThpSize, kThpSize);
  if (!m.data()) return why = "no aligned mapping", std::nullopt;
  if (::madvise(m.data(), m.length(), MADV_HUGEPAGE) != 0) {
    why = "MADV_HUGEPAGE fails (" + errno_text(errno) + ")";
    return std::nullopt;
  }
  return m;
}

// The first and last page of a THP-sized block are both present after one fault only
// when the fault mapped the whole PMD.
bool pmd_mapped(const Mapping& m) {
  return (entry_of(m.data()) & uapi::PM_PRESENT) &&
         (entry_of(m.page(m.pages() - 1)) & uapi::PM_PRESENT);
}

KernelFact probe_thp() {
  const std::string enabled = kernel_thp_mode();
  if (enabled.empty()) return found(false, "no transparent_hugepage in sysfs: kernel without THP");
  const std::string pmd = first_line(std::string(kThpDir) + "hpage_pmd_size");
  if (pmd != std::to_string(kThpSize)) {
    return found(false, "the PMD THP size is " + pmd + ", not the 2 MiB the tests build");
  }
  std::string why;
  // A THP allocation can fail for want of a free 2 MiB block: try a few regions.
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto m = thp_candidate(why);
    if (!m) return found(false, why + " (THP mode " + enabled + ")");
    m->write_page(0);
    if (pmd_mapped(*m)) {
      std::string how = "a write in a MADV_HUGEPAGE region maps a 2 MiB THP";
      if (auto flags = kpageflags(pfn_of(entry_of(m->data())))) {
        if (!(*flags & (1ull << kKpfThp))) continue;  // PMD-mapped but not a THP?
        how += ", KPF_THP";
      }
      return found(true, how + " (mode " + enabled + ")");
    }
  }
  return found(false,
               "a write in a MADV_HUGEPAGE region mapped no 2 MiB THP (mode " + enabled + ")");
}

KernelFact probe_huge_zero_page() {
  const std::string knob = "use_zero_page " + first_line(std::string(kThpDir) + "use_zero_page");
  if (!kernel_has(Fact::thp)) return found(false, "no THP: " + kernel_fact(Fact::thp).finding);
  std::string why;
  auto a = thp_candidate(why), b = thp_candidate(why);
  if (!a || !b) return found(false, why);
  (void)read_byte(a->data());
  (void)read_byte(b->data());
  const char* const private_huge = "THP read faults map a private huge page: no huge pfnzero";
  if (!pmd_mapped(*a)) {
    return found(false,
                 "a read fault in a MADV_HUGEPAGE region mapped no huge page: "
                 "no huge pfnzero (" +
                     knob + ")");
  }
  const std::uint64_t ea = entry_of(a->data()), pfn = pfn_of(ea);
  if (pfn != 0) {
    if (auto flags = kpageflags(pfn)) {  // observation 1
      if (*flags & (1ull << kKpfZeroPage)) {
        return found(true, "THP read faults map the huge zero page (KPF_ZERO_PAGE, " + knob + ")");
      }
      return found(false, std::string(private_huge) + " (" + knob + ")");
    }
    if (pfn == pfn_of(entry_of(b->data()))) {  // observation 2
      return found(true,
                   "THP read faults in two regions map one pfn: the huge zero page (" + knob + ")");
    }
    return found(false, std::string(private_huge) + " (two pfns, " + knob + ")");
  }
  if (ea & uapi::PM_FILE) {  // observation 3
    return found(true,
                 "a THP read fault maps a FILE page in anonymous memory (PFNs hidden): "
                 "the huge zero page (" +
                     knob + ")");
  }
  return found(false, std::string(private_huge) + " (an anonymous page; " + knob + ")");
}

KernelFact probe_hugetlb() {
  const std::uint64_t kb = kernel_hugetlb_page_size() / 1024;
  if (kb == 0) return found(false, "no Hugepagesize in /proc/meminfo: kernel without hugetlb");
  HugetlbReservation pool(1);
  if (!pool.ok()) return found(false, "no free hugetlb page: " + pool.why_not());
  auto m = Mapping::hugetlb(kb * 1024);
  if (!m) return found(false, "MAP_HUGETLB fails (" + errno_text(errno) + ")");
  m->write_page(0);
  return found(true, "a " + std::to_string(kb / 1024) + " MiB hugetlb page was mapped");
}

KernelFact probe_swap() {
  if (const auto kb = meminfo_value("SwapTotal").value_or(0); kb > 0) {
    return found(true, "swap is active (" + std::to_string(kb >> 10) + " MiB)");
  }
  SwapSpace swap(4u << 20);
  if (swap.ok()) return found(true, "no swap active, but a swapfile can be added");
  return found(false, "no swap, and none can be added: " + swap.why_not());
}

// The scan_<category> facts follow the PAGE_IS_* bits in order.
Category category_of(Fact scan) {
  const auto bit = static_cast<std::size_t>(scan) - static_cast<std::size_t>(Fact::scan_wpallowed);
  return static_cast<Category>(1ull << bit);
}

KernelFact probe(Fact fact) {
  switch (fact) {
    case Fact::pagemap_scan:
      return probe_pagemap_scan();
    case Fact::scan_wpallowed:
    case Fact::scan_written:
    case Fact::scan_file:
    case Fact::scan_present:
    case Fact::scan_swapped:
    case Fact::scan_pfnzero:
    case Fact::scan_huge:
    case Fact::scan_soft_dirty:
    case Fact::scan_guard:
      return probe_scan_category(category_of(fact));
    case Fact::uffd_wp_async:
      return probe_uffd_wp_async();
    case Fact::soft_dirty:
      return probe_soft_dirty();
    case Fact::guard_regions:
      return probe_guard_regions();
    case Fact::zero_page:
      return probe_zero_page();
    case Fact::huge_zero_page:
      return probe_huge_zero_page();
    case Fact::thp:
      return probe_thp();
    case Fact::hugetlb:
      return probe_hugetlb();
    case Fact::swap:
      return probe_swap();
    case Fact::pfns_visible:
      return probe_pfns_visible();
  }
  return found(false, "unknown fact");
}

struct Required {
  std::vector<Fact> facts;
  std::vector<std::string> unknown;
};

const Required& required() {
  static const Required parsed = [] {
    Required r;
    const char* env = std::getenv("PAGESCAN_REQUIRE");
    std::string list = env ? env : "";
    std::size_t at = 0;
    while (at <= list.size()) {
      std::size_t comma = std::min(list.find(',', at), list.size());
      std::string name = list.substr(at, comma - at);
      while (!name.empty() && name.back() == ' ') name.pop_back();
      while (!name.empty() && name.front() == ' ') name.erase(0, 1);
      if (!name.empty()) {
        if (auto f = fact_named(name)) {
          r.facts.push_back(*f);
        } else {
          r.unknown.push_back(name);
        }
      }
      at = comma + 1;
    }
    return r;
  }();
  return parsed;
}

}  // namespace

const KernelFact& kernel_fact(Fact fact) {
  // One slot per fact, each filled once; a probe may ask for another fact (the huge zero
  // page needs THP), which has its own flag, so no probe waits on itself.
  static std::array<std::once_flag, kFacts.size()> once;
  static std::array<KernelFact, kFacts.size()> facts;
  const auto i = static_cast<std::size_t>(fact);
  std::call_once(once[i], [&] {
    facts[i] = probe(fact);
    if (facts[i].finding.empty()) facts[i].finding = "(no finding)";
  });
  return facts[i];
}

std::string_view fact_name(Fact fact) {
  return kNames[static_cast<std::size_t>(fact)];
}

std::span<const Fact> all_facts() {
  return kFacts;
}

std::optional<Fact> fact_named(std::string_view name) {
  for (Fact f : kFacts) {
    if (fact_name(f) == name) return f;
  }
  return std::nullopt;
}

Fact scan_fact(Category category) {
  const auto bit = static_cast<std::size_t>(std::countr_zero(static_cast<std::uint64_t>(category)));
  return kFacts[static_cast<std::size_t>(Fact::scan_wpallowed) + bit];
}

std::uint64_t kernel_hugetlb_page_size() {
  return meminfo_value("Hugepagesize").value_or(0) * 1024;
}

std::string kernel_thp_mode() {
  const std::string knob = first_line(std::string(kThpDir) + "enabled");
  const auto open = knob.find('['), close = knob.find(']');
  if (open == std::string::npos || close == std::string::npos || close < open) return knob;
  return knob.substr(open + 1, close - open - 1);
}

Categories accepted_scan_categories() {
  Categories accepted;
  for (Category c : kAllCategories) {
    if (kernel_has(scan_fact(c))) accepted |= c;
  }
  return accepted;
}

std::uint64_t kernel_user_address_limit() {
  static const std::uint64_t limit = []() -> std::uint64_t {
    const std::uint64_t page = page_size();
    if (!kernel_has(Fact::pagemap_scan)) return (1ull << 47) - page;
    int fd = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    auto accepted = [&](std::uint64_t at) {
      uapi::pm_scan_arg a{};
      a.size = sizeof a;
      a.start = a.end = at;  // empty: validated, never walked
      return ::ioctl(fd, uapi::PAGEMAP_SCAN, &a) == 0;
    };
    // In pages: lo is accepted, hi is not.
    std::uint64_t lo = 0, hi = ~0ull / page;
    while (hi - lo > 1) {
      const std::uint64_t mid = lo + (hi - lo) / 2;
      (accepted(mid * page) ? lo : hi) = mid;
    }
    ::close(fd);
    return lo * page;
  }();
  return limit;
}

bool fact_required(Fact fact) {
  for (Fact f : required().facts) {
    if (f == fact) return true;
  }
  return false;
}

std::string unknown_required_names() {
  const auto& unknown = required().unknown;
  if (unknown.empty()) return "";
  std::string text = "PAGESCAN_REQUIRE names unknown facts:";
  for (const auto& name : unknown) text += " '" + name + "'";
  text += "\nthe known facts are:";
  std::size_t column = 80;  // wrap the list at 80 columns
  for (Fact f : kFacts) {
    const std::string_view name = fact_name(f);
    if (column + 1 + name.size() > 80) text += "\n ", column = 1;
    text += " " + std::string(name);
    column += 1 + name.size();
  }
  return text;
}

std::optional<AbsentFact> absent_fact(Fact fact) {
  const KernelFact& k = kernel_fact(fact);
  if (k.present) return std::nullopt;
  const std::string name(fact_name(fact));
  if (fact_required(fact)) {
    return AbsentFact{true, "PAGESCAN_REQUIRE names " + name + ", but " + k.finding};
  }
  return AbsentFact{false, k.finding + " [" + name + "]"};
}

}  // namespace pagescan::test
