// The library's first scan, write watch and snapshot leave no hidden side effect in the
// caller's process: no fork, no clear_refs write, no probing mapping, no THP advice
// outside the caller's region (include/pagescan/features.hpp, watch.hpp).
//
// How it is observed: each case runs in a fresh exec of this binary (a DISABLED test run
// by name), so every process-wide cache of the library is cold. There the main thread
// records its own system calls through a seccomp filter that hands clone/fork, mmap,
// mremap, madvise and open calls to a supervisor thread (SECCOMP_RET_USER_NOTIF; the
// supervisor was started before the filter, so it is not filtered), which notes each one
// and lets it run (SECCOMP_USER_NOTIF_FLAG_CONTINUE). Transient effects (a probe that
// maps a page and unmaps it, a child forked and reaped) are caught that way, where a
// before/after look at /proc/self/maps would miss them; that look is done too. A control
// case runs features(), documented to fork and map a scratch page, through the same
// recorder and expects to see both: the recorder can fail.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <malloc.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

// LeakSanitizer runs with ASan (GCC's macro; clang's __has_feature).
#if defined(__SANITIZE_ADDRESS__)
#define PAGESCAN_LSAN_INTERFACE 1
#elif defined(__has_feature)
#define PAGESCAN_LSAN_INTERFACE __has_feature(address_sanitizer)
#else
#define PAGESCAN_LSAN_INTERFACE 0
#endif
#if PAGESCAN_LSAN_INTERFACE
#include <sanitizer/lsan_interface.h>
#endif

#include "emulate/zero_pages.hpp"
#include "kernel/uapi.hpp"
#include "pagescan/features.hpp"
#include "pagescan/scan.hpp"
#include "pagescan/snapshot.hpp"
#include "pagescan/watch.hpp"
#include "support/cli_runner.hpp"
#include "support/kernel_facts.hpp"
#include "support/sanitizers.hpp"
#include "support/watch_helpers.hpp"

