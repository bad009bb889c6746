// Peak memory of scanning a process with 100 000 VMAs and 10^6 regions:
// streaming scan_each() against the complete scan(), on the kernel backend and on the
// emulated one.
//
// How it is measured. A target child builds the layout: one anonymous mapping of
// vmas x 2r pages, every other block of 2r pages made read-only (so neighbouring blocks
// cannot merge and each block is its own VMA), and the even pages of every block read,
// which maps the shared zero page: every block then holds r one-page PRESENT regions,
// and the whole layout costs page tables only, not 4 KiB per region. For each method a
// fresh scanner child is forked, attaches to the target, resets its own peak RSS
// (`echo 5 > /proc/self/clear_refs` sets VmHWM to the current VmRSS), reads VmRSS, runs
// one scan for PRESENT over the whole mapping and reads VmHWM: the growth is the memory
// the scan itself touched at its peak. A `none` method (attach only) gives the noise
// floor. Every scan must find exactly vmas x r regions, or the row reports an error.
// The default layouts separate what grows with VMAs from what grows with regions:
// 10 000 x 10, 100 000 x 10 (100 000 VMAs and 10^6 regions), 1 000 x 1 000.
//
// 100 000 VMAs exceed the default vm.max_map_count (65530): the benchmark raises it while
// it runs and puts the old value back on every way out (normal return, exit, SIGINT,
// SIGTERM, SIGHUP, SIGQUIT); without root the layouts that do not fit report an error.
//
// Usage: bench_resources [--layout=VMAS:REGIONS_PER_VMA]...
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <span>
#include <string>
#include <vector>

#include "pagescan/features.hpp"
#include "pagescan/scan.hpp"

