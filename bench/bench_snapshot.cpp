// Region snapshot benchmarks: putting a 1 GiB region back to its captured contents after
// 0.01%, 1%, 10% or 100% of its pages were written (spread at random, or in runs of 64
// pages), four ways side by side in one run, then memset against MADV_DONTNEED for the
// zero runs restore clears (the measurement behind SnapshotOptions::dontneed_min_pages).
//
// Benchmarks are named restore/<written>/<spread>/<method>, methods:
//   pagescan  RegionSnapshot::restore() with the uffd engine: the time of restore() only;
//             the writes before it (each first write takes an async write-protect fault)
//             are timed apart, as the write_ms counter.
//   memcpy    a full memcpy of the saved image (a memfd holding the captured contents)
//             over the region.
//   dontneed  the region is a MAP_PRIVATE mapping of that memfd (wasmtime's CoW image):
//             MADV_DONTNEED over the whole region, then a read of every written page (the
//             refault that maps the page-cache page back in).
//   fork      the fork-server way: the parent keeps the pristine region, each cycle forks
//             a child that does the writes and exits; the parent's cost of one cycle
//             (fork, the child's copy-on-write faults, its exit, waitpid).
// The region holds data in every page (the worst case for pagescan: no zero page to
// drop instead of copy). Memory for each method is set up when its first case runs and
// released when another method's case starts, so that fork copies only the region's
// page tables, not the image's. After the iterations of each case the result is compared
// with the captured contents; a case that restored wrongly reports an error, not a time.
//
// zero_run/<pages>/<how>: a snapshot whose saved content is zero, <pages> consecutive
// written pages, restore() with dontneed_min_pages 1 (dropped) or SIZE_MAX (memset);
// the touch_us counter is the next user's first write to those pages afterwards (a page
// fault either way: uffd write-protect, or a fresh zeroed page after the drop).
// zero_run/<pages>/raw_<how>: the same two primitives alone on untracked memory.
//
// At the end a table of the four methods and their ratios is printed, with the
// targets (at 1% written >= 20x faster than memcpy, at 10% >= 3x, at 100% <= 1.2x memcpy's
// time), and the zero-run crossover.
#include <sys/mman.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "pagescan/snapshot.hpp"