namespace pagescan {
namespace {

using test::CliRun;
using test::Fact;
using test::run_program;

// ---- The recorder ------------------------------------------------------------------

struct Call {
  int nr = 0;
  int pid = 0;
  std::uint64_t args[6] = {};
  char path[128] = {};  // openat/open: the path argument
};

// Fixed storage: the supervisor never allocates (the main thread may be blocked inside
// malloc's own mmap, holding its lock).
struct Recording {
  static constexpr int kMax = 4096;
  Call calls[kMax];
  std::atomic<int> count{0};
  std::atomic<bool> recording{false};
};

Recording& recording() {
  static Recording r;
  return r;
}

#if defined(__x86_64__)
constexpr std::uint32_t kAuditArch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
constexpr std::uint32_t kAuditArch = AUDIT_ARCH_AARCH64;
#else
constexpr std::uint32_t kAuditArch = 0;
#endif

// The calls some architectures lack (arm64 has no fork, vfork or open), or -1.
#ifdef SYS_fork
constexpr long kFork = SYS_fork;
#else
constexpr long kFork = -1;
#endif
#ifdef SYS_vfork
constexpr long kVfork = SYS_vfork;
#else
constexpr long kVfork = -1;
#endif
#ifdef SYS_open
constexpr long kOpen = SYS_open;
#else
constexpr long kOpen = -1;
#endif
#ifdef SYS_openat2
constexpr long kOpenat2 = SYS_openat2;
#else
constexpr long kOpenat2 = -1;
#endif

std::vector<int> watched_syscalls() {
  std::vector<int> nrs = {SYS_clone, SYS_mmap, SYS_mremap, SYS_madvise, SYS_openat};
#ifdef SYS_clone3
  nrs.push_back(SYS_clone3);
#endif
  for (long nr : {kFork, kVfork, kOpen, kOpenat2}) {
    if (nr >= 0) nrs.push_back(static_cast<int>(nr));
  }
  return nrs;
}

void supervise(int listener) {
  Recording& r = recording();
  for (;;) {
    seccomp_notif req;
    std::memset(&req, 0, sizeof req);  // RECV refuses a buffer that is not zeroed
    if (::syscall(SYS_ioctl, listener, SECCOMP_IOCTL_NOTIF_RECV, &req) != 0) {
      if (errno == EINTR || errno == ENOENT) continue;
      return;
    }
    if (r.recording.load()) {
      int at = r.count.fetch_add(1);
      if (at < Recording::kMax) {
        Call& c = r.calls[at];
        c.nr = req.data.nr;
        c.pid = static_cast<int>(req.pid);
        for (int i = 0; i < 6; ++i) c.args[i] = req.data.args[i];
        // Same address space (or a fork()ed copy of it): the path can be read directly.
        const char* path = nullptr;
        if (req.data.nr == SYS_openat || req.data.nr == kOpenat2) {
          path = reinterpret_cast<const char*>(req.data.args[1]);
        } else if (req.data.nr == kOpen) {
          path = reinterpret_cast<const char*>(req.data.args[0]);
        }
        if (path && req.pid == static_cast<std::uint32_t>(::getpid())) {
          std::strncpy(c.path, path, sizeof c.path - 1);
        }
#ifdef SYS_clone3
        if (req.data.nr == SYS_clone3 && req.pid == static_cast<std::uint32_t>(::getpid())) {
          c.args[0] = reinterpret_cast<const clone_args*>(req.data.args[0])->flags;
        }
#endif
      }
    }
    seccomp_notif_resp resp;
    std::memset(&resp, 0, sizeof resp);
    resp.id = req.id;
    resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
    (void)::syscall(SYS_ioctl, listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);
  }
}

// Installs the filter on the calling thread (and what it forks), served by a detached
// supervisor thread. Returns "" or why it cannot.
std::string start_recorder() {
  if (kAuditArch == 0) return "no seccomp recorder for this architecture";
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) return "pipe failed";
  // Started before the filter: the supervisor's own calls are not filtered.
  std::thread([fd = pipe_fds[0]] {
    int listener = -1;
    if (::read(fd, &listener, sizeof listener) != sizeof listener || listener < 0) return;
    supervise(listener);
  }).detach();
  std::vector<sock_filter> prog = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kAuditArch, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
  };
  for (int nr : watched_syscalls()) {
    prog.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<std::uint32_t>(nr), 0, 1));
    prog.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF));
  }
  prog.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  sock_fprog fprog{static_cast<unsigned short>(prog.size()), prog.data()};
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return "PR_SET_NO_NEW_PRIVS failed";
  long listener =
      ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &fprog);
  int fd = static_cast<int>(listener);
  if (::write(pipe_fds[1], &fd, sizeof fd) != sizeof fd) return "pipe write failed";
  if (listener < 0) {
    return std::string("seccomp user notification unavailable: ") + std::strerror(errno);
  }
  return "";
}

std::vector<Call> recorded() {
  Recording& r = recording();
  int n = std::min(r.count.load(), Recording::kMax);
  return std::vector<Call>(r.calls, r.calls + n);
}

// ---- What the recorder saw -----------------------------------------------------------

bool is_fork(const Call& c) {
  if (c.nr == SYS_clone) return !(c.args[0] & CLONE_THREAD);
#ifdef SYS_clone3
  if (c.nr == SYS_clone3) return !(c.args[0] & CLONE_THREAD);
#endif
  return c.nr == kFork || c.nr == kVfork;
}

bool is_open(const Call& c) {
  return c.nr == SYS_openat || c.nr == kOpen || c.nr == kOpenat2;
}

bool opens_clear_refs(const Call& c) {
  return is_open(c) && std::strstr(c.path, "clear_refs") != nullptr;
}

