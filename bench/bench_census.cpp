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
//   paired/<shape>       attach + take_census() (the exporter's collection without HTTP and
//                        text) and reading /proc/PID/smaps_rollup whole, in turn in one
//                        loop, each timed on its own; counters census_ms, rollup_ms
//                        (medians), rollup_over_census (median of the per-turn ratios),
//                        calls, longest_call_us and longest_call_cpu_us (max over the
//                        iterations); <shape> "all" is one scrape of every target
//   unbounded_call/sparse one PAGEMAP_SCAN call over the whole 64 GiB, the census's request,
//                        with a buffer big enough for the whole answer: what a census
//                        without bounded requests would hold the lock for
// A summary table follows. Nothing here runs in `make test`: it is only built.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "pagescan/page_census.hpp"
#include "pagescan/scan.hpp"

extern char** environ;

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
  pid_t pid = -1;
  int input = -1;                    // its stdin: closing it ends it
  std::uint64_t start = 0, end = 0;  // the shape's range
};

Target start_target(const Shape& shape) {
  Target t;
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) return t;
  posix_spawn_file_actions_t actions;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawn_file_actions_adddup2(&actions, in[0], 0);
  ::posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  char* argv[] = {const_cast<char*>(PAGESCAN_CENSUS_BENCH_TARGET), const_cast<char*>(shape.name),
                  const_cast<char*>(shape.size), nullptr};
  if (::posix_spawn(&t.pid, argv[0], &actions, nullptr, argv, environ) != 0) t.pid = -1;
  ::posix_spawn_file_actions_destroy(&actions);
  ::close(in[0]);
  ::close(out[1]);
  t.input = in[1];
  char line[256] = {};
  std::size_t got = 0;
  while (got < sizeof line - 1) {
    ssize_t n = ::read(out[0], line + got, 1);
    if (n <= 0 || line[got] == '\n') break;
    got += static_cast<std::size_t>(n);
  }
  ::close(out[0]);
  std::istringstream ready(line);
  std::string word, start, end;
  int pid = 0;
  ready >> word >> pid >> start >> end;
  if (word != "ready" || pid != t.pid) {
    std::fprintf(stderr, "census_bench_target did not start: '%s'\n", line);
    t.pid = -1;
    return t;
  }
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

void stop_targets() {
  for (Target& t : targets()) {
    if (t.pid <= 0) continue;
    ::close(t.input);
    ::waitpid(t.pid, nullptr, 0);
  }
}

// The exporter's collection of `chosen` targets; false on an error.
bool scrape(const std::vector<const Target*>& chosen, PageCensus& sum) {
  sum = PageCensus{};
  for (const Target* t : chosen) {
    auto process = Process::attach(t->pid);
    if (!process) return false;
    auto census = take_census(*process);
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
double unbounded_call_us = 0, unbounded_call_cpu_us = 0;

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Arg: a shape's index, or kShapeCount for all of them.
void BM_Paired(benchmark::State& state) {
  const auto which = static_cast<int>(state.range(0));
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
  std::vector<double> census_ms, rollup_ms, ratios, longest_cpu_us;
  PageCensus sum;
  bool census_first = true;
  for (auto _ : state) {
    double a = 0, b = 0;
    for (int turn = 0; turn < 2; ++turn) {
      const bool census = (turn == 0) == census_first;
      const std::uint64_t began = thread_cpu_ns();
      const bool ok = census ? scrape(chosen, sum) : read_rollups(chosen) > 0;
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
BENCHMARK(BM_Paired)->Name("paired")->DenseRange(0, kShapeCount)->Unit(benchmark::kMillisecond);

void BM_UnboundedCall(benchmark::State& state) {
  const Target& t = targets()[2];  // sparse
  auto process = Process::attach(t.pid);
  if (t.pid <= 0 || !process) {
    state.SkipWithError("no sparse target");
    return;
  }
  // At most a region per 2 MiB (one written page each), and room to spare.
  std::vector<PageRegion> buffer(((t.end - t.start) >> 21) + 1024);
  std::uint64_t longest = 0, longest_cpu = 0;
  for (auto _ : state) {
    RawScanArgs args = to_raw_args(
        ScanRequest::over(t.start, t.end)
            .any_of(Category::present | Category::swapped)
            .returning(Category::present | Category::swapped | Category::pfnzero | Category::file));
    args.vec = reinterpret_cast<std::uint64_t>(buffer.data());
    args.vec_len = buffer.size();
    const auto began = std::chrono::steady_clock::now();
    const std::uint64_t began_cpu = thread_cpu_ns();
    auto n = scan_raw(*process, args);
    longest_cpu = std::max(longest_cpu, thread_cpu_ns() - began_cpu);
    longest = std::max(
        longest, static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                std::chrono::steady_clock::now() - began)
                                                .count()));
    // Complete when the buffer did not fill (walk_end may be stale: docs/scanner.md).
    if (!n || *n >= buffer.size()) {
      state.SkipWithError("the unbounded call did not cover the range");
      return;
    }
  }
  unbounded_call_us = static_cast<double>(longest) / 1e3;
  unbounded_call_cpu_us = static_cast<double>(longest_cpu) / 1e3;
  state.counters["call_us_max"] = unbounded_call_us;
  state.counters["call_cpu_us_max"] = unbounded_call_cpu_us;
}
BENCHMARK(BM_UnboundedCall)->Name("unbounded_call/sparse")->Unit(benchmark::kMillisecond);

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
  std::printf("one unbounded call over the 64 GiB sparse target: %.1f us (%.1f us CPU)\n",
              unbounded_call_us, unbounded_call_cpu_us);
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
