// Scan benchmarks: pagescan::scan() vs the raw PAGEMAP_SCAN ioctl vs pread of pagemap,
// on five memory layouts and three requests, side by side in one run.
//
// Benchmarks are named scan/<layout>/<request>/<method>, methods:
//   library  pagescan::scan(): a fresh std::vector answer per call, as callers use it;
//   each     pagescan::scan_each() appending chunks to one reused vector (the library's
//            call loop without the cost of allocating the answer);
//   ioctl    PAGEMAP_SCAN into one preallocated, already faulted-in buffer (raw_scan.hpp);
//   pread    /proc/self/maps + pread of /proc/self/pagemap (pread_scan.hpp);
//   paired   library, each and ioctl interleaved call by call (see paired_method).
// Memory is set up once per layout (scenarios.cpp), never per iteration. Before a case
// is timed, the answers of library, each and ioctl are compared once; a case whose
// answers differ is reported as an error instead of a time. Counters: regions and pages
// of the answer, kernel calls (preads for pread), minor page faults per scan, and the
// PMD-mapped huge pages in the range. bench/report turns the JSON output into ratios.
#include <sys/resource.h>
#include <sys/utsname.h>
#include <time.h>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "pagescan/features.hpp"
#include "pagescan/process.hpp"
#include "pagescan/scan.hpp"
#include "pread_scan.hpp"
#include "raw_scan.hpp"
#include "scenarios.hpp"