std::string describe(const Call& c) {
  std::ostringstream out;
  out << "syscall " << c.nr << " by pid " << c.pid << " args 0x" << std::hex << c.args[0] << ", 0x"
      << c.args[1] << ", 0x" << c.args[2] << ", 0x" << c.args[3];
  if (c.path[0]) out << " path " << c.path;
  return out.str();
}

// ---- The caller's view of its own address space ------------------------------------

struct VmaView {
  std::uint64_t start = 0, end = 0;
  std::string perms, name;
  bool hg = false, nh = false;
};

std::vector<VmaView> read_smaps() {
  std::vector<VmaView> out;
  std::FILE* f = std::fopen("/proc/self/smaps", "re");
  if (!f) return out;
  char line[512];
  while (std::fgets(line, sizeof line, f)) {
    unsigned long long lo, hi;
    char perms[8] = {};
    int name_at = 0;
    if (std::sscanf(line, "%llx-%llx %7s %*s %*s %*s%n", &lo, &hi, perms, &name_at) == 3) {
      VmaView v;
      v.start = lo;
      v.end = hi;
      v.perms = perms;
      std::string name = line + name_at;
      while (!name.empty() && (name.back() == '\n' || name.back() == ' ')) name.pop_back();
      while (!name.empty() && name.front() == ' ') name.erase(0, 1);
      v.name = name;
      out.push_back(v);
    } else if (std::strncmp(line, "VmFlags:", 8) == 0 && !out.empty()) {
      out.back().hg = std::strstr(line, " hg") != nullptr;
      out.back().nh = std::strstr(line, " nh") != nullptr;
    }
  }
  std::fclose(f);
  return out;
}

// The caller's region, with a PROT_NONE page on each side so its VMA never merges with
// a neighbour (a VMA overlapping the region is the region's, whatever the engine splits).
struct Region {
  char* base = nullptr;
  std::size_t len = 0;
  std::uint64_t start() const { return reinterpret_cast<std::uint64_t>(base); }
  std::uint64_t end() const { return start() + len; }
  bool overlaps(std::uint64_t lo, std::uint64_t hi) const { return lo < end() && hi > start(); }
  bool contains(std::uint64_t lo, std::uint64_t hi) const { return lo >= start() && hi <= end(); }
};

