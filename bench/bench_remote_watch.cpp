// Write tracking of another process (ProcessWriteWatch) side by side with the in-process
// WriteWatch (uffd engine), over the same 1 GiB and the same pages in one run.
//
// The other process is bench/targets/bench_target: a plain C program, not linked with
// pagescan, that maps 1 GiB of 4 KiB pages and writes the pages it is sent over a pipe
// (its own CPU time for the writes comes back with the answer). The in-process side
// writes the same page indexes into a 1 GiB region of this process.
//
// Benchmarks are named remote_watch/<measure>/<side>; sides in_process and remote.
// Tracker times are this thread's CPU time (other jobs on the machine do not inflate
// them as they do wall time); writes are timed as the writing thread's CPU time, here or
// in the target. Measures:
//   arm_1GiB          create the watch over the 1 GiB (remote: attach, i.e. the injection
//                     and arming); counters ms (CPU), wall_ms;
//   collect_1GiB/<p>  collect-and-re-arm after <p> per mille of the pages were written at
//                     random (writes untimed); counters ms, ns_per_dirty_page, exact,
//                     tlb_ipis (TLB shootdown interrupts per collect, system-wide);
//   collect_busy/10   the same at 1%, with the watched address space running on another
//                     CPU during the collect (remote: the target spins; in_process: a
//                     second thread spins; the tracker pinned to one CPU, the spinner to
//                     another), so re-protecting pages must flush that CPU's TLB;
//                     counters as above and overlap (1: the spin covered every collect);
//   cycle             write 4096 random pages, then collect: writer CPU + tracker CPU per
//                     dirty page (counter ns_per_dirty_page; write_ns and collect_ns per
//                     page apart; wall_ns per page for remote, pipe round trip included);
//   attach_stop/<t>   remote only: 50 attaches over one page of the region, the target
//                     idle (blocked in read) or busy (spinning, pinned to another CPU
//                     than the tracker); counters median_ms,
//                     max_ms from attach_stop_ns();
//   top_1Hz           remote only: a whole-process watch collected once a second for 10 s
//                     while the target writes 1% of the 1 GiB per second; counter
//                     cpu_percent (this process's CPU over wall time: % of one core).
// A summary table at the end prints both sides, the ratios remote / in-process from this
// run, and the targets (remote cycle <= 1.2x in-process; attach stop <= 5 ms
// median; top <= 1% of a core). Nothing here runs in `make test`: it is only built.
#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "pagescan/process_watch.hpp"
#include "pagescan/watch.hpp"
#include "piped_child.hpp"

namespace pagescan::bench {
namespace {

constexpr std::size_t kBytes = std::size_t{1} << 30;
constexpr std::uint32_t kCyclePages = 4096;
constexpr int kAttaches = 50;
constexpr int kTopSeconds = 10;

std::uint64_t now_ns(clockid_t clock) {
  timespec ts{};
  ::clock_gettime(clock, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u +
         static_cast<std::uint64_t>(ts.tv_nsec);
}
std::uint64_t thread_cpu() {
  return now_ns(CLOCK_THREAD_CPUTIME_ID);
}
std::uint64_t wall() {
  return now_ns(CLOCK_MONOTONIC);
}

std::size_t page_size() {
  static const auto size = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return size;
}
std::uint32_t region_pages() {
  return static_cast<std::uint32_t>(kBytes / page_size());
}

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "bench_remote_watch: %s\n", what.c_str());
  std::exit(1);
}

// The CPUs this process may use, as it started.
cpu_set_t& all_cpus() {
  static cpu_set_t set = [] {
    cpu_set_t s;
    CPU_ZERO(&s);
    ::sched_getaffinity(0, sizeof s, &s);
    return s;
  }();
  return set;
}
// Pins thread `tid` (0: the caller) to the n-th CPU this process may use, or with n -1
// lets it run on all of them again. The busy cases pin the tracker to the first and the
// spinning address space to the second, so "on another CPU" holds by construction.
void pin(pid_t tid, int n) {
  cpu_set_t set;
  CPU_ZERO(&set);
  int seen = 0;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (!CPU_ISSET(cpu, &all_cpus())) continue;
    if (n < 0 || seen++ == n) CPU_SET(cpu, &set);
  }
  if (CPU_COUNT(&set) == 0) return;  // one CPU: nothing to separate
  ::sched_setaffinity(tid, sizeof set, &set);
}

