// `pagescan scan --with-vma`, `--vma NAME|ADDR` (scan and map), the note on untracked
// written pages and the --write-protect warning, run as a user runs them: the real binary
// on a child whose VMAs the test builds and then reads back from /proc/PID/maps itself.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "support/child_process.hpp"
#include "support/cli_runner.hpp"
#include "support/error_matrix_state.hpp"
#include "support/kernel_facts.hpp"
#include "support/memory.hpp"

namespace pagescan::test {
namespace {

using nlohmann::json;

// "0x7f12a000", as the CLI prints addresses.
std::string hex(std::uint64_t v) {
  return hex_address(v);
}

// One line of /proc/PID/maps.
struct MapsLine {
  std::uint64_t start = 0, end = 0;
  std::string perms, path;
};

std::vector<MapsLine> maps_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/maps");
  std::vector<MapsLine> lines;
  std::string line;
  while (std::getline(in, line)) {
    MapsLine m;
    std::istringstream fields(line);
    std::string range, offset, device, inode;
    fields >> range >> m.perms >> offset >> device >> inode;
    std::getline(fields >> std::ws, m.path);
    m.start = std::stoull(range.substr(0, range.find('-')), nullptr, 16);
    m.end = std::stoull(range.substr(range.find('-') + 1), nullptr, 16);
    lines.push_back(m);
  }
  return lines;
}

const MapsLine* containing(const std::vector<MapsLine>& maps, std::uint64_t address) {
  for (const MapsLine& m : maps) {
    if (m.start <= address && address < m.end) return &m;
  }
  return nullptr;
}

// A directory with a long path holding short-named files, so the table must shorten paths
// to their file names; removed with its files at the end.
struct FileDir {
  std::string dir;
  FileDir() {
    char tmpl[] = "/tmp/pagescan-vma-test-with-a-long-directory-name-XXXXXX";
    dir = ::mkdtemp(tmpl);
  }
  ~FileDir() {
    for (const char* name : {"vmt.data", "vmt-2.data", "vmtx.data"}) ::unlink(path(name).c_str());
    ::rmdir(dir.c_str());
  }
  std::string path(const std::string& name) const { return dir + "/" + name; }
  // A file of `pages` pages.
  std::string make(const std::string& name, std::size_t pages) const {
    std::string p = path(name);
    int fd = ::open(p.c_str(), O_CREAT | O_RDWR | O_TRUNC | O_CLOEXEC, 0600);
    EXPECT_GE(fd, 0) << p;
    EXPECT_EQ(::ftruncate(fd, static_cast<off_t>(pages * page_size())), 0);
    ::close(fd);
    return p;
  }
};

// Maps `pages` pages of the file at `at` (0: anywhere), private and readable; returns it.
char* map_file(const std::string& path, std::size_t pages, void* at = nullptr) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  void* p = ::mmap(at, pages * page_size(), PROT_READ, MAP_PRIVATE | (at ? MAP_FIXED : 0), fd, 0);
  ::close(fd);
  return static_cast<char*>(p);
}

// The child's layout, addresses in this order:
//   0, 1: 8 anonymous written pages, the second half made read-only: two adjacent VMAs
//         with the same categories, which the kernel reports as one region;
//   2, 3: vmt.data, 4 pages read, the first made PROT_NONE: two VMAs of one file;
//   4:    vmt-2.data, 1 page (so "vmt" names two files);
//   5:    vmtx.data mapped twice with anonymous memory between (its VMAs lie apart).
std::vector<std::uint64_t> vma_layout(const FileDir& files) {
  const std::size_t page = page_size();
  auto* anon = static_cast<char*>(
      ::mmap(nullptr, 8 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  ::madvise(anon, 8 * page, MADV_NOHUGEPAGE);
  for (std::size_t i = 0; i < 8; ++i) anon[i * page] = 1;
  ::mprotect(anon + 4 * page, 4 * page, PROT_READ);
  char* vmt = map_file(files.path("vmt.data"), 4);
  for (std::size_t i = 0; i < 4; ++i) (void)*static_cast<volatile char*>(vmt + i * page);
  ::mprotect(vmt, page, PROT_NONE);
  char* vmt2 = map_file(files.path("vmt-2.data"), 1);
  // vmtx.data at both ends of a 3-page reservation, anonymous PROT_NONE between.
  auto* room =
      static_cast<char*>(::mmap(nullptr, 3 * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  map_file(files.path("vmtx.data"), 1, room);
  map_file(files.path("vmtx.data"), 1, room + 2 * page);
  auto a = [](const void* p) { return reinterpret_cast<std::uint64_t>(p); };
  return {a(anon), a(anon) + 8 * page, a(vmt), a(vmt) + 4 * page, a(vmt2), a(room)};
}

struct CliScanVma : ::testing::Test {
  void SetUp() override {
    PAGESCAN_REQUIRE_FACT(Fact::pagemap_scan);
    files.make("vmt.data", 4);
    files.make("vmt-2.data", 1);
    files.make("vmtx.data", 1);
    child.emplace([this] { return vma_layout(files); });
    pid = std::to_string(child->pid());
    maps = maps_of(child->pid());
  }
  std::uint64_t at(std::size_t i) const { return child->addresses()[i]; }
  FileDir files;
  std::optional<ChildProcess> child;
  std::string pid;
  std::vector<MapsLine> maps;
};

// Usage errors: exit 2, nothing on stdout, exactly this one line on stderr.
void expect_usage_line(const CliRun& run, const std::string& line) {
  EXPECT_EQ(run.exit_code, 2) << run.describe();
  EXPECT_EQ(run.out, "");
  EXPECT_EQ(run.err, "pagescan: " + line + "\n");
}

// Display columns of a line: UTF-8 continuation bytes and ANSI escapes take none.
std::size_t columns(const std::string& line) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '\x1b') {
      while (i < line.size() && line[i] != 'm') ++i;
      continue;
    }
    if ((static_cast<unsigned char>(line[i]) & 0xC0) != 0x80) ++n;
  }
  return n;
}

}  // namespace

