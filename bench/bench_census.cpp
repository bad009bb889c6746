// What `pagescan exporter` costs a scrape, side by side with reading smaps_rollup of the
// same processes in one run, and how long its longest single PAGEMAP_SCAN call holds a
// target's mmap lock on a 64 GiB sparse reservation (issue 16's targets: a scrape >= 10x
// cheaper than smaps_rollup; no single call over 1 ms).
//
// The processes are bench/targets/census_bench_target (plain C, no pagescan), one per
// memory shape: anon4k (1.5 GiB of written 4 KiB pages), thp (1.5 GiB of THPs), sparse
// (64 GiB MAP_NORESERVE, a page written every 2 MiB: a page table in every PMD), shared
// (1 GiB of shared anonymous memory mapped by 4 processes, the target and 3 children).
//
// Benchmarks (CPU time of this thread, the one both methods run in):
//   paired/<shape>/<cold> attach + take_census() (the exporter's collection without HTTP
//                        and text) and reading /proc/PID/smaps_rollup whole, in turn in one
//                        loop, each timed on its own; counters census_ms, rollup_ms
//                        (medians), rollup_over_census (median of the per-turn ratios),
//                        calls, longest_call_us and longest_call_cpu_us (max over the
//                        iterations); <shape> "all" is one scrape of every target; cold 1:
//                        the caches are flushed before each timed call, as a scrape every
//                        15 s finds them
//   floor_call/<shape>/<dense> one PAGEMAP_SCAN call over the shape's whole range with
//                        the census's sparse or dense request and a buffer big enough for
//                        the whole answer: the cheaper is the least any census built on
//                        PAGEMAP_SCAN can cost; the sparse one on the sparse shape is what
//                        a census without bounded calls would hold the lock for
// A summary table follows. Nothing here runs in `make test`: it is only built.
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "pagescan/page_census.hpp"
#include "pagescan/scan.hpp"
#include "piped_child.hpp"

namespace pagescan::bench {
namespace {

struct Shape {
  const char* name;
  const char* size;  // MiB, GiB for sparse
};
constexpr Shape kShapes[] = {
    {"anon4k", "1536"}, {"thp", "1536"}, {"sparse", "64"}, {"shared", "1024"}};
constexpr int kShapeCount = 4;

std::uint64_t thread_cpu_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

struct Target {
  PipedChild child;                  // its stdin closed when it goes: it ends
  pid_t pid = -1;                    // -1 when it did not start
  std::uint64_t start = 0, end = 0;  // the shape's range
};

Target start_target(const Shape& shape) {
  Target t{PipedChild(PAGESCAN_CENSUS_BENCH_TARGET, {shape.name, shape.size})};
  if (t.child.pid() <= 0) {
    std::fprintf(stderr, "census_bench_target: %s\n", t.child.error().c_str());
    return t;
  }
  const std::string line = t.child.read_line();
  std::istringstream ready(line);
  std::string word, start, end;
  int pid = 0;
  ready >> word >> pid >> start >> end;
  if (word != "ready" || pid != t.child.pid()) {
    std::fprintf(stderr, "census_bench_target did not start: '%s'\n", line.c_str());
    return t;
  }
  t.pid = pid;
  t.start = std::stoull(start, nullptr, 16);
  t.end = std::stoull(end, nullptr, 16);
  return t;
}

std::vector<Target>& targets() {
  static std::vector<Target> all = [] {
    std::vector<Target> out;
    for (const Shape& shape : kShapes) out.push_back(start_target(shape));
    return out;
  }();
  return all;
}

// Ends the targets (their destructors close their stdin and reap them).
void stop_targets() {
  targets().clear();
}

// The exporter's collection of `chosen` targets; false on an error. `call_cpu_times`: time
// each call in CPU time too (two more system calls a call, which the exporter does not make).
bool scrape(const std::vector<const Target*>& chosen, PageCensus& sum, bool call_cpu_times) {
  sum = PageCensus{};
  for (const Target* t : chosen) {
    auto process = Process::attach(t->pid);
    if (!process) return false;
    CensusOptions options;
    options.call_cpu_times = call_cpu_times;
    auto census = take_census(*process, options);
    if (!census) return false;
    sum.add(*census);
  }
  return true;
}

// smaps_rollup of `chosen` targets, read whole; the bytes read (0 on an error).
std::size_t read_rollups(const std::vector<const Target*>& chosen) {
  static char buffer[1 << 16];
  std::size_t total = 0;
  for (const Target* t : chosen) {
    const std::string path = "/proc/" + std::to_string(t->pid) + "/smaps_rollup";
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) > 0;) {
      total += static_cast<std::size_t>(n);
    }
    ::close(fd);
  }
  return total;
}

struct Row {
  std::string name;
  double census_ms = 0, rollup_ms = 0, ratio = 0;
  double longest_call_us = 0, longest_call_cpu_us = 0;  // max over every census
  double median_longest_cpu_us = 0;  // the median over the censuses of each one's longest
  std::uint64_t calls = 0;
};
std::vector<Row> rows;

