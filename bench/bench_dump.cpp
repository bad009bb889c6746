// pagescan's core dumps (CoreDumper) side by side with gdb's gcore, on one target in one
// run: bench/targets/dump_bench_target.c, the shape issue 15 names (4 threads, 2 GiB
// written, an 8 GiB reservation with 128 MiB touched). Each side runs once (gcore takes
// about a minute here); the figures are wall time, blocks allocated on disk (st_blocks)
// against the bytes of data pages, how long the target was stopped (gcore: all of its
// run), and an incremental dump after 1% of the written pages changed.
//
// Cores go to a directory under /var/tmp (a disk file system: page-cache writing speed
// and real holes), removed at the end. A summary table with the ratios and the issue's
// targets follows Google Benchmark's output.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>

#include "pagescan/core_dump.hpp"
#include "piped_child.hpp"

extern char** environ;

namespace pagescan::bench {
namespace {

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "bench_dump: %s\n", what.c_str());
  std::exit(1);
}

double now_s() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

std::map<std::string, double>& results() {
  static std::map<std::string, double> r;
  return r;
}
void keep(const std::string& key, double value) {
  results()[key] = value;
}
double value(const std::string& key) {
  auto it = results().find(key);
  return it == results().end() ? -1.0 : it->second;
}

// The target, started once for the run: commands on a pipe, answers line by line.
class Target {
 public:
  Target() : child_(PAGESCAN_DUMP_BENCH_TARGET) {
    if (child_.pid() <= 0) die(child_.error());
    unsigned long long bytes = 0;
    int pid = 0;
    const std::string ready = child_.read_line();
    if (std::sscanf(ready.c_str(), "ready %d %llu", &pid, &bytes) != 2 || pid != child_.pid()) {
      die("dump_bench_target did not start: '" + ready + "'");
    }
    written_bytes_ = bytes;
  }
  pid_t pid() const { return child_.pid(); }
  std::uint64_t written_bytes() const { return written_bytes_; }
  // Rewrites `permille` of the 2 GiB's pages; returns how many.
  std::uint64_t change(int permille) {
    const std::string line = "change " + std::to_string(permille) + "\n";
    if (!child_.write_all(line.data(), line.size())) die("writing to the target failed");
    unsigned long long pages = 0;
    if (std::sscanf(child_.read_line().c_str(), "changed %llu", &pages) != 1) {
      die("the target stopped answering");
    }
    return pages;
  }

 private:
  PipedChild child_;
  std::uint64_t written_bytes_ = 0;
};

Target& target() {
  static Target t;
  return t;
}

const std::string& directory() {
  static const std::string dir = [] {
    char name[] = "/var/tmp/pagescan-bench-dump-XXXXXX";
    if (::mkdtemp(name) == nullptr) die(std::string("mkdtemp: ") + std::strerror(errno));
    return std::string(name);
  }();
  return dir;
}

std::uint64_t allocated(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) die("no core at " + path);
  return static_cast<std::uint64_t>(st.st_blocks) * 512;
}

// Runs a shell command; whether it succeeded.
bool shell(const std::string& command) {
  return std::system((command + " >/dev/null 2>&1").c_str()) == 0;
}

// An XFS with reflink on a loop device over a sparse image beside the cores, where the
// incremental core is a FICLONE clone of the previous one (ext4 has no reflink, so there
// the previous core's data is copied). Empty when it cannot be made (no mkfs.xfs, no
// loop devices, not root): reflink_directory_error() says so.
std::string& reflink_error() {
  static std::string e;
  return e;
}
const std::string& reflink_directory_error() {
  return reflink_error();
}
const std::string& reflink_directory() {
  static const std::string dir = [] {
    const std::string image = directory() + "/xfs.img", mount = directory() + "/xfs";
    if (!shell("mkdir -p " + mount + " && truncate -s 8G " + image +
               " && mkfs.xfs -q -m reflink=1 " + image + " && mount -o loop " + image + " " +
               mount)) {
      reflink_error() =
          "cannot make an XFS with reflink on a loop device (needs mkfs.xfs "
          "from xfsprogs, loop devices and root)";
      return std::string();
    }
    return mount;
  }();
  return dir;
}

