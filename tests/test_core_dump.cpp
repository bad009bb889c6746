// CoreDumper on a plain program (tests/targets/dump_target.c): the core's contents
// against the target's memory, as gdb and drgn read it, holes, and which mappings a core
// holds (coredump_filter, MADV_DONTDUMP, the ELF header pages).
#include <elf.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "pagescan/core_dump.hpp"
#include "pagescan/scan.hpp"
#include "proc/maps.hpp"
#include "support/core_dump_helpers.hpp"
#include "support/kernel_facts.hpp"
#include "support/temp_dir.hpp"

namespace pagescan::test {
namespace {

const std::uint64_t kPage = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));

DumpOptions no_precopy() {
  DumpOptions o;
  o.precopy = false;
  return o;
}

// The target's data pages (present or swapped, not the zero page), by PAGEMAP_SCAN.
std::vector<PageRegion> data_pages(pid_t pid) {
  auto process = Process::attach(pid);
  if (!process) return {};
  auto result = scan(*process, ScanRequest::over(0, 0x7ffffffff000)
                                   .any_of(Category::present | Category::swapped)
                                   .none_of(Category::pfnzero));
  return result ? result->regions : std::vector<PageRegion>{};
}

class CoreDump : public ::testing::Test {
 protected:
  void SetUp() override { PAGESCAN_REQUIRE_FACT(Fact::pagemap_scan); }
};

// The target's mapping holding `address`.
proc::Vma mapping_at(pid_t pid, std::uint64_t address) {
  auto vmas = proc::read_vmas(pid, false);
  if (vmas) {
    for (const proc::Vma& v : *vmas) {
      if (address >= v.start && address < v.end) return v;
    }
  }
  return {};
}

// Every data page of every dumped segment equals /proc/PID/mem of the target, which is
// blocked (all threads in system calls, the sleeper asleep for an hour) so its memory
// holds still; in anonymous segments every other page is a hole (SEEK_DATA skips it), so
// it reads as zeros and takes no disk blocks.
void expect_core_equals_memory(const DumpTarget& target, const std::string& path,
                               const DumpReport& report) {
  CoreReader core(path);
  ASSERT_TRUE(core.ok()) << core.error();
  const auto data = data_pages(target.pid());
  ASSERT_FALSE(data.empty());
  std::uint64_t compared = 0, holes_checked = 0;
  for (const CoreSegment& s : core.segments()) {
    if (s.filesz == 0) continue;
    if (s.filesz != s.memsz) {
      EXPECT_EQ(s.filesz, kPage) << "a partial segment is the ELF header page only";
      continue;
    }
    EXPECT_EQ(s.offset % kPage, 0u);
    for (const PageRegion& r : data) {
      const std::uint64_t lo = std::max(r.start, s.vaddr), hi = std::min(r.end, s.vaddr + s.memsz);
      for (std::uint64_t a = lo; a < hi; a += kPage) {
        const std::string want = read_process_memory(target.pid(), a, kPage);
        if (want.empty()) continue;  // VM_IO and the like: not readable, a hole in the core
        const std::string got = core.read(a, kPage);
        ASSERT_EQ(got.size(), want.size()) << "page 0x" << std::hex << a << " not in the core";
        const auto diff = std::mismatch(got.begin(), got.end(), want.begin()).first;
        ASSERT_TRUE(diff == got.end())
            << "page 0x" << std::hex << a << " differs at byte 0x" << (diff - got.begin());
        ++compared;
      }
    }
    const proc::Vma vma = mapping_at(target.pid(), s.vaddr);
    if (vma.inode != 0 || vma.special()) continue;  // file contents: whole (the kernel's too)
    std::uint64_t at = s.vaddr;
    const std::uint64_t end = s.vaddr + s.memsz;
    std::vector<PageRegion> in_segment;
    for (const PageRegion& r : data) {
      if (r.end > s.vaddr && r.start < end) in_segment.push_back(r);
    }
    in_segment.push_back(PageRegion{end, end, {}});
    for (const PageRegion& r : in_segment) {
      const std::uint64_t hole_end = std::max(at, r.start);
      if (hole_end > at) {
        const off_t from = static_cast<off_t>(s.offset + (at - s.vaddr));
        const off_t next = ::lseek(core.fd(), from, SEEK_DATA);
        EXPECT_TRUE(next < 0 || next >= static_cast<off_t>(s.offset + (hole_end - s.vaddr)))
            << "data in the file where the target has none: 0x" << std::hex << at << " to 0x"
            << hole_end;
        EXPECT_EQ(core.read(at, kPage), std::string(kPage, '\0'));
        ++holes_checked;
      }
      at = std::max(at, r.end);
    }
  }
  EXPECT_GT(compared, 256u) << "the region's pages at least";
  EXPECT_GT(holes_checked, 0u);
  // Allocated: the data pages, plus the header area and what the filesystem adds.
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_LE(static_cast<std::uint64_t>(st.st_blocks) * 512, report.data_bytes + (1u << 20))
      << "holes take no blocks";
  EXPECT_GT(report.hole_bytes, 60u << 20) << "the 64 MiB reservation is mostly holes";
}