namespace pagescan::bench {
namespace {

constexpr std::size_t kRegionBytes = std::size_t{1} << 30;
constexpr std::size_t kRunPages = 64;

using Clock = std::chrono::steady_clock;
double seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

std::size_t page_size() {
  static const auto size = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return size;
}
std::size_t region_pages() {
  return kRegionBytes / page_size();
}

// The captured contents: page i is filled with one non-zero byte that depends on i.
char content_byte(std::size_t i) {
  return static_cast<char>((i * 131 + 7) % 255 + 1);
}
void fill_contents(char* base) {
  for (std::size_t i = 0; i < region_pages(); ++i) {
    std::memset(base + i * page_size(), content_byte(i), page_size());
  }
}

// ---- write patterns -------------------------------------------------------------------

struct Pattern {
  std::string name;  // "1%/random"
  double fraction;
  std::vector<std::size_t> pages;  // ascending
};

std::vector<std::size_t> random_pages(std::size_t count, std::mt19937_64& rng) {
  std::vector<std::size_t> all(region_pages());
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;
  for (std::size_t i = 0; i < count; ++i) {
    std::uniform_int_distribution<std::size_t> d(i, all.size() - 1);
    std::swap(all[i], all[d(rng)]);
  }
  all.resize(count);
  std::sort(all.begin(), all.end());
  return all;
}

// Runs of kRunPages pages (the last one shorter) at random, non-overlapping places.
std::vector<std::size_t> run_pages(std::size_t count, std::mt19937_64& rng) {
  const std::size_t slots = region_pages() / kRunPages;
  const std::size_t runs = (count + kRunPages - 1) / kRunPages;
  std::vector<std::size_t> slot(slots);
  for (std::size_t i = 0; i < slots; ++i) slot[i] = i;
  for (std::size_t i = 0; i < runs; ++i) {
    std::uniform_int_distribution<std::size_t> d(i, slots - 1);
    std::swap(slot[i], slot[d(rng)]);
  }
  std::vector<std::size_t> out;
  for (std::size_t r = 0; r < runs; ++r) {
    std::size_t n = std::min(kRunPages, count - r * kRunPages);
    for (std::size_t k = 0; k < n; ++k) out.push_back(slot[r] * kRunPages + k);
  }
  std::sort(out.begin(), out.end());
  return out;
}

const std::vector<Pattern>& patterns() {
  static const std::vector<Pattern> all = [] {
    std::vector<Pattern> p;
    std::mt19937_64 rng(20260701);
    const std::pair<const char*, double> fractions[] = {
        {"0.01%", 0.0001}, {"1%", 0.01}, {"10%", 0.1}};
    for (auto [label, f] : fractions) {
      auto count = static_cast<std::size_t>(static_cast<double>(region_pages()) * f + 0.5);
      p.push_back({std::string(label) + "/random", f, random_pages(count, rng)});
      p.push_back({std::string(label) + "/runs", f, run_pages(count, rng)});
    }
    std::vector<std::size_t> every(region_pages());
    for (std::size_t i = 0; i < every.size(); ++i) every[i] = i;
    p.push_back({"100%/all", 1.0, std::move(every)});
    return p;
  }();
  return all;
}

// One 8-byte store per page: a value the captured contents never hold.
void write_pattern(char* base, const Pattern& p, std::uint64_t value) {
  for (std::size_t i : p.pages) {
    auto* at = reinterpret_cast<volatile std::uint64_t*>(base + i * page_size() + 64);
    *at = value;
  }
}

// ---- the memory each method needs -------------------------------------------------------

enum class Method { pagescan, memcpy, dontneed, fork };

const char* name_of(Method m) {
  switch (m) {
    case Method::pagescan:
      return "pagescan";
    case Method::memcpy:
      return "memcpy";
    case Method::dontneed:
      return "dontneed";
    case Method::fork:
      return "fork";
  }
  return "?";
}

class World {
 public:
  // Sets up what `m` needs and releases what it does not; an error message on failure.
  std::string prepare(Method m) {
    if (m != Method::pagescan) {
      snapshot_.reset();
      unmap(scratch_);
    }
    if (m != Method::dontneed) unmap(cow_);
    if (m == Method::fork) unmap(source_);
    if (m != Method::dontneed && region_ == nullptr) {
      region_ = map_anonymous();
      if (region_ == nullptr) return "mmap of the region failed";
      fill_contents(region_);
    }
    if (m != Method::fork && source_ == nullptr) {
      if (auto why = make_source(); !why.empty()) return why;
    }
    if (m == Method::dontneed && cow_ == nullptr) {
      void* p = ::mmap(nullptr, kRegionBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE, memfd_, 0);
      if (p == MAP_FAILED) return std::string("mmap of the memfd: ") + std::strerror(errno);
      cow_ = static_cast<char*>(p);
    }
    if (m == Method::pagescan && scratch_ == nullptr) {
      scratch_ = map_anonymous();
      if (scratch_ == nullptr) return "mmap of the scratch region failed";
      std::memset(scratch_, 1, kRegionBytes);
    }
    if (m == Method::pagescan && !snapshot_) {
      std::memcpy(region_, source_, kRegionBytes);  // whatever ran before, start captured
      SnapshotOptions options;
      options.watch.engine = WatchEngine::uffd;
      auto s = RegionSnapshot::capture(region_, kRegionBytes, options);
      if (!s) return "capture: " + s.error().message();
      snapshot_.emplace(std::move(*s));
    }
    return {};
  }

  char* region() const { return region_; }
  char* source() const { return source_; }
  char* cow() const { return cow_; }
  char* scratch() const { return scratch_; }
  RegionSnapshot& snapshot() { return *snapshot_; }