Region make_region(std::size_t pages) {
  const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  void* raw = ::mmap(nullptr, (pages + 2) * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return {};
  Region r{static_cast<char*>(raw) + page, pages * page};
  if (::mprotect(r.base, r.len, PROT_READ | PROT_WRITE) != 0) return {};
  for (std::size_t i = 0; i < pages; i += 2) r.base[i * page] = 1;  // some present
  return r;
}

// What a case may have done besides the calls it is documented to make.
struct Allowed {
  int mmaps = 0;  // the mprotect engine's bitmap, a snapshot's image and placeholders
  bool new_vmas = false;
};

// Runs `op` once, recording, then checks the recording and the address space against
// the documented side effects.
template <class Op>
void expect_no_hidden_side_effects(const Region& region, Allowed allowed, Op op) {
  const auto before = read_smaps();
  recording().count = 0;
  recording().recording = true;
  op();
  recording().recording = false;
  const auto calls = recorded();
  const auto after = read_smaps();
  ASSERT_LT(calls.size(), static_cast<std::size_t>(Recording::kMax)) << "recording overflowed";

  int mmaps = 0, opens = 0;
  for (const Call& c : calls) {
    opens += is_open(c);
    EXPECT_FALSE(is_fork(c)) << "forked the caller: " << describe(c);
    EXPECT_FALSE(opens_clear_refs(c)) << "opened clear_refs: " << describe(c);
    // Under a sanitizer only the advice the library could give counts: the runtime's
    // allocator advises its own memory (MADV_DONTNEED on free) in the same thread.
    const bool library_advice = c.args[2] == MADV_HUGEPAGE || c.args[2] == MADV_NOHUGEPAGE ||
                                c.args[2] == uapi::kMadvGuardInstall;
    if (c.nr == SYS_madvise && (library_advice || !test::kUnderSanitizer)) {
      EXPECT_TRUE(region.contains(c.args[0], c.args[0] + c.args[1]))
          << "advice outside the caller's region: " << describe(c);
    }
    if (c.nr == SYS_mmap || c.nr == SYS_mremap) {
      ++mmaps;
      if (!test::kUnderSanitizer) {
        EXPECT_LE(mmaps, allowed.mmaps) << "mapped memory: " << describe(c);
      }
    }
  }

  // Each case opens a /proc file at least (pagemap, maps or smaps): a recording without
  // any open means the recorder was not listening.
  EXPECT_GT(opens, 0) << "the recorder saw no open(2): it was not recording";

  // THP advice of every VMA outside the region is what it was.
  std::map<std::uint64_t, VmaView> old;
  for (const VmaView& v : before) old[v.start] = v;
  for (const VmaView& v : after) {
    if (region.overlaps(v.start, v.end)) continue;
    auto was = old.find(v.start);
    if (was == old.end()) {
      // Heap growth keeps its start; a VMA that is new outside the region is a mapping.
      if (!allowed.new_vmas && !test::kUnderSanitizer) {
        ADD_FAILURE() << "a new VMA outside the region: " << std::hex << v.start << "-" << v.end
                      << " " << v.perms << " " << v.name;
      }
      continue;
    }
    EXPECT_EQ(v.hg, was->second.hg) << "MADV_HUGEPAGE changed at " << std::hex << v.start;
    EXPECT_EQ(v.nh, was->second.nh) << "MADV_NOHUGEPAGE changed at " << std::hex << v.start;
  }
}

// Every child case starts the same way: the environment's overrides off (this is about
// what the library chooses by itself), large allocations from the heap rather than
// mmap (so a recorded mmap is the library's), and the recorder on.
void child_setup() {
  ::unsetenv("PAGESCAN_WATCH_ENGINE");
  ::unsetenv("PAGESCAN_BACKEND");
  ::mallopt(M_MMAP_THRESHOLD, 32 << 20);
  ::mallopt(M_TOP_PAD, 16 << 20);
#if PAGESCAN_LSAN_INTERFACE
  // LeakSanitizer's exit-time check stops every thread with ptrace, the supervisor
  // included, then makes system calls the filter hands to that stopped supervisor: the
  // child would hang at exit. Check for leaks now, before the filter; the check then does
  // not run again at exit.
  __lsan_do_leak_check();
#endif
  std::string why = start_recorder();
  if (!why.empty()) GTEST_SKIP() << why;
}

#define CHILD_SETUP()                         \
  do {                                        \
    child_setup();                            \
    if (::testing::Test::IsSkipped()) return; \
  } while (0)

// ---- Child cases (run by the parent tests below, each in a fresh process) ------------

TEST(SideEffectsChild, DISABLED_FirstScan) {
  Region region = make_region(16);
  ASSERT_NE(region.base, nullptr);
  CHILD_SETUP();
  expect_no_hidden_side_effects(region, {}, [&] {
    auto self = Process::self();
    ASSERT_TRUE(self) << self.error().message();
    auto r = scan(*self, ScanRequest::over(region.start(), region.end()).any_of(Category::present));
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->pages, 8u);
  });
}

TEST(SideEffectsChild, DISABLED_FirstEmulatedScan) {
  Region region = make_region(16);
  ASSERT_NE(region.base, nullptr);
  CHILD_SETUP();
  expect_no_hidden_side_effects(region, {}, [&] {
    auto self = Process::self();
    ASSERT_TRUE(self) << self.error().message();
    ScanOptions options;
    options.backend = BackendChoice::emulated;
    auto r = scan(*self, ScanRequest::over(region.start(), region.end()).any_of(Category::present),
                  options);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->pages, 8u);
  });
}