namespace pagescan::bench {
namespace {

// A layout: `vmas` VMAs of 2 x regions_per_vma pages, each holding regions_per_vma
// one-page PRESENT regions.
struct Layout {
  std::size_t vmas = 0;
  std::size_t regions_per_vma = 10;
  std::size_t pages_per_vma() const { return 2 * regions_per_vma; }
};
const char kMaxMapCount[] = "/proc/sys/vm/max_map_count";

// ---- vm.max_map_count, raised while the benchmark runs ----

// The value to put back, preformatted so a signal handler can write it.
char g_previous_text[32];
std::size_t g_previous_len = 0;
volatile sig_atomic_t g_raised = 0;

void write_max_map_count_raw() {
  int fd = ::open(kMaxMapCount, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return;
  (void)!::write(fd, g_previous_text, g_previous_len);
  ::close(fd);
}

void restore_and_reraise(int sig) {
  if (g_raised) write_max_map_count_raw();
  g_raised = 0;
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

// In a forked child: the parent owns the setting, the child must not restore it.
void forget_max_map_count_in_child() {
  g_raised = 0;
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) ::signal(sig, SIG_DFL);
}

void restore_at_exit() {
  if (g_raised) write_max_map_count_raw();
  g_raised = 0;
}

std::uint64_t read_max_map_count() {
  std::ifstream in(kMaxMapCount);
  std::uint64_t v = 0;
  in >> v;
  return v;
}

// Raises vm.max_map_count to at least `wanted` while it lives; the destructor, exit() and
// the usual termination signals all put the previous value back.
class MaxMapCount {
 public:
  explicit MaxMapCount(std::uint64_t wanted) {
    previous_ = read_max_map_count();
    if (previous_ >= wanted) return;
    g_previous_len = static_cast<std::size_t>(
        std::snprintf(g_previous_text, sizeof g_previous_text, "%" PRIu64 "\n", previous_));
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) ::signal(sig, restore_and_reraise);
    std::atexit(restore_at_exit);
    g_raised = 1;  // before the write: a signal right after it must restore
    std::ofstream out(kMaxMapCount);
    out << wanted << '\n';
    out.flush();
    if (read_max_map_count() < wanted) restore_at_exit();
  }
  ~MaxMapCount() { restore_at_exit(); }
  MaxMapCount(const MaxMapCount&) = delete;
  MaxMapCount& operator=(const MaxMapCount&) = delete;
  std::uint64_t previous() const { return previous_; }

 private:
  std::uint64_t previous_ = 0;
};

// ---- the target ----

std::size_t page_size() {
  return static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

// Blocks until the other end of the pipe is closed (or the parent dies).
void wait_for_eof(int fd) {
  char c;
  while (::read(fd, &c, 1) > 0) {
  }
}

class Target {
 public:
  explicit Target(Layout layout) : layout_(layout) {
    int ready[2], control[2];
    if (::pipe(ready) != 0 || ::pipe(control) != 0) std::abort();
    pid_ = ::fork();
    if (pid_ < 0) std::abort();
    if (pid_ == 0) {
      forget_max_map_count_in_child();
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::close(ready[0]);
      ::close(control[1]);
      std::uint64_t base = build(layout);
      (void)!::write(ready[1], &base, sizeof base);
      ::close(ready[1]);
      wait_for_eof(control[0]);
      ::_exit(0);
    }
    ::close(ready[1]);
    ::close(control[0]);
    control_ = control[1];
    if (::read(ready[0], &base_, sizeof base_) != sizeof base_) base_ = 0;
    ::close(ready[0]);
  }
  ~Target() {
    ::close(control_);
    ::waitpid(pid_, nullptr, 0);
  }
  Target(const Target&) = delete;
  Target& operator=(const Target&) = delete;

  pid_t pid() const { return pid_; }
  std::uint64_t start() const { return base_; }
  std::uint64_t end() const { return base_ + layout_.vmas * layout_.pages_per_vma() * page_size(); }
  std::size_t expected_regions() const { return layout_.vmas * layout_.regions_per_vma; }
  std::size_t vma_count() const {
    std::ifstream in("/proc/" + std::to_string(pid_) + "/maps");
    std::size_t n = 0;
    for (std::string line; std::getline(in, line);) ++n;
    return n;
  }

 private:
  // Returns the mapping's base, or 0 if the layout could not be built.
  static std::uint64_t build(Layout layout) {
    const std::size_t vmas = layout.vmas, page = page_size();
    const std::size_t block = layout.pages_per_vma() * page;
    auto* p = static_cast<char*>(::mmap(nullptr, vmas * block, PROT_READ | PROT_WRITE,
                                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
    if (p == MAP_FAILED) return 0;
    ::madvise(p, vmas * block, MADV_NOHUGEPAGE);
    for (std::size_t v = 1; v < vmas; v += 2) {
      if (::mprotect(p + v * block, block, PROT_READ) != 0) return 0;  // max_map_count
    }
    for (std::size_t v = 0; v < vmas; ++v) {
      for (std::size_t i = 0; i < layout.pages_per_vma(); i += 2) {
        (void)*static_cast<volatile char*>(p + v * block + i * page);  // the zero page
      }
    }
    return reinterpret_cast<std::uint64_t>(p);
  }

  Layout layout_;
  pid_t pid_ = -1;
  int control_ = -1;
  std::uint64_t base_ = 0;
};

// ---- the scanner ----

enum class Method { none, streaming, complete };

struct Case {
  const char* name;
  Method method;
  BackendChoice backend;
};

constexpr Case kCases[] = {
    {"none (attach only)", Method::none, BackendChoice::kernel},
    {"scan_each, kernel", Method::streaming, BackendChoice::kernel},
    {"scan(), kernel", Method::complete, BackendChoice::kernel},
    {"scan_each, emulated", Method::streaming, BackendChoice::emulated},
    {"scan(), emulated", Method::complete, BackendChoice::emulated},
};

struct Measurement {
  int error = 0;  // 0, or an errno / -1 for a wrong region count
  std::uint64_t regions = 0;
  std::uint64_t calls = 0;
  std::uint64_t rss_before_kib = 0;
  std::uint64_t hwm_after_kib = 0;
  double seconds = 0;
  char message[200] = {};
};

std::uint64_t status_kib(const char* field) {
  std::ifstream in("/proc/self/status");
  const std::size_t n = std::strlen(field);
  for (std::string line; std::getline(in, line);) {
    if (line.compare(0, n, field) == 0) return std::strtoull(line.c_str() + n, nullptr, 10);
  }
  return 0;
}

// Resets VmHWM to the current VmRSS (proc(5), clear_refs value 5).
bool reset_peak_rss() {
  int fd = ::open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = ::write(fd, "5", 1) == 1;
  ::close(fd);
  return ok;
}

// Runs in the scanner child.
Measurement measure(const Target& target, const Case& c) {
  Measurement m;
  auto fail = [&](int err, const std::string& why) {
    m.error = err;
    std::snprintf(m.message, sizeof m.message, "%s", why.c_str());
    return m;
  };
  auto process = Process::attach(target.pid());
  if (!process) return fail(process.error().errno_value(), process.error().message());
  if (!reset_peak_rss()) return fail(errno, "cannot reset the peak RSS (clear_refs 5)");
  const ScanRequest request = ScanRequest::over(target.start(), target.end())
                                  .all_of(Category::present)
                                  .returning(Category::present);
  ScanOptions options;
  options.backend = c.backend;
  m.rss_before_kib = status_kib("VmRSS:");
  const auto t0 = std::chrono::steady_clock::now();
  if (c.method == Method::streaming) {
    std::uint64_t seen = 0;
    auto r = scan_each(
        *process, request,
        [&](std::span<const PageRegion> chunk) {
          seen += chunk.size();
          return true;
        },
        options);
    if (!r) return fail(r.error().errno_value(), r.error().message());
    m.regions = seen;
    m.calls = r->kernel_calls;
  } else if (c.method == Method::complete) {
    auto r = scan(*process, request, options);
    if (!r) return fail(r.error().errno_value(), r.error().message());
    m.regions = r->regions.size();
    m.calls = r->kernel_calls;
  }
  m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  m.hwm_after_kib = status_kib("VmHWM:");
  if (c.method != Method::none && m.regions != target.expected_regions()) {
    return fail(-1, "found " + std::to_string(m.regions) + " regions, expected " +
                        std::to_string(target.expected_regions()));
  }
  return m;
}

// Forks a fresh scanner for one case and collects its measurement.
Measurement run_case(const Target& target, const Case& c) {
  int result[2];
  if (::pipe(result) != 0) std::abort();
  pid_t pid = ::fork();
  if (pid < 0) std::abort();
  if (pid == 0) {
    forget_max_map_count_in_child();
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::close(result[0]);
    Measurement m = measure(target, c);
    (void)!::write(result[1], &m, sizeof m);
    ::_exit(0);
  }
  ::close(result[1]);
  Measurement m;
  if (::read(result[0], &m, sizeof m) != sizeof m) {
    m = Measurement{};
    m.error = -1;
    std::snprintf(m.message, sizeof m.message, "the scanner died");
  }
  ::close(result[0]);
  ::waitpid(pid, nullptr, 0);
  return m;
}

double mib(std::uint64_t kib) {
  return static_cast<double>(kib) / 1024.0;
}

void run_layout(Layout layout) {
  const std::size_t vmas = layout.vmas;
  Target target(layout);
  if (target.start() == 0) {
    std::printf("%zu VMAs: the target could not build its layout (vm.max_map_count %" PRIu64 ")\n",
                vmas, read_max_map_count());
    return;
  }
  std::printf(
      "\n%zu VMAs x %zu regions (the target has %zu mappings in all), %zu regions, "
      "%.1f GiB range\n",
      vmas, layout.regions_per_vma, target.vma_count(), target.expected_regions(),
      static_cast<double>(target.end() - target.start()) / (1u << 30));
  std::printf("| method | regions | calls | time (s) | RSS before (MiB) | peak growth (MiB) |\n");
  std::printf("|---|---:|---:|---:|---:|---:|\n");
  for (const Case& c : kCases) {
    Measurement m = run_case(target, c);
    if (m.error) {
      std::printf("| %s | error %d: %s | | | | |\n", c.name, m.error, m.message);
      continue;
    }
    std::printf("| %s | %" PRIu64 " | %" PRIu64 " | %.2f | %.1f | %.1f |\n", c.name, m.regions,
                m.calls, m.seconds, mib(m.rss_before_kib),
                mib(m.hwm_after_kib > m.rss_before_kib ? m.hwm_after_kib - m.rss_before_kib : 0));
    std::fflush(stdout);
  }
}

}  // namespace
}  // namespace pagescan::bench

int main(int argc, char** argv) {
  using namespace pagescan::bench;
  std::vector<Layout> layouts;
  for (int i = 1; i < argc; ++i) {
    Layout l;
    char* rest = nullptr;
    if (std::strncmp(argv[i], "--layout=", 9) == 0) {
      l.vmas = std::strtoull(argv[i] + 9, &rest, 10);
      if (*rest == ':') l.regions_per_vma = std::strtoull(rest + 1, &rest, 10);
    }
    if (!rest || *rest || l.vmas == 0 || l.regions_per_vma == 0) {
      std::fprintf(stderr, "usage: %s [--layout=VMAS:REGIONS_PER_VMA]...\n", argv[0]);
      return 2;
    }
    layouts.push_back(l);
  }
  if (layouts.empty()) layouts = {{10'000, 10}, {100'000, 10}, {1'000, 1'000}};
  if (!pagescan::features().pagemap_scan) {
    std::fprintf(stderr, "bench_resources: the kernel lacks PAGEMAP_SCAN\n");
    return 1;
  }
  std::size_t most = 0;
  for (const Layout& l : layouts) most = std::max(most, l.vmas);
  // The layout plus the target's and the scanner's own mappings, with room to spare.
  MaxMapCount guard(most + 65530);
  std::printf("vm.max_map_count %" PRIu64 " (was %" PRIu64 ", restored at exit)\n",
              read_max_map_count(), guard.previous());
  for (const Layout& l : layouts) run_layout(l);
  return 0;
}