// TLB shootdown interrupts received by all CPUs so far (/proc/interrupts, row TLB:).
// System-wide: other jobs on the machine add a little.
std::uint64_t tlb_shootdowns() {
  std::ifstream in("/proc/interrupts");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string label;
    words >> label;
    if (label != "TLB:") continue;
    std::uint64_t total = 0, n = 0;
    while (words >> n) total += n;
    return total;
  }
  return 0;
}

// `count` distinct random page indexes of the region, from a fixed seed: both sides get
// the same list.
std::vector<std::uint32_t> random_pages(std::uint32_t count, std::uint64_t seed) {
  static std::vector<std::uint32_t> permutation;
  permutation.resize(region_pages());
  std::iota(permutation.begin(), permutation.end(), 0u);  // the same start every time
  std::mt19937_64 rng(seed);
  for (std::uint32_t i = 0; i < count; ++i) {
    std::uniform_int_distribution<std::uint32_t> pick(i, region_pages() - 1);
    std::swap(permutation[i], permutation[pick(rng)]);
  }
  return {permutation.begin(), permutation.begin() + count};
}

// bench_target's protocol (bench/targets/bench_target.c).
enum class Op : std::uint32_t { write = 1, rate = 2, spin = 3 };
struct Command {
  Op op;
  std::uint32_t count;
  std::uint64_t arg;
};
struct Reply {
  std::uint64_t cpu_ns = 0;
  std::uint64_t wall_ns = 0;
  std::uint64_t pages = 0;
};

// The target process, started once for the whole run.
class Target {
 public:
  Target() : child_(PAGESCAN_BENCH_TARGET) {
    if (child_.pid() <= 0) die(child_.error());
    // "ready <pid> <address> <bytes>": binary replies follow.
    const std::string line = child_.read_line();
    int pid = 0;
    unsigned long long address = 0, bytes = 0;
    if (std::sscanf(line.c_str(), "ready %d %llx %llu", &pid, &address, &bytes) != 3 ||
        pid != child_.pid() || bytes != kBytes) {
      die("bench_target did not start: '" + line + "'");
    }
    base_ = address;
  }

  pid_t pid() const { return child_.pid(); }
  std::uint64_t base() const { return base_; }

  void send(Op op, std::uint32_t count, std::uint64_t arg,
            const std::vector<std::uint32_t>& pages = {}) {
    const Command c{op, count, arg};
    if (!child_.write_all(&c, sizeof c) ||
        (!pages.empty() && !child_.write_all(pages.data(), pages.size() * sizeof pages[0]))) {
      die("writing to bench_target failed");
    }
  }
  Reply reply() {
    Reply r;
    if (!child_.read_exactly(&r, sizeof r)) die("bench_target stopped answering");
    return r;
  }

 private:
  PipedChild child_;
  std::uint64_t base_ = 0;
};

Target& target() {
  static Target t;
  return t;
}

// The in-process region: populated with 4 KiB pages as the target's is.
char* own_region() {
  static char* region = [] {
    void* p = ::mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) die(std::string("mmap: ") + std::strerror(errno));
    ::madvise(p, kBytes, MADV_NOHUGEPAGE);
    std::memset(p, 1, kBytes);
    return static_cast<char*>(p);
  }();
  return region;
}

// The watch a create/attach made, kept in `slot`; false with `error` set on failure.
template <typename Watch>
bool keep_watch(Result<Watch> made, std::optional<Watch>& slot, std::string& error) {
  if (!made) {
    error = made.error().message();
    return false;
  }
  slot.emplace(std::move(*made));
  return true;
}

// The pages a collect reported, or -1 with `error` set.
long long pages_of(const Result<Harvest>& harvest, std::string& error) {
  if (!harvest) {
    error = harvest.error().message();
    return -1;
  }
  return static_cast<long long>(harvest->pages);
}