void gcore(benchmark::State& state) {
  const std::string prefix = directory() + "/gcore";
  for (auto _ : state) {
    const std::string pid = std::to_string(target().pid());
    posix_spawn_file_actions_t actions;
    ::posix_spawn_file_actions_init(&actions);
    ::posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    ::posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    char* argv[] = {const_cast<char*>("gcore"), const_cast<char*>("-o"),
                    const_cast<char*>(prefix.c_str()), const_cast<char*>(pid.c_str()), nullptr};
    pid_t child = -1;
    const double t0 = now_s();
    if (::posix_spawnp(&child, "gcore", &actions, nullptr, argv, environ) != 0) {
      ::posix_spawn_file_actions_destroy(&actions);
      state.SkipWithError("gcore is not installed (Debian's gdb package)");
      return;
    }
    ::posix_spawn_file_actions_destroy(&actions);
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    const double wall = now_s() - t0;
    const std::string core = prefix + "." + pid;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || ::access(core.c_str(), F_OK) != 0) {
      state.SkipWithError("gcore failed");
      return;
    }
    state.SetIterationTime(wall);
    keep("gcore/wall_s", wall);
    keep("gcore/stopped_ms", wall * 1e3);  // gdb holds the target stopped throughout
    keep("gcore/allocated_mib", static_cast<double>(allocated(core)) / (1 << 20));
    std::filesystem::remove(core);
  }
}

// `where`: the directory the cores go to (ext4 under /var/tmp, or the XFS mount).
void pagescan_dump(benchmark::State& state, bool precopy, const std::string& side,
                   const std::string& where) {
  if (where.empty()) {
    state.SkipWithError(reflink_directory_error().c_str());
    return;
  }
  for (auto _ : state) {
    DumpOptions options;
    options.precopy = precopy;
    options.incremental = true;
    const double t0 = now_s();
    auto dumper = CoreDumper::attach(target().pid(), options);
    if (!dumper) {
      state.SkipWithError(dumper.error().message().c_str());
      return;
    }
    const std::string first = where + "/" + side + ".1";
    auto full = dumper->dump(first);
    const double wall = now_s() - t0;
    if (!full) {
      state.SkipWithError(full.error().message().c_str());
      return;
    }
    state.SetIterationTime(wall);
    keep(side + "/wall_s", wall);
    keep(side + "/stopped_ms", static_cast<double>(full->stopped_ns) * 1e-6);
    keep(side + "/passes", full->precopy_passes);
    keep(side + "/data_bytes", static_cast<double>(full->data_bytes));
    keep(side + "/data_mib", static_cast<double>(full->data_bytes) / (1 << 20));
    keep(side + "/allocated_bytes", static_cast<double>(allocated(first)));
    keep(side + "/allocated_mib", static_cast<double>(allocated(first)) / (1 << 20));

    // As after an interval of a series (the kernel writes dirty pages back within 30 s),
    // the first core is on disk before the next: FICLONE would otherwise wait for its
    // 2 GiB of writeback, which is not the incremental dump's cost.
    const int fd = ::open(first.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      ::fsync(fd);
      ::close(fd);
    }
    // 1% of the written pages change; the next core is the first plus those.
    const std::uint64_t changed = target().change(10) * static_cast<std::uint64_t>(::getpagesize());
    const std::string second = where + "/" + side + ".2";
    const double t1 = now_s();
    auto next = dumper->dump(second);
    const double incremental = now_s() - t1;
    if (!next) {
      state.SkipWithError(next.error().message().c_str());
      return;
    }
    keep(side + "/incremental_s", incremental);
    keep(side + "/incremental_stopped_ms", static_cast<double>(next->stopped_ns) * 1e-6);
    keep(side + "/changed_bytes", static_cast<double>(changed));
    keep(side + "/copied_bytes", static_cast<double>(next->copied_bytes));
    keep(side + "/reflinked", next->reflinked ? 1 : 0);
    std::filesystem::remove(first);
    std::filesystem::remove(second);
  }
}

