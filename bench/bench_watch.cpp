// Write-tracking benchmarks: every WriteWatch engine side by side with the raw kernel
// calls (the floor), on the same memory and the same pages in one run.
//
// Benchmarks are named watch/<measure>/<method>; methods:
//   raw         the kernel calls alone: UFFDIO_REGISTER + UFFDIO_WRITEPROTECT to arm, one
//               PAGEMAP_SCAN (WRITTEN, WP_MATCHING) into a preallocated 7 MiB buffer to
//               collect and re-arm (kernel-pagemap-scan.md §3.7, §5.2);
//   uffd, soft-dirty, mprotect, everything   WriteWatch forced to that engine;
//   untracked   (first_write only) a write to an ordinary present page; untracked_fault:
//               the first touch of fresh anonymous memory (a zero-fill fault), for scale.
// Measures (times are manual, in thread CPU time, and only the part named is timed):
//   first_write       write one byte to each page of 64 MiB of present pages just armed;
//                     counter ns_per_page;
//   arm_1GiB          create the watch over 1 GiB of present pages (destroying it is not
//                     timed); counter ms;
//   collect_1GiB/<p>  collect-and-re-arm the 1 GiB after <p> per mille of its pages were
//                     written at random (the writes are not timed); counters ns_per_dirty_page,
//                     dirty (pages written), reported (pages the collect returned);
//   cycle             write 4096 random pages of the 1 GiB, then collect-and-re-arm: the
//                     whole cycle, timed; counter ns_per_dirty_page.
// The 1 GiB region is populated once with 4 KiB pages (MADV_NOHUGEPAGE first, as the
// engines do by default) and shared by every case; the random pages come from fixed seeds,
// so every method sees the same pages. Each collect is checked: a tracking engine must
// report exactly the pages written (counter exact = 1), the everything engine reports
// every page. At the end a summary table prints per-page figures and the targets:
// the uffd cycle within 1.2x of raw and >= 7x faster than mprotect; collecting 1% written
// costs at most a tenth of collecting 100%.
#include <fcntl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "kernel/pagemap_scan.hpp"
#include "kernel/uapi.hpp"
#include "kernel/userfaultfd.hpp"
#include "pagescan/scan.hpp"
#include "pagescan/watch.hpp"

namespace pagescan::bench {
namespace {

// The calling thread's CPU time: every cost measured here (write faults, the SIGSEGV
// handler, the ioctls) runs on the calling thread, and other load on the machine does
// not inflate it as it does wall time.
struct Clock {
  using time_point = std::chrono::nanoseconds;
  static time_point now() {
    timespec ts{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
  }
};
constexpr std::size_t kBigBytes = std::size_t{1} << 30;
constexpr std::size_t kSmallBytes = std::size_t{64} << 20;
constexpr std::size_t kCyclePages = 4096;
constexpr std::size_t kRawCapacity = 300'000;  // regions: more than 10% random of 1 GiB

std::size_t page_size() {
  static const auto size = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return size;
}

double elapsed_ns(Clock::time_point a, Clock::time_point b) {
  return static_cast<double>((b - a).count());
}

// Anonymous memory populated with 4 KiB pages; never unmapped (lives for the run).
char* populated(std::size_t bytes) {
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    std::perror("bench_watch: mmap");
    std::exit(1);
  }
  ::madvise(p, bytes, MADV_NOHUGEPAGE);
  std::memset(p, 1, bytes);
  return static_cast<char*>(p);
}

char* big_region() {
  static char* region = populated(kBigBytes);
  return region;
}

void touch(char* page_addr, std::uint64_t value) {
  *reinterpret_cast<volatile std::uint64_t*>(page_addr) = value;
}

enum class Method { raw, uffd, soft_dirty, mprotect, everything };
constexpr Method kMethods[] = {Method::raw, Method::uffd, Method::soft_dirty, Method::mprotect,
                               Method::everything};

WatchEngine engine_of(Method m) {
  switch (m) {
    case Method::uffd:
      return WatchEngine::uffd;
    case Method::soft_dirty:
      return WatchEngine::soft_dirty;
    case Method::mprotect:
      return WatchEngine::mprotect;
    case Method::everything:
    case Method::raw:
      break;
  }
  return WatchEngine::everything;
}

std::string name_of(Method m) {
  return m == Method::raw ? "raw" : std::string(to_string(engine_of(m)));
}

// What a benchmark needs of a tracker: arm a region, collect-and-re-arm all of it.
class Tracker {
 public:
  virtual ~Tracker() = default;
  // Pages reported, or -errno.
  virtual long long collect() = 0;
};

// The floor: the kernel calls and nothing else.
class RawTracker final : public Tracker {
 public:
  RawTracker(kernel::Userfaultfd uffd, int pagemap_fd, char* base, std::size_t len)
      : uffd_(std::move(uffd)), pagemap_fd_(pagemap_fd), base_(base), len_(len) {}
  ~RawTracker() override {
    (void)uffd_.write_protect(base_, len_, false);
    (void)uffd_.unregister(base_, len_);
    ::close(pagemap_fd_);
  }