// One side of the comparison: the memory, who writes it, and the watch over it.
class Side {
 public:
  virtual ~Side() = default;
  // Writes `value` into each page; the writer's CPU ns (and wall ns) for the writes.
  virtual Reply write(const std::vector<std::uint32_t>& pages, std::uint64_t value) = 0;
  // Creates the watch over the 1 GiB (replacing any); false with `error` set on failure.
  virtual bool arm(std::string& error) = 0;
  virtual void disarm() = 0;
  // Collect-and-re-arm: pages reported, or -1 with `error` set.
  virtual long long collect(std::string& error) = 0;
  // Keeps the watched address space running on another CPU for at least `ms`.
  virtual void start_spin(std::uint64_t ms) = 0;
  virtual void end_spin() = 0;
};

class InProcess final : public Side {
 public:
  Reply write(const std::vector<std::uint32_t>& pages, std::uint64_t value) override {
    char* region = own_region();
    const std::uint64_t cpu0 = thread_cpu(), wall0 = wall();
    for (std::uint32_t i : pages) {
      *reinterpret_cast<volatile std::uint64_t*>(region + std::size_t{i} * page_size()) = value;
    }
    return Reply{thread_cpu() - cpu0, wall() - wall0, pages.size()};
  }
  bool arm(std::string& error) override {
    watch_.reset();
    WatchOptions options;
    options.engine = WatchEngine::uffd;
    return keep_watch(WriteWatch::create(own_region(), kBytes, options), watch_, error);
  }
  void disarm() override { watch_.reset(); }
  long long collect(std::string& error) override {
    return pages_of(watch_->collect(own_region(), kBytes), error);
  }
  // A second thread of this process spinning in user mode (no system calls).
  void start_spin(std::uint64_t) override {
    stop_ = false;
    running_ = false;
    spinner_ = std::thread([this] {
      pin(0, 1);
      running_ = true;
      volatile std::uint64_t sum = 0;
      while (!stop_.load(std::memory_order_relaxed)) sum = sum + 1;
    });
    while (!running_) std::this_thread::yield();
  }
  void end_spin() override {
    stop_ = true;
    spinner_.join();
  }

 private:
  std::optional<WriteWatch> watch_;
  std::thread spinner_;
  std::atomic<bool> stop_{false}, running_{false};
};