namespace pagescan::bench {
namespace {

enum class RequestId { criu, all, written };
constexpr RequestId kRequests[] = {RequestId::criu, RequestId::all, RequestId::written};

const char* name_of(RequestId id) {
  switch (id) {
    case RequestId::criu:
      return "criu";
    case RequestId::all:
      return "all";
    case RequestId::written:
      return "written";
  }
  return "?";
}

ScanRequest make_request(RequestId id, const Scenario& s) {
  ScanRequest r = ScanRequest::over(s.start, s.end);
  switch (id) {
    case RequestId::criu:
      // CRIU's dump query (criu/mem.c): populated pages, minus the zero page and files.
      r.any_of(Category::present | Category::swapped)
          .none_of(Category::pfnzero | Category::file)
          .returning(Category::present | Category::swapped);
      break;
    case RequestId::all:
      // Every page of every VMA, with every category the kernel knows.
      r.returning(features().scan_categories);
      break;
    case RequestId::written:
      // The GetWriteWatch shape; the kernel takes its WRITTEN fast path (§3.7).
      r.all_of(Category::written).returning(Category::written);
      break;
  }
  return r;
}

const Process& self() {
  static Result<Process> process = Process::self();
  if (!process) {
    std::fprintf(stderr, "bench_scan: %s\n", process.error().message().c_str());
    std::exit(1);
  }
  return *process;
}

std::uint64_t pages_of(std::span<const PageRegion> regions) {
  std::uint64_t pages = 0;
  for (const PageRegion& r : regions) pages += r.pages(features().page_size);
  return pages;
}

std::string describe(const PageRegion& r) {
  char text[96];
  std::snprintf(text, sizeof text, "[0x%llx-0x%llx) %s", static_cast<unsigned long long>(r.start),
                static_cast<unsigned long long>(r.end), to_string(r.categories).c_str());
  return text;
}

// One layout x request: the request, the verified answer, and the raw method's buffer.
struct Case {
  ScanRequest request;
  std::string problem;                 // set when the case cannot be timed
  std::vector<PageRegion> expected;    // the library's answer, equal to the raw ioctl's
  std::uint64_t huge_pages = 0;        // pages of the range in PMD-mapped huge pages
  std::vector<PageRegion> raw_buffer;  // big enough for one call, already faulted in
  std::vector<PageRegion> each_out;    // reused by the scan_each method
};

// Where the library's and the raw ioctl's answers first differ, or "" when they agree.
std::string compare(std::span<const PageRegion> library, std::span<const PageRegion> raw) {
  std::size_t n = std::min(library.size(), raw.size());
  for (std::size_t i = 0; i < n; ++i) {
    if (!(library[i] == raw[i])) {
      return "library and raw ioctl disagree at region " + std::to_string(i) + ": " +
             describe(library[i]) + " vs " + describe(raw[i]);
    }
  }
  if (library.size() != raw.size()) {
    return "library returned " + std::to_string(library.size()) + " regions, raw ioctl " +
           std::to_string(raw.size());
  }
  return {};
}

// Builds the layout, runs both kernel methods once outside any timing and compares them.
Case& prepare(ScenarioId sid, RequestId rid) {
  static std::map<std::pair<ScenarioId, RequestId>, Case> cases;
  auto [it, fresh] = cases.try_emplace({sid, rid});
  Case& c = it->second;
  if (!fresh) return c;

  const Scenario& s = scenario(sid);
  if (!s.unavailable.empty()) {
    c.problem = std::string(s.name) + " unavailable: " + s.unavailable;
    return c;
  }
  if (!features().pagemap_scan) {
    c.problem = "kernel " + features().kernel_release + " has no PAGEMAP_SCAN";
    return c;
  }
  c.request = make_request(rid, s);
  auto library = scan(self(), c.request);
  if (!library) {
    c.problem = library.error().message();
    return c;
  }
  if (library->backend != Backend::kernel) {
    c.problem = "the library answered with the " + std::string(to_string(library->backend)) +
                " backend, not the kernel's ioctl (is PAGESCAN_BACKEND set?)";
    return c;
  }
  c.expected = std::move(library->regions);
  auto huge = scan(self(), ScanRequest::over(s.start, s.end).all_of(Category::huge));
  if (huge) c.huge_pages = huge->pages;
  if (sid == ScenarioId::dense_thp && c.huge_pages == 0) {
    c.problem = "no PMD-mapped THP in the range (THP mode \"" + features().thp_mode +
                "\"; the kernel may have found no free 2 MiB blocks)";
    return c;
  }

  // Twice the answer plus slack, written once so that the timed calls take no faults.
  c.raw_buffer.assign(std::max<std::size_t>(2 * c.expected.size(), 4096), PageRegion{});
  RawScan raw = raw_scan(*self().pagemap_fd(), c.request, c.raw_buffer);
  if (raw.error) {
    c.problem = std::string("raw PAGEMAP_SCAN failed: ") + std::strerror(raw.error);
  } else if (raw.calls != 1) {
    c.problem = "raw buffer of " + std::to_string(c.raw_buffer.size()) + " regions took " +
                std::to_string(raw.calls) + " calls";
  } else {
    c.problem = compare(c.expected, std::span(c.raw_buffer.data(), raw.regions));
  }
  if (c.problem.empty()) {
    c.each_out.reserve(c.raw_buffer.size());
    auto each = scan_each(self(), c.request, [&](std::span<const PageRegion> chunk) {
      c.each_out.insert(c.each_out.end(), chunk.begin(), chunk.end());
      return true;
    });
    if (!each) {
      c.problem = each.error().message();
    } else if (std::string diff = compare(c.expected, c.each_out); !diff.empty()) {
      c.problem = "scan_each: " + diff;
    }
  }
  return c;
}

long minor_faults() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt;
}

// Page faults taken inside the timed loop, per scan.
class FaultCounter {
 public:
  FaultCounter() : start_(minor_faults()) {}
  void report(benchmark::State& state) const {
    state.counters["faults"] =
        static_cast<double>(minor_faults() - start_) /
        static_cast<double>(std::max<benchmark::IterationCount>(state.iterations(), 1));
  }