void first_watch(WatchEngine engine, Allowed allowed) {
  // The tests' own kernel facts, probed before the recording starts; the library's
  // caches stay cold.
  for (Fact needed : test::engine_facts(engine)) {
    PAGESCAN_REQUIRE_FACT(needed);
  }
  Region region = make_region(16);
  ASSERT_NE(region.base, nullptr);
  CHILD_SETUP();
  expect_no_hidden_side_effects(region, allowed, [&] {
    WatchOptions options;
    options.engine = engine;
    auto w = WriteWatch::create(region.base, region.len, options);
    ASSERT_TRUE(w) << w.error().message();
    std::printf("engine=%s\n", std::string(to_string(w->engine())).c_str());
    region.base[3 * ::sysconf(_SC_PAGESIZE)] = 2;
    auto h = w->collect(region.base, region.len);
    ASSERT_TRUE(h) << h.error().message();
    EXPECT_GE(h->pages, 1u);
  });
}

TEST(SideEffectsChild, DISABLED_FirstAutomaticWatch) {
  // Automatic may take mprotect (no uffd here), whose bitmap is one documented mapping.
  first_watch(WatchEngine::automatic, {1, true});
}
TEST(SideEffectsChild, DISABLED_FirstUffdWatch) {
  first_watch(WatchEngine::uffd, {});
}
TEST(SideEffectsChild, DISABLED_FirstMprotectWatch) {
  first_watch(WatchEngine::mprotect, {1, true});
}

TEST(SideEffectsChild, DISABLED_FirstSnapshot) {
  Region region = make_region(16);
  ASSERT_NE(region.base, nullptr);
  CHILD_SETUP();
  // The image, the two placeholders beside the region (snapshot.hpp) and the mprotect
  // engine's bitmap if automatic took it.
  expect_no_hidden_side_effects(region, {4, true}, [&] {
    auto s = RegionSnapshot::capture(region.base, region.len);
    ASSERT_TRUE(s) << s.error().message();
    region.base[0] = 9;
    auto restored = s->restore();
    ASSERT_TRUE(restored) << restored.error().message();
    EXPECT_EQ(region.base[0], 1);
  });
}

// The control: features() is documented to fork and to map a scratch page, and the
// recorder must see both, or it proves nothing.
TEST(SideEffectsChild, DISABLED_FeaturesIsSeenToForkAndMap) {
  CHILD_SETUP();
  recording().count = 0;
  recording().recording = true;
  const Features& f = features();
  recording().recording = false;
  EXPECT_FALSE(f.kernel_release.empty());
  int forks = 0, mmaps = 0;
  for (const Call& c : recorded()) {
    forks += is_fork(c);
    mmaps += c.nr == SYS_mmap && c.pid == ::getpid();
  }
  EXPECT_EQ(forks, 1);
  EXPECT_GE(mmaps, 1);
}

// ---- The parent tests --------------------------------------------------------------

// Runs SideEffectsChild.DISABLED_<name> in a fresh exec of this binary and expects it to
// pass; a skip there is a skip here, with its reason.
void run_child(const std::string& name) {
  if (test::kUnderTsan) {
    GTEST_SKIP() << "TSan's runtime forks and maps memory itself: the recording cannot "
                    "tell its calls from the library's";
  }
  char self[4096] = {};
  ASSERT_GT(::readlink("/proc/self/exe", self, sizeof self - 1), 0);
  CliRun run = run_program(self, {"--gtest_also_run_disabled_tests",
                                  "--gtest_filter=SideEffectsChild.DISABLED_" + name});
  if (run.exit_code == test::kAllSkippedExitCode) {
    auto at = run.out.find("Skipped");
    GTEST_SKIP() << "child skipped: "
                 << (at == std::string::npos ? run.out : run.out.substr(at, 200));
  }
  EXPECT_EQ(run.exit_code, 0) << run.describe() << "\n" << run.out;
  EXPECT_NE(run.out.find("[  PASSED  ] 1 test"), std::string::npos) << run.out;
}

