// The benchmark memory layouts: dense 1 GiB (4 KiB pages and THP), a sparse 64 GiB
// reservation, a 4 TiB shadow-memory-like reservation, and 10 000 small VMAs.
#include "scenarios.hpp"

#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <set>

namespace pagescan::bench {
namespace {

constexpr std::uint64_t kGiB = 1ull << 30;
constexpr std::uint64_t kThpSize = 2ull << 20;
constexpr std::uint64_t kSeed = 20240601;  // fixed: every run touches the same pages

std::uint64_t page_size() {
  static const auto size = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  return size;
}

void touch(std::uint64_t addr) {
  *reinterpret_cast<volatile char*>(addr) = 1;
}

std::string read_setting(const char* path) {
  std::ifstream in(path);
  std::string value;
  std::getline(in, value);
  return value.empty() ? "?" : value;
}

// mmap, or the reason it failed in words a reader of the benchmark output can act on.
std::uint64_t map_anonymous(std::uint64_t length, int extra_flags, std::string& why) {
  void* p = ::mmap(nullptr, length, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | extra_flags, -1, 0);
  if (p == MAP_FAILED) {
    int err = errno;
    why = "mmap of " + std::to_string(length >> 30) + " GiB" +
          ((extra_flags & MAP_NORESERVE) ? " MAP_NORESERVE" : "") +
          " failed: " + std::strerror(err) +
          " (vm.overcommit_memory=" + read_setting("/proc/sys/vm/overcommit_memory") +
          "; MAP_NORESERVE is honoured in the heuristic mode 0 and in mode 1";
    rlimit as{};
    if (::getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY) {
      why += "; RLIMIT_AS (ulimit -v) is " + std::to_string(as.rlim_cur >> 30) + " GiB";
    }
    why += ")";
    return 0;
  }
  return reinterpret_cast<std::uint64_t>(p);
}

// 1 GiB with every page written. Without THP the kernel maps 262 144 PTEs.
Scenario dense_4k() {
  Scenario s;
  s.name = name_of(ScenarioId::dense_4k);
  std::uint64_t base = map_anonymous(kGiB, 0, s.unavailable);
  if (!base) return s;
  ::madvise(reinterpret_cast<void*>(base), kGiB, MADV_NOHUGEPAGE);
  for (std::uint64_t a = base; a < base + kGiB; a += page_size()) touch(a);
  s.start = base;
  s.end = base + kGiB;
  s.pages_written = kGiB / page_size();
  return s;
}

// 1 GiB, 2 MiB-aligned, MADV_HUGEPAGE, every page written: 512 PMD-mapped THPs when the
// kernel finds the memory (THP "madvise" mode allocates them at the first fault).
Scenario dense_thp() {
  Scenario s;
  s.name = name_of(ScenarioId::dense_thp);
  std::uint64_t raw = map_anonymous(kGiB + kThpSize, MAP_NORESERVE, s.unavailable);
  if (!raw) return s;
  std::uint64_t base = (raw + kThpSize - 1) & ~(kThpSize - 1);
  if (base > raw) ::munmap(reinterpret_cast<void*>(raw), base - raw);
  std::uint64_t tail = raw + kGiB + kThpSize - (base + kGiB);
  if (tail) ::munmap(reinterpret_cast<void*>(base + kGiB), tail);
  if (::madvise(reinterpret_cast<void*>(base), kGiB, MADV_HUGEPAGE) != 0) {
    s.unavailable = std::string("madvise(MADV_HUGEPAGE) failed: ") + std::strerror(errno) +
                    " (transparent_hugepage/enabled=" +
                    read_setting("/sys/kernel/mm/transparent_hugepage/enabled") + ")";
    return s;
  }
  for (std::uint64_t a = base; a < base + kGiB; a += page_size()) touch(a);
  s.start = base;
  s.end = base + kGiB;
  s.pages_written = kGiB / page_size();
  return s;
}

// 64 GiB reserved, each page written with probability 1%: about 168 000 scattered pages,
// with a PTE table in nearly every 2 MiB block.
Scenario sparse_64g() {
  Scenario s;
  s.name = name_of(ScenarioId::sparse_64g);
  const std::uint64_t length = 64 * kGiB;
  std::uint64_t base = map_anonymous(length, MAP_NORESERVE, s.unavailable);
  if (!base) return s;
  ::madvise(reinterpret_cast<void*>(base), length, MADV_NOHUGEPAGE);
  std::mt19937_64 rng(kSeed);
  std::geometric_distribution<std::uint64_t> gap(0.01);  // pages skipped before the next write
  const std::uint64_t pages = length / page_size();
  for (std::uint64_t p = gap(rng); p < pages; p += 1 + gap(rng)) {
    touch(base + p * page_size());
    ++s.pages_written;
  }
  s.start = base;
  s.end = base + length;
  return s;
}

// 4 TiB reserved with 1 000 distinct random pages written: the shape of ASan/TSan shadow
// memory. Needs overcommit to let a MAP_NORESERVE mapping this large through.
Scenario shadow_4t() {
  Scenario s;
  s.name = name_of(ScenarioId::shadow_4t);
  const std::uint64_t length = 4096 * kGiB;
  std::uint64_t base = map_anonymous(length, MAP_NORESERVE, s.unavailable);
  if (!base) return s;
  ::madvise(reinterpret_cast<void*>(base), length, MADV_NOHUGEPAGE);
  std::mt19937_64 rng(kSeed);
  std::uniform_int_distribution<std::uint64_t> page(0, length / page_size() - 1);
  std::set<std::uint64_t> chosen;
  while (chosen.size() < 1000) chosen.insert(page(rng));
  for (std::uint64_t p : chosen) touch(base + p * page_size());
  s.pages_written = chosen.size();
  s.start = base;
  s.end = base + length;
  return s;
}

// 10 000 VMAs of 4 written pages each, separated by one unmapped page so that they can
// never merge: the shape of a process with many small mappings (malloc arenas, stacks,
// JIT code, shared libraries).
Scenario many_vmas() {
  Scenario s;
  s.name = name_of(ScenarioId::many_vmas);
  constexpr std::uint64_t kVmas = 10'000;
  constexpr std::uint64_t kPagesPerVma = 4;
  const std::uint64_t slot = (kPagesPerVma + 1) * page_size();
  std::uint64_t base = map_anonymous(kVmas * slot, MAP_NORESERVE, s.unavailable);
  if (!base) return s;
  for (std::uint64_t i = 0; i < kVmas; ++i) {
    std::uint64_t vma = base + i * slot;
    ::munmap(reinterpret_cast<void*>(vma + kPagesPerVma * page_size()), page_size());
    for (std::uint64_t p = 0; p < kPagesPerVma; ++p) touch(vma + p * page_size());
  }
  s.pages_written = kVmas * kPagesPerVma;
  s.start = base;
  s.end = base + (kVmas - 1) * slot + kPagesPerVma * page_size();
  return s;
}

Scenario build(ScenarioId id) {
  switch (id) {
    case ScenarioId::dense_4k:
      return dense_4k();
    case ScenarioId::dense_thp:
      return dense_thp();
    case ScenarioId::sparse_64g:
      return sparse_64g();
    case ScenarioId::shadow_4t:
      return shadow_4t();
    case ScenarioId::many_vmas:
      return many_vmas();
  }
  return {};
}

}  // namespace

std::string_view name_of(ScenarioId id) {
  switch (id) {
    case ScenarioId::dense_4k:
      return "dense_4k";
    case ScenarioId::dense_thp:
      return "dense_thp";
    case ScenarioId::sparse_64g:
      return "sparse_64g";
    case ScenarioId::shadow_4t:
      return "shadow_4t";
    case ScenarioId::many_vmas:
      return "many_vmas";
  }
  return "?";
}

const Scenario& scenario(ScenarioId id) {
  // One slot per layout, built on first use: benchmarks are registered before any runs,
  // and a filtered run builds only the layouts it scans.
  static Scenario built[std::size(kScenarios)];
  static bool ready[std::size(kScenarios)] = {};
  auto i = static_cast<std::size_t>(id);
  if (!ready[i]) {
    built[i] = build(id);
    ready[i] = true;
  }
  return built[i];
}

}  // namespace pagescan::bench