void print_summary() {
  auto cell = [](const std::string& key, const char* format) {
    const double v = value(key);
    if (v < 0) return std::string("-");
    char text[32];
    std::snprintf(text, sizeof text, format, v);
    return std::string(text);
  };
  const double data = value("precopy/data_bytes");
  std::printf(
      "\n## Core dumps: gcore against pagescan (4 threads, 2 GiB written, 8 GiB "
      "reservation with 128 MiB touched; the target wrote %.0f MiB)\n\n",
      static_cast<double>(target().written_bytes()) / (1 << 20));
  std::printf(
      "| measure | gcore | pagescan, pre-copy | pagescan, no pre-copy | pagescan, "
      "pre-copy, XFS reflink |\n|---|---:|---:|---:|---:|\n");
  auto row = [&](const char* label, const std::string& key, const char* format) {
    std::printf("| %s | %s | %s | %s | %s |\n", label, cell("gcore/" + key, format).c_str(),
                cell("precopy/" + key, format).c_str(), cell("no_precopy/" + key, format).c_str(),
                cell("reflink/" + key, format).c_str());
  };
  row("wall time (s)", "wall_s", "%.2f");
  row("target stopped (ms)", "stopped_ms", "%.1f");
  row("allocated on disk (MiB)", "allocated_mib", "%.0f");
  row("data pages in the core (MiB)", "data_mib", "%.0f");
  row("pre-copy passes", "passes", "%.0f");
  row("incremental dump after 1% changed (s)", "incremental_s", "%.3f");
  row("  its stop (ms)", "incremental_stopped_ms", "%.1f");
  row("  bytes copied / bytes changed", "copied_over_changed", "%.2f");

  std::printf("\n## Targets\n\n");
  const double g = value("gcore/wall_s"), p = value("precopy/wall_s");
  if (g > 0 && p > 0) {
    std::printf("- gcore / pagescan wall time = %.1fx (target >= 10): %s\n", g / p,
                g / p >= 10 ? "met" : "MISSED");
  }
  const double alloc = value("precopy/allocated_bytes");
  if (alloc > 0 && data > 0) {
    std::printf("- allocated / data bytes = %.3f (target <= 1.05): %s\n", alloc / data,
                alloc / data <= 1.05 ? "met" : "MISSED");
  }
  const double stop = value("precopy/stopped_ms");
  if (stop >= 0) {
    std::printf("- stop with pre-copy = %.1f ms (target <= 50): %s\n", stop,
                stop <= 50 ? "met" : "MISSED");
  }
  for (const char* side : {"reflink", "precopy"}) {
    const std::string s = side;
    const char* where =
        value(s + "/reflinked") > 0 ? "reflinked on XFS" : "copied: no reflink on ext4";
    const double inc = value(s + "/incremental_s");
    if (inc >= 0) {
      std::printf("- incremental dump, %s = %.3f s (target <= 0.2): %s\n", where, inc,
                  inc <= 0.2 ? "met" : "MISSED");
    }
    const double ratio = value(s + "/copied_over_changed");
    if (ratio >= 0) {
      std::printf(
          "- incremental bytes read and written / changed, %s = %.2f (target <= 1.1): "
          "%s\n",
          where, ratio, ratio <= 1.1 ? "met" : "MISSED");
    }
  }
}

}  // namespace
}  // namespace pagescan::bench

int main(int argc, char** argv) {
  using namespace pagescan::bench;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  (void)target();
  benchmark::RegisterBenchmark("dump/gcore", gcore)
      ->Iterations(1)
      ->UseManualTime()
      ->Unit(benchmark::kSecond);
  benchmark::RegisterBenchmark(
      "dump/pagescan/precopy",
      [](benchmark::State& s) { pagescan_dump(s, true, "precopy", directory()); })
      ->Iterations(1)
      ->UseManualTime()
      ->Unit(benchmark::kSecond);
  benchmark::RegisterBenchmark(
      "dump/pagescan/no_precopy",
      [](benchmark::State& s) { pagescan_dump(s, false, "no_precopy", directory()); })
      ->Iterations(1)
      ->UseManualTime()
      ->Unit(benchmark::kSecond);
  benchmark::RegisterBenchmark(
      "dump/pagescan/precopy_xfs_reflink",
      [](benchmark::State& s) { pagescan_dump(s, true, "reflink", reflink_directory()); })
      ->Iterations(1)
      ->UseManualTime()
      ->Unit(benchmark::kSecond);
  benchmark::RunSpecifiedBenchmarks();
  for (const char* side : {"precopy", "no_precopy", "reflink"}) {
    const std::string s = side;
    if (value(s + "/changed_bytes") > 0 && value(s + "/copied_bytes") >= 0) {
      keep(s + "/copied_over_changed", value(s + "/copied_bytes") / value(s + "/changed_bytes"));
    }
  }
  print_summary();
  if (!reflink_directory().empty()) shell("umount " + reflink_directory());
  std::filesystem::remove_all(directory());
  benchmark::Shutdown();
  return 0;
}