 private:
  static char* map_anonymous() {
    void* p =
        ::mmap(nullptr, kRegionBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return nullptr;
    // 4 KiB pages for every method (the uffd engine makes its region NOHUGEPAGE too).
    ::madvise(p, kRegionBytes, MADV_NOHUGEPAGE);
    return static_cast<char*>(p);
  }

  std::string make_source() {
    if (memfd_ < 0) {
      memfd_ = ::memfd_create("bench-snapshot-image", MFD_CLOEXEC);
      if (memfd_ < 0) return std::string("memfd_create: ") + std::strerror(errno);
      if (::ftruncate(memfd_, static_cast<off_t>(kRegionBytes)) != 0) {
        return std::string("ftruncate: ") + std::strerror(errno);
      }
    }
    void* p = ::mmap(nullptr, kRegionBytes, PROT_READ | PROT_WRITE, MAP_SHARED, memfd_, 0);
    if (p == MAP_FAILED) return std::string("mmap of the memfd: ") + std::strerror(errno);
    source_ = static_cast<char*>(p);
    if (!filled_) fill_contents(source_);
    filled_ = true;
    return {};
  }

  static void unmap(char*& p) {
    if (p) ::munmap(p, kRegionBytes);
    p = nullptr;
  }

  char* region_ = nullptr;   // anonymous: pagescan, memcpy, fork
  char* source_ = nullptr;   // shared mapping of memfd_: the captured contents
  char* cow_ = nullptr;      // private mapping of memfd_: dontneed
  char* scratch_ = nullptr;  // pagescan: the full memcpy timed alongside, same load
  int memfd_ = -1;
  bool filled_ = false;
  std::optional<RegionSnapshot> snapshot_;
};

World& world() {
  static World w;
  return w;
}

// Iterations per case: enough for a stable mean, few where one cycle costs 100 ms or more
// (a fork of a process with 1 GiB mapped, a copy of 1 GiB).
int iterations_for(Method m, double fraction) {
  if (m == Method::fork || m == Method::memcpy || fraction >= 1.0) return 5;
  if (fraction <= 0.0001) return 200;
  if (fraction <= 0.01) return 40;
  return 10;
}

// Whether every page of `base` holds the captured contents (checked against the
// definition, not against another copy).
bool holds_contents(const char* base) {
  static const std::vector<char> pages = [] {
    std::vector<char> v(256 * page_size());
    for (std::size_t b = 0; b < 256; ++b)
      std::memset(&v[b * page_size()], static_cast<int>(b), page_size());
    return v;
  }();
  for (std::size_t i = 0; i < region_pages(); ++i) {
    const auto b = static_cast<unsigned char>(content_byte(i));
    if (std::memcmp(base + i * page_size(), &pages[b * page_size()], page_size()) != 0) {
      return false;
    }
  }
  return true;
}

void restore_case(benchmark::State& state, Method method, const Pattern* pattern) {
  World& w = world();
  if (auto why = w.prepare(method); !why.empty()) {
    state.SkipWithError(why.c_str());
    return;
  }
  double write_s = 0, scan_s = 0, copy_s = 0, alongside = 1e9;
  std::uint64_t examined = 0, value = 0x5eed'0000'0000'0000ull;
  benchmark::IterationCount iteration = 0;
  for (auto _ : state) {
    ++value;
    Clock::time_point t0, t1;
    switch (method) {
      case Method::pagescan: {
        t0 = Clock::now();
        write_pattern(w.region(), *pattern, value);
        write_s += seconds(t0, Clock::now());
        t0 = Clock::now();
        auto stats = w.snapshot().restore();
        t1 = Clock::now();
        if (!stats) {
          state.SkipWithError(("restore: " + stats.error().message()).c_str());
          return;
        }
        examined += stats->pages_examined;
        scan_s += stats->scan_seconds;
        copy_s += stats->copy_seconds;
        // The full memcpy again, on 3 of the iterations, so that the ratio compares
        // times taken under the same load (this machine is shared).
        if (iteration == 0 || iteration == state.max_iterations / 2 ||
            iteration + 1 == state.max_iterations) {
          auto m0 = Clock::now();
          std::memcpy(w.scratch(), w.source(), kRegionBytes);
          alongside = std::min(alongside, seconds(m0, Clock::now()));
        }
        break;
      }
      case Method::memcpy:
        t0 = Clock::now();
        write_pattern(w.region(), *pattern, value);
        write_s += seconds(t0, Clock::now());
        t0 = Clock::now();
        std::memcpy(w.region(), w.source(), kRegionBytes);
        t1 = Clock::now();
        break;
      case Method::dontneed:
        t0 = Clock::now();
        write_pattern(w.cow(), *pattern, value);
        write_s += seconds(t0, Clock::now());
        t0 = Clock::now();
        ::madvise(w.cow(), kRegionBytes, MADV_DONTNEED);
        for (std::size_t i : pattern->pages) {
          benchmark::DoNotOptimize(*static_cast<volatile char*>(w.cow() + i * page_size()));
        }
        t1 = Clock::now();
        break;
      case Method::fork: {
        t0 = Clock::now();
        pid_t pid = ::fork();
        if (pid == 0) {
          write_pattern(w.region(), *pattern, value);
          ::_exit(0);
        }
        int status = 0;
        if (pid < 0 || ::waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) {
          state.SkipWithError("fork/waitpid failed");
          return;
        }
        t1 = Clock::now();
        break;
      }
    }
    state.SetIterationTime(seconds(t0, t1));
    ++iteration;
  }
  // The result, once per case, outside the timing.
  bool ok = true;
  switch (method) {
    case Method::pagescan:
      ok = !w.snapshot().first_difference() && holds_contents(w.region());
      break;
    case Method::memcpy:
    case Method::fork:
      ok = holds_contents(w.region());
      break;
    case Method::dontneed:
      ok = holds_contents(w.cow());
      break;
  }
  if (!ok) {
    state.SkipWithError("the region differs from the captured contents after the cycle");
    return;
  }
  const auto n = static_cast<double>(state.iterations());
  state.counters["pages_written"] = static_cast<double>(pattern->pages.size());
  if (method != Method::fork) state.counters["write_ms"] = write_s * 1e3 / n;
  if (method == Method::pagescan) {
    state.counters["examined"] = static_cast<double>(examined) / n;
    state.counters["scan_ms"] = scan_s * 1e3 / n;
    state.counters["copy_ms"] = copy_s * 1e3 / n;
    state.counters["memcpy_ms"] = alongside * 1e3;
  }
}

// ---- zero runs: memset or MADV_DONTNEED ---------------------------------------------------

constexpr std::size_t kZeroRegionPages = 16384;  // 64 MiB, more than the L3 cache
constexpr std::size_t kZeroRuns[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 2048, 8192};

void zero_run_case(benchmark::State& state, std::size_t run, bool drop) {
  const std::size_t page = page_size(), len = kZeroRegionPages * page;
  void* p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    state.SkipWithError("mmap failed");
    return;
  }
  char* base = static_cast<char*>(p);
  SnapshotOptions options;
  options.watch.engine = WatchEngine::uffd;
  options.dontneed_min_pages = drop ? 1 : SIZE_MAX;
  {
    auto s = RegionSnapshot::capture(base, len, options);  // all zero: nothing saved
    if (!s) {
      state.SkipWithError(("capture: " + s.error().message()).c_str());
      ::munmap(p, len);
      return;
    }
    // A run in the middle of the region; its writes are the previous iteration's touch.
    char* first = base + (kZeroRegionPages - run) / 2 * page;
    auto touch = [&] {
      for (std::size_t i = 0; i < run; ++i) first[i * page + 8] = 1;
    };
    touch();
    double touch_s = 0;
    std::uint64_t zeroed = 0, dropped = 0;
    for (auto _ : state) {
      auto t0 = Clock::now();
      auto stats = s->restore();
      auto t1 = Clock::now();
      if (!stats) {
        state.SkipWithError(("restore: " + stats.error().message()).c_str());
        break;
      }
      zeroed += stats->pages_zeroed;
      dropped += stats->pages_dropped;
      state.SetIterationTime(seconds(t0, t1));
      auto t2 = Clock::now();
      touch();
      touch_s += seconds(t2, Clock::now());
    }
    (void)s->restore();
    if (s->first_difference()) state.SkipWithError("the region is not zero after restore");
    const auto n = static_cast<double>(state.iterations());
    state.counters["touch_us"] = touch_s * 1e6 / n;
    state.counters["zeroed"] = static_cast<double>(zeroed) / n;
    state.counters["dropped"] = static_cast<double>(dropped) / n;
  }
  ::munmap(p, len);
}

// The primitives alone, on plain (untracked) memory: memset of `run` written pages, or
// MADV_DONTNEED of them; touch_us as above (no fault after memset, a fresh page after
// the drop).
void raw_zero_run_case(benchmark::State& state, std::size_t run, bool drop) {
  const std::size_t page = page_size(), len = run * page;
  void* p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    state.SkipWithError("mmap failed");
    return;
  }
  char* base = static_cast<char*>(p);
  ::madvise(base, len, MADV_NOHUGEPAGE);
  auto touch = [&] {
    for (std::size_t i = 0; i < run; ++i) base[i * page + 8] = 1;
  };
  touch();
  double touch_s = 0;
  for (auto _ : state) {
    auto t0 = Clock::now();
    if (drop) {
      ::madvise(base, len, MADV_DONTNEED);
    } else {
      std::memset(base, 0, len);
    }
    auto t1 = Clock::now();
    benchmark::ClobberMemory();
    state.SetIterationTime(seconds(t0, t1));
    auto t2 = Clock::now();
    touch();
    touch_s += seconds(t2, Clock::now());
  }
  state.counters["touch_us"] = touch_s * 1e6 / static_cast<double>(state.iterations());
  ::munmap(p, len);
}

// ---- registration, and the summary table --------------------------------------------------

void register_all() {
  for (Method m : {Method::fork, Method::memcpy, Method::dontneed, Method::pagescan}) {
    for (const Pattern& p : patterns()) {
      std::string name = "restore/" + p.name + "/" + name_of(m);
      benchmark::RegisterBenchmark(name.c_str(), restore_case, m, &p)
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond)
          ->Iterations(iterations_for(m, p.fraction));
    }
  }
  for (bool raw : {false, true}) {
    for (bool drop : {false, true}) {
      for (std::size_t run : kZeroRuns) {
        std::string name = "zero_run/" + std::to_string(run) + "/" + (raw ? "raw_" : "") +
                           (drop ? "dontneed" : "memset");
        benchmark::RegisterBenchmark(name.c_str(), raw ? raw_zero_run_case : zero_run_case, run,
                                     drop)
            ->UseManualTime()
            ->Unit(benchmark::kMicrosecond)
            ->MinTime(0.1);
      }
    }
  }
}