  static Result<std::unique_ptr<Tracker>> arm(char* base, std::size_t len) {
    auto uffd =
        kernel::Userfaultfd::open(uapi::kUffdFeatureWpAsync | uapi::kUffdFeatureWpUnpopulated);
    if (!uffd) return uffd.error();
    if (auto r = uffd->register_wp(base, len); !r) return r.error();
    if (auto r = uffd->write_protect(base, len, true); !r) return r.error();
    int fd = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      // This process's own file: missing means no /proc (or no pagemap) on this kernel.
      const int err = errno;
      return Error::from_errno(err,
                               err == ENOENT ? ErrorKind::unsupported : ErrorKind::kernel_failure,
                               "open /proc/self/pagemap");
    }
    return std::unique_ptr<Tracker>(new RawTracker(std::move(*uffd), fd, base, len));
  }

  long long collect() override {
    RawScanArgs args;
    args.flags = RawScanArgs::kWpMatching;
    args.start = reinterpret_cast<std::uint64_t>(base_);
    args.end = args.start + len_;
    args.vec = reinterpret_cast<std::uint64_t>(buffer().data());
    args.vec_len = buffer().size();
    args.category_mask = uapi::PAGE_IS_WRITTEN;
    args.return_mask = uapi::PAGE_IS_WRITTEN;
    long long pages = 0;
    for (;;) {
      long n = kernel::pagemap_scan_ioctl(pagemap_fd_, args);
      if (n < 0) return n;
      for (long i = 0; i < n; ++i) {
        const PageRegion& r = buffer()[static_cast<std::size_t>(i)];
        pages += static_cast<long long>((r.end - r.start) / page_size());
      }
      // Only a full buffer makes walk_end meaningful (§2.4); it never fills here.
      if (static_cast<std::size_t>(n) < buffer().size() || args.walk_end >= args.end) break;
      args.start = args.walk_end;
    }
    return pages;
  }

 private:
  // Allocated and faulted in once, outside any timing.
  static std::vector<PageRegion>& buffer() {
    static std::vector<PageRegion> b(kRawCapacity);
    return b;
  }
  kernel::Userfaultfd uffd_;
  int pagemap_fd_;
  char* base_;
  std::size_t len_;
};

class WatchTracker final : public Tracker {
 public:
  explicit WatchTracker(WriteWatch w) : watch_(std::move(w)) {}
  long long collect() override {
    auto h = watch_.collect(watch_.base(), watch_.length());
    if (!h) return -h.error().errno_value();
    return static_cast<long long>(h->pages);
  }