TEST(SideEffects, FirstScanForksNothingMapsNothing) {
  run_child("FirstScan");
}
TEST(SideEffects, FirstEmulatedScanMapsNothingToLearnTheZeroPage) {
  run_child("FirstEmulatedScan");
}
TEST(SideEffects, FirstAutomaticWatchRunsNoSelfTestAndNoForkingProbe) {
  run_child("FirstAutomaticWatch");
}
TEST(SideEffects, FirstUffdWatchMapsNothingOutsideTheRegion) {
  run_child("FirstUffdWatch");
}
TEST(SideEffects, FirstMprotectWatchMapsOnlyItsBitmap) {
  run_child("FirstMprotectWatch");
}
TEST(SideEffects, FirstSnapshotMapsOnlyItsImageAndPlaceholders) {
  run_child("FirstSnapshot");
}
TEST(SideEffects, TheRecorderSeesFeaturesForkAndMap) {
  run_child("FeaturesIsSeenToForkAndMap");
}

// Automatic never takes soft-dirty (its collect can lose writes), so its choice is one
// of the documented order.
TEST(SideEffects, AutomaticOrderHoldsOnlyNeverLosingEngines) {
  for (WatchEngine e : kAutomaticWatchOrder) EXPECT_NE(e, WatchEngine::soft_dirty);
  const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  void* mem = ::mmap(nullptr, 4 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  {
    const char* env = std::getenv("PAGESCAN_WATCH_ENGINE");
    std::string saved = env ? env : "";
    ::unsetenv("PAGESCAN_WATCH_ENGINE");
    auto w = WriteWatch::create(mem, 4 * page);
    if (env) ::setenv("PAGESCAN_WATCH_ENGINE", saved.c_str(), 1);
    ASSERT_TRUE(w) << w.error().message();
    EXPECT_NE(w->engine(), WatchEngine::soft_dirty);
    bool listed = false;
    for (WatchEngine e : kAutomaticWatchOrder) listed |= e == w->engine();
    EXPECT_TRUE(listed) << to_string(w->engine());
  }
  ::munmap(mem, 4 * page);
}

// The emulator's zero PFN, learnt without mapping anything, is the PFN a read fault maps
// here, found independently (a read fault on a page of the test's own): on a kernel with
// a shared zero page they are equal; on one without (the read fault maps an exclusively
// mapped private page) the emulator must not have taken a private page for it.
TEST(SideEffects, ZeroPageLearntWithoutMappingIsTheOneReadFaultsMap) {
  const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  void* mem = ::mmap(nullptr, page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  (void)*static_cast<volatile char*>(mem);
  int fd = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  std::uint64_t e = 0;
  ASSERT_EQ(
      ::pread(fd, &e, 8, static_cast<off_t>(reinterpret_cast<std::uintptr_t>(mem) / page * 8)), 8);
  ::close(fd);
  ::munmap(mem, page);
  ASSERT_TRUE(e & uapi::PM_PRESENT);
  const std::uint64_t pfn = e & uapi::PM_PFN_MASK;
  if (pfn == 0) GTEST_SKIP() << "pagemap hides PFNs from this process: nothing to compare";
  const emulate::ZeroPages& z = emulate::zero_pages();
  EXPECT_TRUE(z.pfns_visible);
  if (e & uapi::PM_MMAP_EXCLUSIVE) {
    // No shared zero page: the page was private and is freed now.
    EXPECT_NE(z.zero_pfn, pfn) << "a private page was taken for the zero page";
    EXPECT_FALSE(z.is_zero(pfn));
    return;
  }
  if (::access("/proc/kpageflags", R_OK) != 0) {
    GTEST_SKIP() << "/proc/kpageflags unreadable: the emulator keeps its heuristic";
  }
  EXPECT_EQ(z.zero_pfn, pfn);
}

}  // namespace
}  // namespace pagescan