// Keeps each case's best (lowest) time over repetitions, and its counters.
class Recorder : public benchmark::ConsoleReporter {
 public:
  struct Best {
    double time = 0;  // in the case's unit
    std::map<std::string, double> counters;
    std::string error;
  };
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      if (r.run_type != Run::RT_Iteration) continue;
      Best& b = best_[r.run_name.function_name];
      if (r.error_occurred) {
        b.error = r.error_message;
        continue;
      }
      double t = r.GetAdjustedRealTime();
      if (b.counters.empty() || t < b.time) {
        b.time = t;
        b.counters.clear();
        for (const auto& [k, c] : r.counters) b.counters[k] = c.value;
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }
  const Best* find(const std::string& name) const {
    auto it = best_.find(name);
    return it == best_.end() || !it->second.error.empty() ? nullptr : &it->second;
  }

 private:
  std::map<std::string, Best> best_;
};

void print_summary(const Recorder& rec) {
  struct utsname u {};
  ::uname(&u);
  std::printf("\n## Restoring a 1 GiB region (%s %s, %ld CPUs), best time per cycle, ms\n\n",
              u.sysname, u.release, ::sysconf(_SC_NPROCESSORS_ONLN));
  std::printf(
      "| written | spread | pagescan | memcpy | dontneed + refault | fork | memcpy alongside "
      "| memcpy alongside / pagescan | target | pagescan's writes |\n");
  std::printf("|---|---|---:|---:|---:|---:|---:|---:|---|---:|\n");
  auto number = [](double v) {
    char text[32];
    std::snprintf(text, sizeof text, "%.3f", v);
    return std::string(text);
  };
  for (const Pattern& p : patterns()) {
    auto get = [&](Method m) { return rec.find("restore/" + p.name + "/" + name_of(m)); };
    const auto *ps = get(Method::pagescan), *mc = get(Method::memcpy), *dn = get(Method::dontneed),
               *fk = get(Method::fork);
    auto ms = [&](const Recorder::Best* b) { return b ? number(b->time) : std::string("error"); };
    // The ratio uses the memcpy timed inside the pagescan case, under the same load.
    std::string along = "-", ratio = "-", target = "-", writes = "-";
    if (ps && ps->time > 0) {
      const double base = ps->counters.at("memcpy_ms"), r = base / ps->time;
      char text[64];
      along = number(base);
      std::snprintf(text, sizeof text, "%.1fx", r);
      ratio = text;
      if (p.fraction == 0.01 || p.fraction == 0.1) {
        const double want = p.fraction == 0.01 ? 20 : 3;
        std::snprintf(text, sizeof text, ">= %.0fx: %s", want, r >= want ? "met" : "MISSED");
        target = text;
      } else if (p.fraction == 1.0) {
        std::snprintf(text, sizeof text, "<= 1.2x memcpy's time (%.2fx): %s", 1 / r,
                      1 / r <= 1.2 ? "met" : "MISSED");
        target = text;
      }
      writes = number(ps->counters.at("write_ms"));
    }
    const auto slash = p.name.find('/');
    std::printf("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
                p.name.substr(0, slash).c_str(), p.name.substr(slash + 1).c_str(), ms(ps).c_str(),
                ms(mc).c_str(), ms(dn).c_str(), ms(fk).c_str(), along.c_str(), ratio.c_str(),
                target.c_str(), writes.c_str());
  }

  // Zero runs. The crossover is the shortest run from which MADV_DONTNEED is at least as
  // fast as memset at every longer run measured too (one noisy point is not a crossover).
  for (const char* prefix : {"", "raw_"}) {
    std::printf(*prefix ? "\n## Zero runs, the primitives alone on untracked memory, us\n\n"
                        : "\n## Zero runs in restore (uffd engine): memset vs MADV_DONTNEED, "
                          "us per restore\n\n");
    std::printf("| pages | memset | dontneed | memset + next touch | dontneed + next touch |\n");
    std::printf("|---:|---:|---:|---:|---:|\n");
    std::size_t cross = 0, cross_touch = 0;  // 0: none
    for (std::size_t run : kZeroRuns) {
      const std::string at = "zero_run/" + std::to_string(run) + "/" + prefix;
      const auto* ms = rec.find(at + "memset");
      const auto* dn = rec.find(at + "dontneed");
      if (!ms || !dn) continue;
      const double ms_touch = ms->time + ms->counters.at("touch_us");
      const double dn_touch = dn->time + dn->counters.at("touch_us");
      if (dn->time > ms->time) {
        cross = 0;
      } else if (cross == 0) {
        cross = run;
      }
      if (dn_touch > ms_touch) {
        cross_touch = 0;
      } else if (cross_touch == 0) {
        cross_touch = run;
      }
      std::printf("| %zu | %.2f | %.2f | %.2f | %.2f |\n", run, ms->time, dn->time, ms_touch,
                  dn_touch);
    }
    auto say = [](std::size_t c) {
      return c ? "from " + std::to_string(c) + " pages on" : std::string("at no run length");
    };
    std::printf(
        "\nMADV_DONTNEED is at least as fast as memset %s (the clearing alone), %s "
        "counting the next touch (runs of 1 to %zu pages measured).\n",
        say(cross).c_str(), say(cross_touch).c_str(), kZeroRuns[std::size(kZeroRuns) - 1]);
  }
}

}  // namespace
}  // namespace pagescan::bench

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  pagescan::bench::register_all();
  pagescan::bench::Recorder recorder;
  benchmark::RunSpecifiedBenchmarks(&recorder);
  pagescan::bench::print_summary(recorder);
  benchmark::Shutdown();
  return 0;
}