TEST_F(CliScanVma, RegionsAreSplitWhereVmasMeetAndEachNamesItsVma) {
  const std::string range = hex(at(0)) + "-" + hex(at(1));
  CliRun plain = run_cli({"scan", pid, "--range", range, "--json"});
  ASSERT_EQ(plain.exit_code, 0) << plain.describe();
  json p = json::parse(plain.out);
  // The kernel merges the two VMAs' pages into one region (kernel-pagemap-scan.md §3.3).
  ASSERT_EQ(p["regions"].size(), 1u) << plain.out;
  EXPECT_FALSE(p["regions"][0].contains("vma")) << "only with --with-vma";

  CliRun run = run_cli({"scan", pid, "--range", range, "--with-vma", "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.describe();
  json j = json::parse(run.out);
  ASSERT_EQ(j["regions"].size(), 2u) << run.out;
  EXPECT_EQ(j["totals"]["regions"], 2);
  EXPECT_EQ(j["totals"]["pages"], 8);
  const std::uint64_t middle = at(0) + 4 * page_size();
  const char* perms[] = {"rw-p", "r--p"};
  const std::uint64_t bounds[] = {at(0), middle, at(1)};
  for (std::size_t i = 0; i < 2; ++i) {
    const json& r = j["regions"][i];
    const MapsLine* m = containing(maps, bounds[i]);
    ASSERT_NE(m, nullptr);
    EXPECT_EQ(r["start"], hex(bounds[i]));
    EXPECT_EQ(r["end"], hex(bounds[i + 1]));
    EXPECT_EQ(r["pages"], 4);
    EXPECT_EQ(r["vma"]["start"], hex(m->start));
    EXPECT_EQ(r["vma"]["end"], hex(m->end));
    EXPECT_EQ(r["vma"]["perms"], perms[i]);
    EXPECT_EQ(r["vma"]["perms"], m->perms);
    EXPECT_EQ(r["vma"]["offset"], "0x0") << "offsets are hex strings like every address";
    EXPECT_EQ(r["vma"]["backing"], "anon");
    EXPECT_EQ(r["vma"]["name"], "[anon]");
    EXPECT_FALSE(r["vma"].contains("path"));
  }
}

TEST_F(CliScanVma, FileVmasCarryTheirPathInJsonCsvAndTheTable) {
  const std::string path = files.path("vmt.data");
  const std::string range = hex(at(2)) + "-" + hex(at(3));
  CliRun js = run_cli({"scan", pid, "--range", range, "--with-vma", "--json"});
  ASSERT_EQ(js.exit_code, 0) << js.describe();
  json j = json::parse(js.out);
  ASSERT_FALSE(j["regions"].empty());
  for (const json& r : j["regions"]) {
    EXPECT_EQ(r["vma"]["path"], path);
    EXPECT_EQ(r["vma"]["backing"], "file");
    EXPECT_FALSE(r["vma"].contains("name"));
  }
  CliRun csv = run_cli({"scan", pid, "--range", range, "--with-vma", "--format", "csv"});
  ASSERT_EQ(csv.exit_code, 0) << csv.describe();
  std::vector<std::string> lines = csv.out_lines();
  ASSERT_EQ(lines.size(), j["regions"].size() + 1) << csv.out;
  EXPECT_EQ(lines[0], "start,end,pages,bytes,categories,vma");
  for (std::size_t i = 1; i < lines.size(); ++i) {
    EXPECT_EQ(lines[i].substr(lines[i].rfind(',') + 1), path) << lines[i];
    EXPECT_EQ(lines[i].rfind(j["regions"][i - 1]["start"].get<std::string>() + ",", 0), 0u);
  }
  // The table at 80 columns: the long directory goes, the file name stays.
  CliRun table = run_cli({"scan", pid, "--range", range, "--with-vma", "--width", "80"});
  ASSERT_EQ(table.exit_code, 0) << table.describe();
  ASSERT_GT(path.size(), 40u);
  EXPECT_EQ(table.out.find(path), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("…/vmt.data"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find(" VMA "), std::string::npos) << table.out;
  for (const std::string& line : table.out_lines()) EXPECT_LE(columns(line), 80u) << line;
}

TEST_F(CliScanVma, WholeAddressSpaceWithVmaFitsEightyColumnsAndEveryRowHasOneVma) {
  CliRun table = run_cli({"scan", pid, "--with-vma", "--width", "80"});
  ASSERT_EQ(table.exit_code, 0) << table.describe();
  for (const std::string& line : table.out_lines()) EXPECT_LE(columns(line), 80u) << line;
  CliRun js = run_cli({"scan", pid, "--with-vma", "--json"});
  ASSERT_EQ(js.exit_code, 0) << js.describe();
  const std::vector<MapsLine> now = maps_of(child->pid());
  const json doc = json::parse(js.out);  // kept: a range-for over a temporary's member dangles
  for (const json& r : doc["regions"]) {
    const std::uint64_t start = std::stoull(r["start"].get<std::string>(), nullptr, 16);
    const std::uint64_t end = std::stoull(r["end"].get<std::string>(), nullptr, 16);
    const MapsLine* m = containing(now, start);
    ASSERT_NE(m, nullptr) << r.dump();
    EXPECT_LE(end, m->end) << "a row never crosses its VMA's end: " << r.dump();
    EXPECT_EQ(r["vma"]["start"], hex(m->start)) << r.dump();
  }
}

TEST_F(CliScanVma, VmaByFileNameSpansAllOfThatFilesVmas) {
  CliRun run = run_cli({"scan", pid, "--vma", "vmt.data", "--with-vma", "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.describe();
  json j = json::parse(run.out);
  EXPECT_EQ(j["start"], hex(at(2)));
  EXPECT_EQ(j["end"], hex(at(3)));
  // Whichever of the file's two VMAs a region lies in, it names the file.
  ASSERT_FALSE(j["regions"].empty());
  for (const json& r : j["regions"]) EXPECT_EQ(r["vma"]["path"], files.path("vmt.data"));
  // "vmtx" is vmtx.data alone (it is not "vmt" followed by '.' or '-'), but that file's
  // two VMAs lie apart.
  CliRun apart = run_cli({"scan", pid, "--vma", "vmtx"});
  expect_usage_line(apart, "bad --vma 'vmtx': its VMAs lie apart (at " + hex(at(5)) + " and " +
                               hex(at(5) + 2 * page_size()) +
                               ", other VMAs between): give an address in the one you want");
  // The full path selects exactly as the file name does.
  CliRun by_path = run_cli({"scan", pid, "--vma", files.path("vmt.data"), "--json"});
  ASSERT_EQ(by_path.exit_code, 0) << by_path.describe();
  EXPECT_EQ(json::parse(by_path.out)["start"], hex(at(2)));
  EXPECT_EQ(json::parse(by_path.out)["end"], hex(at(3)));
}

TEST_F(CliScanVma, VmaByAddressIsTheVmaContainingIt) {
  const std::uint64_t inside = at(2) + 2 * page_size() + 123;  // in vmt.data's second VMA
  const MapsLine* m = containing(maps, inside);
  ASSERT_NE(m, nullptr);
  CliRun run = run_cli({"scan", pid, "--vma", hex(inside), "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.describe();
  json j = json::parse(run.out);
  EXPECT_EQ(j["start"], hex(m->start));
  EXPECT_EQ(j["end"], hex(m->end));
  EXPECT_EQ(j["start"], hex(at(2) + page_size()));
  // Decimal too.
  CliRun decimal = run_cli({"scan", pid, "--vma", std::to_string(inside), "--json"});
  ASSERT_EQ(decimal.exit_code, 0) << decimal.describe();
  EXPECT_EQ(json::parse(decimal.out)["start"], hex(m->start));
}

TEST_F(CliScanVma, VmaHeapIsTheHeapOfMaps) {
  const MapsLine* heap = nullptr;
  for (const MapsLine& m : maps) {
    if (m.path == "[heap]") heap = &m;
  }
  if (!heap) GTEST_SKIP() << "the child has no [heap] VMA";
  for (const char* name : {"heap", "[heap]"}) {
    CliRun run = run_cli({"scan", pid, "--vma", name, "--with-vma", "--json"});
    ASSERT_EQ(run.exit_code, 0) << run.describe();
    json j = json::parse(run.out);
    EXPECT_EQ(j["start"], hex(heap->start)) << name;
    EXPECT_EQ(j["end"], hex(heap->end)) << name;
    for (const json& r : j["regions"]) EXPECT_EQ(r["vma"]["name"], "[heap]");
  }
}

TEST_F(CliScanVma, BadVmaValuesAreOneLineNamingTheValue) {
  expect_usage_line(run_cli({"scan", pid, "--vma", ""}),
                    "bad --vma '': expected a VMA name (heap, stack, vdso, a file name such as "
                    "libc or a path) or an address in one");
  expect_usage_line(run_cli({"scan", pid, "--vma", "0xzz"}),
                    "bad --vma '0xzz': expected a number in hex (0x...) or decimal");
  expect_usage_line(run_cli({"scan", pid, "--vma", "heap", "--range", "0x1000-0x2000"}),
                    "--vma 'heap' contradicts --range '0x1000-0x2000' (both choose the range: "
                    "give one)");
  expect_usage_line(run_cli({"scan", pid, "--vma", "0x1000"}),
                    "bad --vma '0x1000': no VMA of pid " + pid + " contains 0x1000");
  expect_usage_line(run_cli({"scan", pid, "--vma", "vmt"}),
                    "bad --vma 'vmt': it matches 2 files (" + files.path("vmt-2.data") + ", " +
                        files.path("vmt.data") + "): give more of the name, or the path");
  // An unknown name lists what the process has, bracketed names first.
  CliRun unknown = run_cli({"scan", pid, "--vma", "nosuchlib"});
  EXPECT_EQ(unknown.exit_code, 2) << unknown.describe();
  EXPECT_EQ(unknown.out, "");
  const std::string line = single_line(unknown.err);
  EXPECT_EQ(
      line.rfind("pagescan: bad --vma 'nosuchlib': no VMA of pid " + pid + " is named so (it has [",
                 0),
      0u)
      << unknown.err;
  EXPECT_NE(line.find("[stack]"), std::string::npos) << line;
  // [vsyscall] lies above the user address space, where PAGEMAP_SCAN does not walk.
  for (const MapsLine& m : maps) {
    if (m.path != "[vsyscall]") continue;
    CliRun run = run_cli({"scan", pid, "--vma", "vsyscall"});
    EXPECT_EQ(run.exit_code, 2) << run.describe();
    EXPECT_EQ(run.out, "");
    EXPECT_EQ(single_line(run.err).rfind("pagescan: bad --vma 'vsyscall': its VMA [" +
                                             hex(m.start) + "-" + hex(m.end) +
                                             ") lies above the user address space (which ends "
                                             "at 0x",
                                         0),
              0u)
        << run.err;
  }
  // map checks the same way.
  expect_usage_line(run_cli({"map", pid, "--vma", "0x1000"}),
                    "bad --vma '0x1000': no VMA of pid " + pid + " contains 0x1000");
  expect_usage_line(run_cli({"map", pid, "--vma", ""}),
                    "bad --vma '': expected a VMA name (heap, stack, vdso, a file name such as "
                    "libc or a path) or an address in one");
}

TEST_F(CliScanVma, MapVmaKeepsOnlyTheChosenVmas) {
  CliRun run = run_cli({"map", pid, "--vma", "vmt.data", "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.describe();
  json j = json::parse(run.out);
  ASSERT_EQ(j["vmas"].size(), 2u) << run.out;
  EXPECT_EQ(j["vmas"][0]["start"], hex(at(2)));
  EXPECT_EQ(j["vmas"][1]["end"], hex(at(3)));
  CliRun one = run_cli({"map", pid, "--vma", hex(at(0)), "--json"});
  ASSERT_EQ(one.exit_code, 0) << one.describe();
  json k = json::parse(one.out);
  ASSERT_EQ(k["vmas"].size(), 1u) << one.out;
  EXPECT_EQ(k["vmas"][0]["start"], hex(at(0)));
  EXPECT_EQ(k["vmas"][0]["end"], hex(at(0) + 4 * page_size()));
}

}  // namespace pagescan::test