// A scrape comes every 15 to 60 s, after the machine has run other work: the target's page
// tables and struct pages are no longer in the caches. Writing a buffer of 4x the last-level
// cache (32 MiB here) before a timed call puts both methods in that state; untimed.
void evict_caches() {
  static std::vector<unsigned char> buffer(128u << 20);
  static unsigned char round = 0;
  ++round;
  for (std::size_t i = 0; i < buffer.size(); i += 64) buffer[i] = round;
  benchmark::DoNotOptimize(buffer.data());
  benchmark::ClobberMemory();
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Args: a shape's index, or kShapeCount for all of them; 1 for cold caches before each call.
void BM_Paired(benchmark::State& state) {
  const auto which = static_cast<int>(state.range(0));
  const bool cold = state.range(1) != 0;
  std::vector<const Target*> chosen;
  for (int i = 0; i < kShapeCount; ++i) {
    if (which == kShapeCount || which == i)
      chosen.push_back(&targets()[static_cast<std::size_t>(i)]);
  }
  for (const Target* t : chosen) {
    if (t->pid <= 0) {
      state.SkipWithError("census_bench_target did not start");
      return;
    }
  }
  Row row;
  row.name = which == kShapeCount ? "all" : kShapes[which].name;
  if (cold) row.name += " cold";
  std::vector<double> census_ms, rollup_ms, ratios, longest_cpu_us;
  PageCensus sum;
  bool census_first = true;
  for (auto _ : state) {
    double a = 0, b = 0;
    for (int turn = 0; turn < 2; ++turn) {
      const bool census = (turn == 0) == census_first;
      if (cold) evict_caches();
      const std::uint64_t began = thread_cpu_ns();
      const bool ok = census ? scrape(chosen, sum, false) : read_rollups(chosen) > 0;
      const double ms = static_cast<double>(thread_cpu_ns() - began) / 1e6;
      if (!ok) {
        state.SkipWithError("a method failed");
        return;
      }
      (census ? a : b) = ms;
    }
    census_first = !census_first;
    census_ms.push_back(a);
    rollup_ms.push_back(b);
    ratios.push_back(b / a);
    // The calls' CPU times come from one more scrape, untimed.
    if (cold) evict_caches();
    if (!scrape(chosen, sum, true)) {
      state.SkipWithError("a method failed");
      return;
    }
    row.longest_call_us =
        std::max(row.longest_call_us, static_cast<double>(sum.longest_call_ns) / 1e3);
    row.longest_call_cpu_us =
        std::max(row.longest_call_cpu_us, static_cast<double>(sum.longest_call_cpu_ns) / 1e3);
    longest_cpu_us.push_back(static_cast<double>(sum.longest_call_cpu_ns) / 1e3);
  }
  row.census_ms = median(census_ms);
  row.rollup_ms = median(rollup_ms);
  row.ratio = median(ratios);
  row.calls = sum.kernel_calls;
  row.median_longest_cpu_us = median(longest_cpu_us);
  state.counters["census_ms"] = row.census_ms;
  state.counters["rollup_ms"] = row.rollup_ms;
  state.counters["rollup_over_census"] = row.ratio;
  state.counters["calls"] = static_cast<double>(row.calls);
  state.counters["longest_call_us"] = row.longest_call_us;
  state.counters["longest_call_cpu_us"] = row.longest_call_cpu_us;
  state.counters["median_longest_cpu_us"] = row.median_longest_cpu_us;
  state.SetLabel(row.name);
  // The library runs a benchmark more than once (to size its iterations): the last run counts.
  auto same =
      std::find_if(rows.begin(), rows.end(), [&](const Row& r) { return r.name == row.name; });
  if (same != rows.end()) {
    *same = row;
  } else {
    rows.push_back(row);
  }
}
BENCHMARK(BM_Paired)
    ->Name("paired")
    ->ArgsProduct({benchmark::CreateDenseRange(0, kShapeCount, 1), {0, 1}})
    ->Unit(benchmark::kMillisecond);

// The kernel's floor: one PAGEMAP_SCAN call over a shape's whole range with one of the
// census's two requests (page_census.cpp) and a buffer big enough for the whole answer.
// No census built on PAGEMAP_SCAN can cost less than the cheaper of the two walks; the
// sparse request over the sparse shape is also what a census without bounded calls would
// hold the target's mmap lock for. Args: a shape's index; 0 for the sparse request (the
// present and swapped pages), 1 for the dense one (every page but plain present ones).
struct Floor {
  double call_ms = 0;  // median CPU
  double call_us_max = 0, cpu_us_max = 0;
};
Floor floors[kShapeCount][2];

void BM_FloorCall(benchmark::State& state) {
  const auto which = static_cast<std::size_t>(state.range(0));
  const bool dense = state.range(1) != 0;
  const Target& t = targets()[which];
  auto process = Process::attach(t.pid);
  if (t.pid <= 0 || !process) {
    state.SkipWithError("census_bench_target did not start");
    return;
  }
  // At most two regions per 2 MiB (the sparse shape's written page, and the empty rest),
  // and room to spare.
  std::vector<PageRegion> buffer(2 * ((t.end - t.start) >> 21) + 1024);
  // The census's requests for private anonymous and shared memory: no FILE.
  const Categories returned =
      Category::present | Category::swapped | Category::pfnzero | Category::huge | Category::guard;
  ScanRequest request = ScanRequest::over(t.start, t.end).returning(returned);
  if (dense) {
    request.any_of(Category::pfnzero | Category::huge, Category::present);
  } else {
    request.any_of(Category::present | Category::swapped);
  }
  RawScanArgs args = to_raw_args(request);
  args.vec = reinterpret_cast<std::uint64_t>(buffer.data());
  args.vec_len = buffer.size();
  Floor floor;
  std::vector<double> cpu_ms;
  for (auto _ : state) {
    const auto began = std::chrono::steady_clock::now();
    const std::uint64_t began_cpu = thread_cpu_ns();
    auto n = scan_raw(*process, args);
    const std::uint64_t cpu = thread_cpu_ns() - began_cpu;
    const auto wall = std::chrono::duration_cast<std::chrono::nanoseconds>(
        std::chrono::steady_clock::now() - began);
    // Complete when the buffer did not fill (walk_end may be stale: docs/scanner.md).
    if (!n || *n >= buffer.size()) {
      state.SkipWithError("the floor call did not cover the range");
      return;
    }
    cpu_ms.push_back(static_cast<double>(cpu) / 1e6);
    floor.cpu_us_max = std::max(floor.cpu_us_max, static_cast<double>(cpu) / 1e3);
    floor.call_us_max = std::max(floor.call_us_max, static_cast<double>(wall.count()) / 1e3);
  }
  floor.call_ms = median(cpu_ms);
  floors[which][dense ? 1 : 0] = floor;
  state.counters["call_ms"] = floor.call_ms;
  state.counters["call_us_max"] = floor.call_us_max;
  state.counters["call_cpu_us_max"] = floor.cpu_us_max;
  state.SetLabel(std::string(kShapes[which].name) + (dense ? " dense" : " sparse"));
}
BENCHMARK(BM_FloorCall)
    ->Name("floor_call")
    ->ArgsProduct({benchmark::CreateDenseRange(0, kShapeCount - 1, 1), {0, 1}})
    ->Unit(benchmark::kMillisecond);

void print_summary() {
  std::printf("\nSummary: census (a scrape) against smaps_rollup of the same processes, CPU ms\n");
  std::printf("%-8s %9s %9s %10s %6s %11s %11s %11s\n", "shape", "census", "rollup", "rollup/cen",
              "calls", "longest us", "max cpu us", "median cpu");
  for (const Row& r : rows) {
    std::printf("%-8s %9.3f %9.3f %9.2fx %6llu %11.1f %11.1f %11.1f\n", r.name.c_str(), r.census_ms,
                r.rollup_ms, r.ratio, static_cast<unsigned long long>(r.calls), r.longest_call_us,
                r.longest_call_cpu_us, r.median_longest_cpu_us);
  }
  std::printf(
      "(longest: the longest single call, wall and CPU, over every census; median cpu:\n"
      " the median over the censuses of each one's longest call's CPU time)\n");
  std::printf("\nThe kernel's floor: one PAGEMAP_SCAN call over each shape's range, CPU ms\n");
  std::printf("%-8s %9s %9s %9s %11s %11s\n", "shape", "sparse", "dense", "census", "census/min",
              "rollup/min");
  for (int i = 0; i < kShapeCount; ++i) {
    auto same = std::find_if(rows.begin(), rows.end(),
                             [&](const Row& r) { return r.name == kShapes[i].name; });
    const double census = same != rows.end() ? same->census_ms : 0;
    const double rollup = same != rows.end() ? same->rollup_ms : 0;
    const double least = std::min(floors[i][0].call_ms, floors[i][1].call_ms);
    std::printf("%-8s %9.3f %9.3f %9.3f %10.2fx %10.2fx\n", kShapes[i].name, floors[i][0].call_ms,
                floors[i][1].call_ms, census, least > 0 ? census / least : 0,
                least > 0 ? rollup / least : 0);
  }
  std::printf("longest sparse call over the 64 GiB sparse target: %.1f us (%.1f us CPU)\n",
              floors[2][0].call_us_max, floors[2][0].cpu_us_max);
  std::printf("targets: rollup/census >= 10x; longest single call <= 1000 us\n");
}

}  // namespace
}  // namespace pagescan::bench

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  pagescan::bench::print_summary();
  pagescan::bench::stop_targets();
  return 0;
}