 private:
  long start_;
};

void set_counters(benchmark::State& state, const Case& c, std::span<const PageRegion> regions,
                  std::uint64_t calls) {
  state.counters["regions"] = static_cast<double>(regions.size());
  state.counters["pages"] = static_cast<double>(pages_of(regions));
  state.counters["calls"] = static_cast<double>(calls);
  state.counters["huge_pages"] = static_cast<double>(c.huge_pages);
}

void library_method(benchmark::State& state, ScenarioId sid, RequestId rid) {
  Case& c = prepare(sid, rid);
  if (!c.problem.empty()) return state.SkipWithError(c.problem.c_str());
  const Process& process = self();
  std::uint64_t calls = 0;
  FaultCounter faults;
  for (auto _ : state) {
    auto result = scan(process, c.request);
    if (!result) return state.SkipWithError(result.error().message().c_str());
    calls = result->kernel_calls;
    benchmark::DoNotOptimize(result->regions.data());
  }
  faults.report(state);
  set_counters(state, c, c.expected, calls);
}

void scan_each_method(benchmark::State& state, ScenarioId sid, RequestId rid) {
  Case& c = prepare(sid, rid);
  if (!c.problem.empty()) return state.SkipWithError(c.problem.c_str());
  const Process& process = self();
  std::vector<PageRegion>& out = c.each_out;
  auto append = [&out](std::span<const PageRegion> chunk) {
    out.insert(out.end(), chunk.begin(), chunk.end());
    return true;
  };
  std::uint64_t calls = 0;
  FaultCounter faults;
  for (auto _ : state) {
    out.clear();
    auto summary = scan_each(process, c.request, append);
    if (!summary) return state.SkipWithError(summary.error().message().c_str());
    calls = summary->kernel_calls;
    benchmark::DoNotOptimize(out.data());
  }
  faults.report(state);
  set_counters(state, c, out, calls);
}

// The emulated backend (pagemap + smaps) on the same request: compared with pread, the
// raw old-kernel way it is built on (target: at most 1.3x pread).
void emulated_method(benchmark::State& state, ScenarioId sid, RequestId rid) {
  Case& c = prepare(sid, rid);
  if (!c.problem.empty()) return state.SkipWithError(c.problem.c_str());
  const Process& process = self();
  std::vector<PageRegion> out;
  std::uint64_t calls = 0;
  ScanOptions options;
  options.backend = BackendChoice::emulated;
  for (auto _ : state) {
    auto summary = scan_into(process, c.request, out, options);
    if (!summary) return state.SkipWithError(summary.error().message().c_str());
    calls = summary->kernel_calls;
    benchmark::DoNotOptimize(out.data());
  }
  set_counters(state, c, out, calls);
}

void raw_ioctl_method(benchmark::State& state, ScenarioId sid, RequestId rid) {
  Case& c = prepare(sid, rid);
  if (!c.problem.empty()) return state.SkipWithError(c.problem.c_str());
  int fd = *self().pagemap_fd();
  RawScan raw;
  FaultCounter faults;
  for (auto _ : state) {
    raw = raw_scan(fd, c.request, c.raw_buffer);
    if (raw.error) return state.SkipWithError(std::strerror(raw.error));
    benchmark::DoNotOptimize(c.raw_buffer.data());
  }
  faults.report(state);
  set_counters(state, c, std::span(c.raw_buffer.data(), raw.regions), raw.calls);
}

void pread_method(benchmark::State& state, ScenarioId sid, RequestId rid) {
  Case& c = prepare(sid, rid);
  if (!c.problem.empty()) return state.SkipWithError(c.problem.c_str());
  static PreadScanner scanner;
  static std::string opened = scanner.open();
  if (!opened.empty()) return state.SkipWithError(opened.c_str());
  std::vector<PageRegion> regions;
  std::string error;
  FaultCounter faults;
  for (auto _ : state) {
    if (!scanner.scan(c.request, regions, error)) return state.SkipWithError(error.c_str());
    benchmark::DoNotOptimize(regions.data());
  }
  faults.report(state);
  set_counters(state, c, regions, scanner.preads());
  // 1 when pagemap's bits gave the same answer as PAGEMAP_SCAN (see pread_scan.hpp).
  state.counters["same_as_ioctl"] = regions == c.expected ? 1 : 0;
}

double thread_cpu_ms() {
  timespec t{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) / 1e6;
}

double median(std::vector<double>& v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// library, each and ioctl called in turn inside one loop, in a rotating order, each call
// timed on its own. Load from other jobs then falls on all three alike, which separate
// benchmarks run one after the other cannot promise on a shared machine; the medians
// give ratios precise enough to judge a 5% target. Counters: the three medians (ms) and
// the page faults per library call.
void paired_method(benchmark::State& state, ScenarioId sid, RequestId rid) {
  Case& c = prepare(sid, rid);
  if (!c.problem.empty()) return state.SkipWithError(c.problem.c_str());
  const Process& process = self();
  int fd = *process.pagemap_fd();
  std::vector<PageRegion>& out = c.each_out;
  auto append = [&out](std::span<const PageRegion> chunk) {
    out.insert(out.end(), chunk.begin(), chunk.end());
    return true;
  };
  std::vector<double> times[3];
  long library_faults = 0;
  auto run = [&](int method) -> bool {
    long faults_before = method == 0 ? minor_faults() : 0;  // read outside the timing
    double start = thread_cpu_ms();
    bool ok = true;
    if (method == 0) {
      ok = scan(process, c.request).has_value();  // the answer is freed inside the timing
    } else if (method == 1) {
      out.clear();
      ok = scan_each(process, c.request, append).has_value();
    } else {
      ok = raw_scan(fd, c.request, c.raw_buffer).error == 0;
    }
    times[method].push_back(thread_cpu_ms() - start);
    if (method == 0) library_faults += minor_faults() - faults_before;
    return ok;
  };
  int rotation = 0;
  for (auto _ : state) {
    for (int k = 0; k < 3; ++k) {
      if (!run((k + rotation) % 3)) return state.SkipWithError("a paired scan failed");
    }
    rotation = (rotation + 1) % 3;
  }
  state.counters["library_ms"] = median(times[0]);
  state.counters["each_ms"] = median(times[1]);
  state.counters["ioctl_ms"] = median(times[2]);
  state.counters["library_faults"] = static_cast<double>(library_faults) /
                                     static_cast<double>(std::max<std::size_t>(times[0].size(), 1));
}

void register_all() {
  using Method = void (*)(benchmark::State&, ScenarioId, RequestId);
  const std::pair<const char*, Method> methods[] = {
      {"library", library_method}, {"each", scan_each_method},    {"ioctl", raw_ioctl_method},
      {"pread", pread_method},     {"emulated", emulated_method}, {"paired", paired_method}};
  for (ScenarioId sid : kScenarios) {
    for (RequestId rid : kRequests) {
      for (auto [method_name, method] : methods) {
        std::string name =
            "scan/" + std::string(name_of(sid)) + "/" + name_of(rid) + "/" + method_name;
        auto* b = benchmark::RegisterBenchmark(name.c_str(), method, sid, rid);
        // CPU time (user + system) of the process: every method works synchronously in
        // this thread, so it is the cost of the scan, and unlike wall time it does not
        // count the time other jobs on a shared machine hold the CPU.
        b->Unit(benchmark::kMillisecond);
        // pread over 4 TiB reads 8 GiB of pagemap (about 5 s); its ratio to the ioctl is
        // in the hundreds, so one repetition says enough and keeps the run short.
        if (sid == ScenarioId::shadow_4t && (method == pread_method || method == emulated_method)) {
          b->Repetitions(1);
        }
      }
    }
  }
}

void add_context() {
  utsname u{};
  ::uname(&u);
  benchmark::AddCustomContext("kernel", u.release);
  benchmark::AddCustomContext("pagemap_scan_categories", to_string(features().scan_categories));
  benchmark::AddCustomContext("thp_mode", features().thp_mode);
}

}  // namespace
}  // namespace pagescan::bench

int main(int argc, char** argv) {
  pagescan::bench::register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  pagescan::bench::add_context();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