TEST_F(CoreDump, EveryDataPageEqualsTheTargetsMemoryAndTheRestAreHoles) {
  DumpTarget target(256, 3600000);
  ASSERT_EQ(target.error(), "");
  ASSERT_TRUE(target.wait_blocked());
  // Stopped, so that nothing changes between the dump and the comparison.
  ASSERT_TRUE(target.stop());
  TempDir dir;
  for (bool precopy : {false, true}) {
    DumpOptions options;
    options.precopy = precopy;
    const std::string path = dir / (precopy ? "precopy.core" : "plain.core");
    std::optional<DumpReport> report;
    {
      // The dumper (and its write watch, whose markers pagemap shows as swap entries)
      // is gone before the comparison.
      auto dumper = CoreDumper::attach(target.pid(), options);
      ASSERT_TRUE(dumper) << dumper.error().message();
      auto made = dumper->dump(path);
      ASSERT_TRUE(made) << made.error().message();
      report = *made;
    }
    EXPECT_EQ(report->threads, 4u);
    EXPECT_EQ(report->precopy_passes > 0, precopy);
    EXPECT_GT(report->stopped_ns, 0u);
    EXPECT_LE(report->stopped_ns, report->elapsed_ns);
    SCOPED_TRACE(path);
    expect_core_equals_memory(target, path, *report);
    EXPECT_EQ(dir.entries().size(), precopy ? 2u : 1u) << "no temporary left";
  }
  target.resume();
  EXPECT_EQ(target.command("ping"), std::vector<std::string>{"pong"});
}

// A core of the blocked target, in `dir`, without pre-copy.
std::string dump_of(const DumpTarget& target, const TempDir& dir, const std::string& name,
                    const DumpOptions& options = no_precopy()) {
  auto dumper = CoreDumper::attach(target.pid(), options);
  EXPECT_TRUE(dumper) << dumper.error().message();
  if (!dumper) return {};
  auto report = dumper->dump(dir / name);
  EXPECT_TRUE(report) << report.error().message();
  return report ? dir / name : std::string();
}

std::string hex(std::uint64_t v) {
  char text[32];
  std::snprintf(text, sizeof text, "0x%llx", static_cast<unsigned long long>(v));
  return text;
}

TEST_F(CoreDump, GdbShowsEveryThreadInItsFunctionAndReadsGlobalsHeapAndProtNoneBytes) {
  if (run_capture("gdb --version").find("GNU gdb") == std::string::npos) {
    GTEST_SKIP() << "gdb is not installed (scripts/bootstrap installs it)";
  }
  DumpTarget target(64, 3600000);
  ASSERT_EQ(target.error(), "");
  ASSERT_TRUE(target.wait_blocked());
  TempDir dir;
  const std::string core = dump_of(target, dir, "gdb.core");
  ASSERT_FALSE(core.empty());
  const std::string out = run_capture(
      "gdb -nx -batch -ex 'thread apply all bt' -ex 'print global_pattern' -ex 'x/4xb heap' "
      "-ex 'x/2xb " +
      hex(target.protnone) + "' -ex 'x/1xb " + hex(target.region + 5 * kPage) + "' " +
      dump_target_path() + " " + core);
  for (const char* function :
       {"blocked_in_read", "blocked_in_nanosleep", "blocked_in_futex", "serve_commands"}) {
    EXPECT_NE(out.find(function), std::string::npos) << function << " missing:\n" << out;
  }
  // One "Thread N (Thread 0x… (LWP n)):" header per thread (gdb's numbers N vary: an ASan
  // build makes it list the threads again).
  std::size_t headers = 0;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("Thread ", 0) == 0 && line.find("(LWP ") != std::string::npos &&
        line.back() == ':')
      ++headers;
  }
  EXPECT_EQ(headers, 4u) << out;
  EXPECT_NE(out.find("$1 = \"pagescan-global-pattern\""), std::string::npos) << out;
  // heap[i] = i * 7 + 3; the PROT_NONE page holds 'P'; region page 5 holds 5 ^ 0x5a.
  EXPECT_NE(out.find("0x03\t0x0a\t0x11\t0x18"), std::string::npos) << out;
  EXPECT_NE(out.find("0x50\t0x50"), std::string::npos) << out;
  EXPECT_NE(out.find("0x5f"), std::string::npos) << out;
  EXPECT_EQ(out.find("Cannot access memory"), std::string::npos) << out;
}