class Remote final : public Side {
 public:
  Reply write(const std::vector<std::uint32_t>& pages, std::uint64_t value) override {
    target().send(Op::write, static_cast<std::uint32_t>(pages.size()), value, pages);
    return target().reply();
  }
  bool arm(std::string& error) override {
    watch_.reset();
    return keep_watch(ProcessWriteWatch::attach(target().pid(), target().base(), kBytes), watch_,
                      error);
  }
  void disarm() override { watch_.reset(); }
  long long collect(std::string& error) override { return pages_of(watch_->collect(), error); }
  void start_spin(std::uint64_t ms) override {
    pin(target().pid(), 1);
    target().send(Op::spin, 0, ms);
    // It reads the command and starts spinning within this (its CPU is otherwise idle).
    ::usleep(2'000);
  }
  void end_spin() override {
    (void)target().reply();
    pin(target().pid(), -1);
  }

 private:
  std::optional<ProcessWriteWatch> watch_;
};

enum class Where { in_process, remote };
const char* name_of(Where w) {
  return w == Where::remote ? "remote" : "in_process";
}
Side& side(Where w) {
  static InProcess in_process;
  static Remote remote;
  if (w == Where::remote) return remote;
  return in_process;
}

// Figures for the summary: the best (lowest) per case over repetitions.
std::map<std::string, double>& results() {
  static std::map<std::string, double> r;
  return r;
}
void keep(const std::string& key, double value) {
  auto [it, added] = results().emplace(key, value);
  if (!added) it->second = std::min(it->second, value);
}

bool arm_or_skip(benchmark::State& state, Side& s) {
  std::string error;
  if (s.arm(error)) return true;
  state.SkipWithError(("arm: " + error).c_str());
  for (auto _ : state) {
  }
  return false;
}

void arm_1gib(benchmark::State& state, Where where) {
  Side& s = side(where);
  double cpu = 0, elapsed = 0;
  std::uint64_t n = 0;
  for (auto _ : state) {
    s.disarm();  // untimed: the previous watch unregisters
    const std::uint64_t c0 = thread_cpu(), w0 = wall();
    std::string error;
    const bool ok = s.arm(error);
    const std::uint64_t c1 = thread_cpu(), w1 = wall();
    if (!ok) {
      state.SkipWithError(("arm: " + error).c_str());
      break;
    }
    state.SetIterationTime(static_cast<double>(c1 - c0) * 1e-9);
    cpu += static_cast<double>(c1 - c0);
    elapsed += static_cast<double>(w1 - w0);
    ++n;
  }
  s.disarm();
  if (!n) return;
  const double ms = cpu / static_cast<double>(n) * 1e-6;
  state.counters["ms"] = ms;
  state.counters["wall_ms"] = elapsed / static_cast<double>(n) * 1e-6;
  keep(std::string("arm/") + name_of(where), ms);
  keep(std::string("arm_wall/") + name_of(where), elapsed / static_cast<double>(n) * 1e-6);
}

// Collect after `per_mille` of the pages were written; with `busy`, the watched address
// space runs on another CPU during each collect.
void collect_1gib(benchmark::State& state, Where where, bool busy) {
  Side& s = side(where);
  const auto per_mille = static_cast<std::uint32_t>(state.range(0));
  const std::uint32_t dirty = region_pages() / 1000 * per_mille;
  if (!arm_or_skip(state, s)) return;
  std::string error;
  // One untimed round first: the first collect after arming walks cold page tables.
  s.write(random_pages(region_pages() / 1000, 1), 1);
  (void)s.collect(error);
  constexpr std::uint64_t kSpinMs = 300;
  if (busy) pin(0, 0);
  double cpu = 0;
  std::uint64_t iteration = 0, tlb = 0;
  bool exact = true, overlap = true;
  for (auto _ : state) {
    ++iteration;
    s.write(random_pages(dirty, per_mille * 1000 + iteration), iteration);
    if (busy) s.start_spin(kSpinMs);
    const std::uint64_t tlb0 = tlb_shootdowns();
    const std::uint64_t w0 = wall(), c0 = thread_cpu();
    const long long reported = s.collect(error);
    const std::uint64_t c1 = thread_cpu(), w1 = wall();
    tlb += tlb_shootdowns() - tlb0;
    if (busy) {
      // The spin started up to 2 ms before w0; it must outlast the collect.
      overlap = overlap && (w1 - w0) + 2'000'000 < kSpinMs * 1'000'000;
      s.end_spin();
    }
    if (reported < 0) {
      state.SkipWithError(("collect: " + error).c_str());
      break;
    }
    exact = exact && reported == dirty;
    state.SetIterationTime(static_cast<double>(c1 - c0) * 1e-9);
    cpu += static_cast<double>(c1 - c0);
  }
  s.disarm();
  if (busy) pin(0, -1);
  if (!iteration) return;
  const double ms = cpu / static_cast<double>(iteration) * 1e-6;
  state.counters["ms"] = ms;
  state.counters["ns_per_dirty_page"] = ms * 1e6 / dirty;
  state.counters["tlb_ipis"] = static_cast<double>(tlb) / static_cast<double>(iteration);
  state.counters["exact"] = exact ? 1 : 0;
  if (busy) state.counters["overlap"] = overlap ? 1 : 0;
  const std::string prefix =
      std::string(busy ? "collect_busy/" : "collect/") + std::to_string(per_mille);
  const std::string key = prefix + "/" + name_of(where);
  keep(key, ms);
  keep(prefix + "#tlb/" + name_of(where),
       static_cast<double>(tlb) / static_cast<double>(iteration));
  if (!exact) results()[key + "#inexact"] = 1;
  if (busy && !overlap) results()[key + "#no_overlap"] = 1;
}

void cycle(benchmark::State& state, Where where) {
  Side& s = side(where);
  if (!arm_or_skip(state, s)) return;
  std::string error;
  double writes = 0, collects = 0, elapsed = 0;
  std::uint64_t iteration = 0;
  bool exact = true;
  for (auto _ : state) {
    ++iteration;
    const std::vector<std::uint32_t> pages = random_pages(kCyclePages, 7000 + iteration);
    const std::uint64_t w0 = wall();
    const Reply wrote = s.write(pages, iteration);
    const std::uint64_t c0 = thread_cpu();
    const long long reported = s.collect(error);
    const std::uint64_t c1 = thread_cpu(), w1 = wall();
    if (reported < 0) {
      state.SkipWithError(("collect: " + error).c_str());
      break;
    }
    exact = exact && reported == kCyclePages;
    state.SetIterationTime(static_cast<double>(wrote.cpu_ns + (c1 - c0)) * 1e-9);
    writes += static_cast<double>(wrote.cpu_ns);
    collects += static_cast<double>(c1 - c0);
    elapsed += static_cast<double>(w1 - w0);
  }
  s.disarm();
  if (!iteration) return;
  const double per = static_cast<double>(iteration) * kCyclePages;
  state.counters["ns_per_dirty_page"] = (writes + collects) / per;
  state.counters["write_ns"] = writes / per;
  state.counters["collect_ns"] = collects / per;
  state.counters["wall_ns"] = elapsed / per;
  state.counters["exact"] = exact ? 1 : 0;
  const std::string w = name_of(where);
  keep("cycle/" + w, (writes + collects) / per);
  keep("cycle_write/" + w, writes / per);
  keep("cycle_collect/" + w, collects / per);
  keep("cycle_wall/" + w, elapsed / per);
  if (!exact) results()["cycle/" + w + "#inexact"] = 1;
}

// How long the target stays stopped while a watch attaches (one page: arming happens
// after the target runs again, so the range does not change the stop).
void attach_stop(benchmark::State& state, bool busy) {
  constexpr std::uint64_t kSpinMs = 60;
  if (busy) pin(0, 0);
  std::vector<double> stops;
  std::string error;
  for (auto _ : state) {
    if (busy) side(Where::remote).start_spin(kSpinMs);
    const std::uint64_t w0 = wall();
    auto w = ProcessWriteWatch::attach(target().pid(), target().base(), page_size());
    const std::uint64_t w1 = wall();
    if (!w) {
      if (busy) side(Where::remote).end_spin();
      state.SkipWithError(("attach: " + w.error().message()).c_str());
      break;
    }
    stops.push_back(static_cast<double>(w->attach_stop_ns()) * 1e-6);
    state.SetIterationTime(static_cast<double>(w1 - w0) * 1e-9);
    if (busy) {
      if ((w1 - w0) + 2'000'000 >= kSpinMs * 1'000'000)
        results()["attach_stop/busy#no_overlap"] = 1;
      side(Where::remote).end_spin();
    }
  }
  if (busy) pin(0, -1);
  if (stops.empty()) return;
  std::sort(stops.begin(), stops.end());
  const double median = stops.size() % 2
                            ? stops[stops.size() / 2]
                            : (stops[stops.size() / 2 - 1] + stops[stops.size() / 2]) / 2;
  state.counters["median_ms"] = median;
  state.counters["max_ms"] = stops.back();
  state.counters["min_ms"] = stops.front();
  const std::string key = busy ? "attach_stop/busy" : "attach_stop/idle";
  keep(key + "#median", median);
  keep(key + "#max", stops.back());
}

// `pagescan top` at 1 Hz: a whole-process watch collected once a second while the target
// writes 1% of the 1 GiB per second. This process's CPU over the wall time it spans.
void top_1hz(benchmark::State& state) {
  const std::uint32_t per_second = region_pages() / 100;
  for (auto _ : state) {
    auto w = ProcessWriteWatch::attach(target().pid(), 0, 0);
    if (!w) {
      state.SkipWithError(("attach: " + w.error().message()).c_str());
      break;
    }
    (void)w->collect();  // the first collect reports what changed since the attach
    // It writes a little longer than we watch, so the last collect sees a running writer.
    target().send(Op::rate, per_second, (kTopSeconds + 1) * 1000);
    const std::uint64_t w0 = wall(), c0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
    std::uint64_t pages = 0;
    for (int second = 1; second <= kTopSeconds; ++second) {
      const std::uint64_t at = w0 + static_cast<std::uint64_t>(second) * 1'000'000'000u;
      timespec ts{static_cast<time_t>(at / 1'000'000'000u), static_cast<long>(at % 1'000'000'000u)};
      while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) != 0) {
      }
      auto h = w->collect();
      if (!h) {
        state.SkipWithError(("collect: " + h.error().message()).c_str());
        break;
      }
      pages += h->pages;
    }
    const std::uint64_t c1 = now_ns(CLOCK_PROCESS_CPUTIME_ID), w1 = wall();
    const Reply wrote = target().reply();
    state.SetIterationTime(static_cast<double>(w1 - w0) * 1e-9);
    const double percent = static_cast<double>(c1 - c0) / static_cast<double>(w1 - w0) * 100;
    state.counters["cpu_percent"] = percent;
    state.counters["cpu_ms_per_collect"] = static_cast<double>(c1 - c0) * 1e-6 / kTopSeconds;
    state.counters["pages_per_collect"] = static_cast<double>(pages) / kTopSeconds;
    state.counters["target_writes_per_s"] =
        static_cast<double>(wrote.pages) / (static_cast<double>(wrote.wall_ns) * 1e-9);
    keep("top#percent", percent);
    keep("top#ms_per_collect", static_cast<double>(c1 - c0) * 1e-6 / kTopSeconds);
    keep("top#pages", static_cast<double>(pages) / kTopSeconds);
  }
}