 private:
  WriteWatch watch_;
};

Result<std::unique_ptr<Tracker>> arm(Method m, char* base, std::size_t len) {
  if (m == Method::raw) return RawTracker::arm(base, len);
  WatchOptions options;
  options.engine = engine_of(m);
  auto w = WriteWatch::create(base, len, options);
  if (!w) return w.error();
  return std::unique_ptr<Tracker>(new WatchTracker(std::move(*w)));
}

// Why a method cannot run here, or nullopt.
std::optional<std::string> unavailable(Method m) {
  if (m == Method::raw) {
    auto uffd =
        kernel::Userfaultfd::open(uapi::kUffdFeatureWpAsync | uapi::kUffdFeatureWpUnpopulated);
    if (!uffd) return uffd.error().message();
    return std::nullopt;
  }
  auto ok = watch_engine_available(engine_of(m));
  if (!ok) return ok.error().message();
  return std::nullopt;
}

// `count` distinct random page indexes of `pages`, in random order, from a fixed seed.
std::vector<std::size_t> random_pages(std::size_t pages, std::size_t count, std::uint64_t seed) {
  static std::vector<std::size_t> permutation;
  permutation.resize(pages);
  std::iota(permutation.begin(), permutation.end(), std::size_t{0});  // the same start
  std::mt19937_64 rng(seed);
  for (std::size_t i = 0; i < count; ++i) {
    std::uniform_int_distribution<std::size_t> pick(i, pages - 1);
    std::swap(permutation[i], permutation[pick(rng)]);
  }
  return {permutation.begin(), permutation.begin() + static_cast<std::ptrdiff_t>(count)};
}

// Best per-page figure of each case over repetitions, for the summary.
std::map<std::string, double>& best() {
  static std::map<std::string, double> b;
  return b;
}
void keep_best(const std::string& key, double value) {
  auto [it, added] = best().emplace(key, value);
  if (!added) it->second = std::min(it->second, value);
}

bool skip_if_unavailable(benchmark::State& state, Method m) {
  if (auto why = unavailable(m)) {
    state.SkipWithError(("unavailable: " + *why).c_str());
    for (auto _ : state) {
    }
    return true;
  }
  return false;
}

// The number of pages a collect must report after `written` distinct pages of `total`.
long long expected_report(Method m, std::size_t written, std::size_t total) {
  return static_cast<long long>(m == Method::everything ? total : written);
}

void first_write(benchmark::State& state, Method m) {
  if (skip_if_unavailable(state, m)) return;
  static char* region = populated(kSmallBytes);
  const std::size_t pages = kSmallBytes / page_size();
  auto tracker = arm(m, region, kSmallBytes);
  if (!tracker) {
    state.SkipWithError(tracker.error().message().c_str());
    return;
  }
  double ns = 0;
  std::uint64_t writes = 0, value = 0;
  for (auto _ : state) {
    (void)(*tracker)->collect();  // re-arm every page (untimed)
    ++value;
    auto t0 = Clock::now();
    for (std::size_t i = 0; i < pages; ++i) touch(region + i * page_size(), value);
    auto t1 = Clock::now();
    state.SetIterationTime(elapsed_ns(t0, t1) * 1e-9);
    ns += elapsed_ns(t0, t1);
    writes += pages;
  }
  state.counters["ns_per_page"] = ns / static_cast<double>(writes);
  keep_best("first_write/" + name_of(m), ns / static_cast<double>(writes));
}

// Writes to ordinary memory: present pages, or fresh ones (a zero-fill fault each).
void first_write_untracked(benchmark::State& state, bool fresh) {
  static char* region = populated(kSmallBytes);
  const std::size_t pages = kSmallBytes / page_size();
  double ns = 0;
  std::uint64_t writes = 0, value = 0;
  for (auto _ : state) {
    if (fresh) ::madvise(region, kSmallBytes, MADV_DONTNEED);
    ++value;
    auto t0 = Clock::now();
    for (std::size_t i = 0; i < pages; ++i) touch(region + i * page_size(), value);
    auto t1 = Clock::now();
    state.SetIterationTime(elapsed_ns(t0, t1) * 1e-9);
    ns += elapsed_ns(t0, t1);
    writes += pages;
  }
  state.counters["ns_per_page"] = ns / static_cast<double>(writes);
  keep_best(fresh ? "first_write/untracked_fault" : "first_write/untracked",
            ns / static_cast<double>(writes));
}

void arm_1gib(benchmark::State& state, Method m) {
  if (skip_if_unavailable(state, m)) return;
  char* region = big_region();
  double ns = 0;
  std::uint64_t n = 0;
  for (auto _ : state) {
    auto t0 = Clock::now();
    auto tracker = arm(m, region, kBigBytes);
    auto t1 = Clock::now();
    if (!tracker) {
      state.SkipWithError(tracker.error().message().c_str());
      break;
    }
    state.SetIterationTime(elapsed_ns(t0, t1) * 1e-9);
    ns += elapsed_ns(t0, t1);
    ++n;
    // The destructor (untimed) disarms before the next iteration arms again.
  }
  if (n) {
    state.counters["ms"] = ns / static_cast<double>(n) * 1e-6;
    keep_best("arm_1GiB/" + name_of(m), ns / static_cast<double>(n) * 1e-6);
  }
}

void collect_1gib(benchmark::State& state, Method m) {
  if (skip_if_unavailable(state, m)) return;
  const auto per_mille = static_cast<std::size_t>(state.range(0));
  char* region = big_region();
  const std::size_t pages = kBigBytes / page_size();
  const std::size_t dirty = pages * per_mille / 1000;
  auto tracker = arm(m, region, kBigBytes);
  if (!tracker) {
    state.SkipWithError(tracker.error().message().c_str());
    return;
  }
  // One untimed round first: the first collect after arming walks cold page tables.
  for (std::size_t i : random_pages(pages, pages / 1000, 1)) touch(region + i * page_size(), 1);
  (void)(*tracker)->collect();
  double ns = 0;
  std::uint64_t dirty_total = 0, iteration = 0;
  long long reported = 0;
  bool exact = true;
  for (auto _ : state) {
    ++iteration;
    if (dirty == pages) {
      for (std::size_t i = 0; i < pages; ++i) touch(region + i * page_size(), iteration);
    } else {
      for (std::size_t i : random_pages(pages, dirty, per_mille * 1000 + iteration)) {
        touch(region + i * page_size(), iteration);
      }
    }
    auto t0 = Clock::now();
    reported = (*tracker)->collect();
    auto t1 = Clock::now();
    if (reported < 0) {
      state.SkipWithError(
          ("collect: " + std::string(std::strerror(static_cast<int>(-reported)))).c_str());
      break;
    }
    exact = exact && reported == expected_report(m, dirty, pages);
    state.SetIterationTime(elapsed_ns(t0, t1) * 1e-9);
    ns += elapsed_ns(t0, t1);
    dirty_total += dirty;
  }
  if (dirty_total) {
    const double per_page = ns / static_cast<double>(dirty_total);
    state.counters["ns_per_dirty_page"] = per_page;
    state.counters["dirty"] = static_cast<double>(dirty);
    state.counters["reported"] = static_cast<double>(reported);
    state.counters["exact"] = exact ? 1 : 0;
    const std::string key = "collect_1GiB/" + std::to_string(per_mille) + "/" + name_of(m);
    keep_best(key, per_page);
    keep_best(key + "#ms", ns / static_cast<double>(iteration) * 1e-6);
    if (!exact) best()[key + "#inexact"] = 1;
  }
}

void cycle(benchmark::State& state, Method m) {
  if (skip_if_unavailable(state, m)) return;
  char* region = big_region();
  const std::size_t pages = kBigBytes / page_size();
  auto tracker = arm(m, region, kBigBytes);
  if (!tracker) {
    state.SkipWithError(tracker.error().message().c_str());
    return;
  }
  double ns = 0;
  std::uint64_t dirty_total = 0, iteration = 0;
  bool exact = true;
  for (auto _ : state) {
    ++iteration;
    const std::vector<std::size_t> targets = random_pages(pages, kCyclePages, 7000 + iteration);
    auto t0 = Clock::now();
    for (std::size_t i : targets) touch(region + i * page_size(), iteration);
    const long long reported = (*tracker)->collect();
    auto t1 = Clock::now();
    if (reported < 0) {
      state.SkipWithError(
          ("collect: " + std::string(std::strerror(static_cast<int>(-reported)))).c_str());
      break;
    }
    exact = exact && reported == expected_report(m, kCyclePages, pages);
    state.SetIterationTime(elapsed_ns(t0, t1) * 1e-9);
    ns += elapsed_ns(t0, t1);
    dirty_total += kCyclePages;
  }
  if (dirty_total) {
    state.counters["ns_per_dirty_page"] = ns / static_cast<double>(dirty_total);
    state.counters["exact"] = exact ? 1 : 0;
    keep_best("cycle/" + name_of(m), ns / static_cast<double>(dirty_total));
  }
}

// Iterations per case: enough to settle, few enough that the slow engines (a signal per
// first write) keep the run to a few minutes.
void register_all() {
  auto add = [](const std::string& name, auto fn, benchmark::IterationCount iterations) {
    return benchmark::RegisterBenchmark(name.c_str(), fn)
        ->UseManualTime()
        ->Iterations(iterations)
        ->Unit(benchmark::kMicrosecond);
  };
  add(
      "watch/first_write/untracked", [](benchmark::State& s) { first_write_untracked(s, false); },
      20);
  add(
      "watch/first_write/untracked_fault",
      [](benchmark::State& s) { first_write_untracked(s, true); }, 10);
  for (Method m : kMethods) {
    add(
        "watch/first_write/" + name_of(m), [m](benchmark::State& s) { first_write(s, m); }, 10);
  }
  for (Method m : kMethods) {
    add(
        "watch/arm_1GiB/" + name_of(m), [m](benchmark::State& s) { arm_1gib(s, m); }, 5)
        ->Unit(benchmark::kMillisecond);
  }
  for (std::size_t per_mille : {1, 10, 100, 1000}) {
    const benchmark::IterationCount iterations = per_mille <= 1     ? 20
                                                 : per_mille <= 10  ? 10
                                                 : per_mille <= 100 ? 5
                                                                    : 3;
    for (Method m : kMethods) {
      add(
          "watch/collect_1GiB/" + std::to_string(per_mille) + "/" + name_of(m),
          [m](benchmark::State& s) { collect_1gib(s, m); }, iterations)
          ->Arg(static_cast<long>(per_mille))
          ->Unit(benchmark::kMillisecond);
    }
  }
  for (Method m : kMethods) {
    add(
        "watch/cycle/" + name_of(m), [m](benchmark::State& s) { cycle(s, m); }, 30)
        ->Unit(benchmark::kMillisecond);
  }
}

std::string cell(const std::string& key, const char* format = "%.0f") {
  auto it = best().find(key);
  if (it == best().end()) return "-";
  char text[32];
  std::snprintf(text, sizeof text, format, it->second);
  std::string out = text;
  if (best().count(key.substr(0, key.find('#')) + "#inexact")) out += " (inexact)";
  return out;
}

void print_summary() {
  std::vector<std::string> methods;
  for (Method m : kMethods) methods.push_back(name_of(m));
  std::printf("\n## Write tracking, best of the run (ns per page unless stated)\n\n| measure |");
  for (const auto& m : methods) std::printf(" %s |", m.c_str());
  std::printf("\n|---|");
  for (std::size_t i = 0; i < methods.size(); ++i) std::printf("---:|");
  std::printf("\n");
  auto row = [&](const std::string& label, const std::string& prefix, const std::string& suffix,
                 const char* format) {
    std::printf("| %s |", label.c_str());
    for (const auto& m : methods) std::printf(" %s |", cell(prefix + m + suffix, format).c_str());
    std::printf("\n");
  };
  row("first write to an armed page", "first_write/", "", "%.0f");
  row("arm 1 GiB (ms)", "arm_1GiB/", "", "%.2f");
  for (const auto& [p, percent] : {std::pair{"1", "0.1%"}, std::pair{"10", "1%"},
                                   std::pair{"100", "10%"}, std::pair{"1000", "100%"}}) {
    const std::string label = std::string("collect 1 GiB, ") + percent + " written";
    row(label + " (ms)", std::string("collect_1GiB/") + p + "/", "#ms", "%.3f");
    row(label + " (ns/dirty page)", std::string("collect_1GiB/") + p + "/", "", "%.0f");
  }
  row("cycle: write 4096 random pages + collect (ns/dirty page)", "cycle/", "", "%.0f");
  std::printf("\nuntracked write to a present page: %s ns; first touch of fresh memory: %s ns\n",
              cell("first_write/untracked", "%.1f").c_str(),
              cell("first_write/untracked_fault").c_str());

  auto value = [](const std::string& key) {
    auto it = best().find(key);
    return it == best().end() ? -1.0 : it->second;
  };
  const double raw = value("cycle/raw"), uffd = value("cycle/uffd"),
               mprotect = value("cycle/mprotect");
  std::printf("\n## Targets\n\n");
  if (raw > 0 && uffd > 0) {
    std::printf("- uffd cycle / raw cycle = %.2f (target <= 1.2): %s\n", uffd / raw,
                uffd / raw <= 1.2 ? "met" : "MISSED");
  }
  if (uffd > 0 && mprotect > 0) {
    std::printf("- mprotect cycle / uffd cycle = %.1f (target >= 7): %s\n", mprotect / uffd,
                mprotect / uffd >= 7 ? "met" : "MISSED");
  }
  for (const char* m : {"raw", "uffd"}) {
    const double one = value(std::string("collect_1GiB/10/") + m + "#ms");
    const double all = value(std::string("collect_1GiB/1000/") + m + "#ms");
    if (one > 0 && all > 0) {
      std::printf("- %s: collect at 1%% / collect at 100%% = %.3f (target <= 0.1): %s\n", m,
                  one / all, one / all <= 0.1 ? "met" : "MISSED");
    }
  }
}

}  // namespace
}  // namespace pagescan::bench

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  // Run the engines' self-tests now, so that no case times one.
  for (pagescan::WatchEngine e : {pagescan::WatchEngine::uffd, pagescan::WatchEngine::soft_dirty,
                                  pagescan::WatchEngine::mprotect}) {
    (void)pagescan::watch_engine_available(e);
  }
  pagescan::bench::register_all();
  benchmark::RunSpecifiedBenchmarks();
  pagescan::bench::print_summary();
  benchmark::Shutdown();
  return 0;
}