TEST_F(CoreDump, DrgnReadsTheSameBytes) {
  const std::string python = python_with_drgn();
  if (python.empty())
    GTEST_SKIP() << "no python3 with drgn (scripts/bootstrap installs python3-drgn)";
  DumpTarget target(64, 3600000);
  ASSERT_EQ(target.error(), "");
  ASSERT_TRUE(target.wait_blocked());
  TempDir dir;
  const std::string core = dump_of(target, dir, "drgn.core");
  ASSERT_FALSE(core.empty());
  CoreReader reader(core);
  ASSERT_TRUE(reader.ok()) << reader.error();
  struct Read {
    std::uint64_t address;
    std::size_t length;
  };
  // A hole inside the reservation reads as zeros too (within p_filesz, so drgn reads it).
  const std::vector<Read> reads = {{target.global, 24},
                                   {target.heap, 64},
                                   {target.region + 7 * kPage, 64},
                                   {target.protnone, 16},
                                   {target.reservation + 100 * kPage, 16},
                                   {target.reservation + 3 * kPage, 16}};
  std::string script = "import drgn\np = drgn.Program()\np.set_core_dump('" + core + "')\n";
  for (const Read& r : reads) {
    script += "print(p.read(" + std::to_string(r.address) + ", " + std::to_string(r.length) +
              ").hex())\n";
  }
  TempDir scripts;
  {
    std::ofstream out(scripts / "read.py");
    out << script;
  }
  const std::string out = run_capture(python + " " + (scripts / "read.py"));
  std::istringstream lines(out);
  for (const Read& r : reads) {
    std::string line;
    ASSERT_TRUE(std::getline(lines, line)) << out;
    const std::string want = reader.read(r.address, r.length);
    ASSERT_EQ(want.size(), r.length);
    std::string want_hex;
    for (unsigned char c : want) {
      char b[3];
      std::snprintf(b, sizeof b, "%02x", c);
      want_hex += b;
    }
    EXPECT_EQ(line, want_hex) << "at " << hex(r.address);
  }
  EXPECT_EQ(reader.read(target.protnone, 1), "P");
  EXPECT_EQ(reader.read(target.reservation + 100 * kPage, 1), "R");
}

const CoreSegment* segment(const CoreReader& core, std::uint64_t address) {
  const CoreSegment* s = core.segment_at(address);
  EXPECT_NE(s, nullptr) << "no segment at " << hex(address);
  return s;
}

TEST_F(CoreDump, CoredumpFilterAndDontDumpDecideTheSegmentsAsTheKernelWould) {
  DumpTarget target(64, 3600000);
  ASSERT_EQ(target.error(), "");
  ASSERT_TRUE(target.wait_blocked());
  TempDir dir;
  {
    CoreReader core(dump_of(target, dir, "default.core"));
    ASSERT_TRUE(core.ok()) << core.error();
    const CoreSegment* shared = segment(core, target.shared);
    const CoreSegment* dontdump = segment(core, target.dontdump);
    const CoreSegment* untouched = segment(core, target.untouched);
    const CoreSegment* reservation = segment(core, target.reservation);
    ASSERT_TRUE(shared && dontdump && untouched && reservation);
    EXPECT_EQ(shared->filesz, shared->memsz) << "bit 1 (anonymous shared) is on by default";
    EXPECT_EQ(core.read(target.shared, 1), "S");
    EXPECT_EQ(dontdump->filesz, 0u) << "MADV_DONTDUMP";
    EXPECT_EQ(dontdump->memsz, 4 * kPage);
    EXPECT_EQ(untouched->filesz, 0u) << "never written: no anon_vma, not dumped";
    EXPECT_EQ(reservation->filesz, reservation->memsz);
    // The ELF header rule: the executable's first mapping (offset 0, read-only, never
    // written) holds its first page only.
    const proc::Vma exe = mapping_at(target.pid(), core.segments().front().vaddr);
    bool header_page = false;
    for (const CoreSegment& s : core.segments()) {
      const proc::Vma v = mapping_at(target.pid(), s.vaddr);
      if (v.inode != 0 && v.offset == 0 && v.perms == "r--p" && s.filesz == kPage) {
        header_page = header_page || core.read(s.vaddr, 4) ==
                                         "\x7f"
                                         "ELF";
      }
    }
    EXPECT_TRUE(header_page) << "no ELF header page of a file mapping";
    (void)exe;
  }
  {
    // The target's own filter without bit 1: its shared anonymous memory is left out.
    std::ofstream filter("/proc/" + std::to_string(target.pid()) + "/coredump_filter");
    filter << "0x31";
  }
  {
    CoreReader core(dump_of(target, dir, "no-shared.core"));
    ASSERT_TRUE(core.ok()) << core.error();
    const CoreSegment* shared = segment(core, target.shared);
    ASSERT_TRUE(shared);
    EXPECT_EQ(shared->filesz, 0u) << "coredump_filter 0x31 excludes anonymous shared memory";
  }
  {
    // The option overrides the target's filter.
    DumpOptions options = no_precopy();
    options.coredump_filter = 0x33;
    CoreReader core(dump_of(target, dir, "override.core", options));
    ASSERT_TRUE(core.ok()) << core.error();
    const CoreSegment* shared = segment(core, target.shared);
    ASSERT_TRUE(shared);
    EXPECT_EQ(shared->filesz, shared->memsz) << "DumpOptions::coredump_filter 0x33";
    options.coredump_filter = 0x00;
    CoreReader none(dump_of(target, dir, "none.core", options));
    ASSERT_TRUE(none.ok()) << none.error();
    const CoreSegment* region = segment(none, target.region);
    ASSERT_TRUE(region);
    EXPECT_EQ(region->filesz, 0u) << "filter 0: no anonymous private memory";
  }
}

}  // namespace
}  // namespace pagescan::test