void register_all() {
  auto add = [](const std::string& name, auto fn, benchmark::IterationCount iterations) {
    return benchmark::RegisterBenchmark(name.c_str(), fn)
        ->UseManualTime()
        ->Iterations(iterations)
        ->Unit(benchmark::kMillisecond);
  };
  constexpr Where kSides[] = {Where::in_process, Where::remote};
  for (Where w : kSides) {
    add(
        std::string("remote_watch/arm_1GiB/") + name_of(w),
        [w](benchmark::State& s) { arm_1gib(s, w); }, 5);
  }
  for (std::uint32_t per_mille : {1u, 10u, 100u}) {
    const benchmark::IterationCount iterations = per_mille <= 1 ? 20 : per_mille <= 10 ? 10 : 5;
    for (Where w : kSides) {
      add(
          "remote_watch/collect_1GiB/" + std::to_string(per_mille) + "/" + name_of(w),
          [w](benchmark::State& s) { collect_1gib(s, w, false); }, iterations)
          ->Arg(per_mille);
    }
  }
  for (Where w : kSides) {
    add(
        std::string("remote_watch/collect_busy/10/") + name_of(w),
        [w](benchmark::State& s) { collect_1gib(s, w, true); }, 10)
        ->Arg(10);
  }
  for (Where w : kSides) {
    add(
        std::string("remote_watch/cycle/") + name_of(w), [w](benchmark::State& s) { cycle(s, w); },
        30);
  }
  add(
      "remote_watch/attach_stop/idle", [](benchmark::State& s) { attach_stop(s, false); },
      kAttaches);
  add(
      "remote_watch/attach_stop/busy", [](benchmark::State& s) { attach_stop(s, true); },
      kAttaches);
  add("remote_watch/top_1Hz/remote", top_1hz, 1)->Unit(benchmark::kSecond);
}

std::string cell(const std::string& key, const char* format) {
  auto it = results().find(key);
  if (it == results().end()) return "-";
  char text[32];
  std::snprintf(text, sizeof text, format, it->second);
  std::string out = text;
  if (results().count(key + "#inexact")) out += " (inexact)";
  if (results().count(key + "#no_overlap")) out += " (spin ended early)";
  return out;
}
double value(const std::string& key) {
  auto it = results().find(key);
  return it == results().end() ? -1.0 : it->second;
}

void print_summary() {
  std::printf("\n## Remote against in-process write tracking (1 GiB, 4 KiB pages)\n\n");
  std::printf("| measure | in-process | remote | remote / in-process |\n|---|---:|---:|---:|\n");
  auto row = [](const std::string& label, const std::string& key, const char* format) {
    const double a = value(key + "/in_process"), b = value(key + "/remote");
    char ratio[32] = "-";
    if (a > 0 && b > 0) std::snprintf(ratio, sizeof ratio, "%.2f", b / a);
    std::printf("| %s | %s | %s | %s |\n", label.c_str(), cell(key + "/in_process", format).c_str(),
                cell(key + "/remote", format).c_str(), ratio);
  };
  row("arm 1 GiB, tracker CPU (ms)", "arm", "%.2f");
  row("arm 1 GiB, wall (ms)", "arm_wall", "%.2f");
  row("collect, 0.1% written (ms)", "collect/1", "%.3f");
  row("collect, 1% written (ms)", "collect/10", "%.3f");
  row("collect, 10% written (ms)", "collect/100", "%.3f");
  row("collect, 1% written, watched mm busy on another CPU (ms)", "collect_busy/10", "%.3f");
  row("  TLB shootdown interrupts per collect, idle (system-wide)", "collect/10#tlb", "%.0f");
  row("  TLB shootdown interrupts per collect, busy (system-wide)", "collect_busy/10#tlb", "%.0f");
  row("cycle: write 4096 pages + collect (ns/dirty page)", "cycle", "%.0f");
  row("  of which the writes (writer CPU, ns/page)", "cycle_write", "%.0f");
  row("  of which the collect (tracker CPU, ns/page)", "cycle_collect", "%.0f");
  row("  cycle, wall time (ns/dirty page)", "cycle_wall", "%.0f");
  std::printf(
      "\nattach stop, target idle: median %s ms, max %s ms; busy: median %s ms, max %s ms "
      "(%d attaches each)\n",
      cell("attach_stop/idle#median", "%.3f").c_str(), cell("attach_stop/idle#max", "%.3f").c_str(),
      cell("attach_stop/busy#median", "%.3f").c_str(), cell("attach_stop/busy#max", "%.3f").c_str(),
      kAttaches);
  std::printf(
      "top at 1 Hz, target writing 1%% of 1 GiB/s: %s%% of a core (%s ms CPU per "
      "collect, %s pages per collect)\n",
      cell("top#percent", "%.3f").c_str(), cell("top#ms_per_collect", "%.2f").c_str(),
      cell("top#pages", "%.0f").c_str());

  std::printf("\n## Targets\n\n");
  const double a = value("cycle/in_process"), b = value("cycle/remote");
  if (a > 0 && b > 0) {
    std::printf("- remote cycle / in-process cycle = %.2f (target <= 1.2): %s\n", b / a,
                b / a <= 1.2 ? "met" : "MISSED");
  }
  for (const char* load : {"idle", "busy"}) {
    const double stop = value(std::string("attach_stop/") + load + "#median");
    if (stop >= 0) {
      std::printf("- attach stop median, target %s = %.3f ms (target <= 5): %s\n", load, stop,
                  stop <= 5 ? "met" : "MISSED");
    }
  }
  const double top = value("top#percent");
  if (top >= 0) {
    std::printf("- top at 1 Hz = %.3f%% of a core (target <= 1): %s\n", top,
                top <= 1 ? "met" : "MISSED");
  }
}

}  // namespace
}  // namespace pagescan::bench

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  // Start the target and populate both regions before any case is timed.
  (void)pagescan::bench::target();
  (void)pagescan::bench::own_region();
  (void)pagescan::watch_engine_available(pagescan::WatchEngine::uffd);
  pagescan::bench::register_all();
  benchmark::RunSpecifiedBenchmarks();
  pagescan::bench::print_summary();
  benchmark::Shutdown();
  return 0;
}
