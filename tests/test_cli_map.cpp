// pagescan map run as a real binary against a child with a known layout: per-VMA counts
// against the library's own scan of each VMA, JSON, CSV and the table agreeing, heat
// strips, the SVG parsed as XML (and rendered by headless Chromium where installed), a
// 1 000-VMA 10 GiB process, and every error path's message and exit code.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "pagescan/features.hpp"
#include "pagescan/memory_map.hpp"
#include "pagescan/scan.hpp"
#include "support/child_process.hpp"
#include "support/cli_process_tree.hpp"
#include "support/cli_runner.hpp"
#include "support/kernel_facts.hpp"
#include "support/memory.hpp"

using namespace pagescan;
using namespace pagescan::test;
using nlohmann::json;

namespace {

constexpr int kMadvGuardInstall = 102;  // Linux 6.13
const char* kPython = "/usr/bin/python3";
const char* kChromium = "/usr/bin/chromium";
const char* kTimeout = "/usr/bin/timeout";

// The counted categories, in the CLI's column order.
const std::vector<std::string> kColumns = {"present", "swapped", "pfnzero", "huge",
                                           "file",    "written", "guard"};

std::string hex(std::uint64_t v) {
  std::ostringstream s;
  s << "0x" << std::hex << v;
  return s.str();
}

// The parts of the child's layout; the child reports each as (start, end), or (0, 0)
// when this kernel cannot build it.
enum Part : std::size_t { kAnon, kFile, kGuard, kUffd, kSplitRw, kSplitRo, kThp, kPartCount };

// `pages` pages between two PROT_NONE pages, so no neighbour can merge with it.
char* isolated(std::size_t pages) {
  const std::size_t page = page_size();
  auto* base = static_cast<char*>(::mmap(nullptr, (pages + 2) * page, PROT_NONE,
                                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
  return base == MAP_FAILED ? nullptr : base + page;
}

char* anon_at(char* where, std::size_t pages) {
  void* p = ::mmap(where, pages * page_size(), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  ::madvise(p, pages * page_size(), MADV_NOHUGEPAGE);
  return static_cast<char*>(p);
}

void report(std::vector<std::uint64_t>& out, Part part, const void* p, std::size_t pages) {
  out[2 * part] = reinterpret_cast<std::uint64_t>(p);
  out[2 * part + 1] = p ? reinterpret_cast<std::uint64_t>(p) + pages * page_size() : 0;
}

// Runs in the child. Every part is its own VMA:
//  anon:   16 pages, 0-7 written, 8-11 read (the zero page where the kernel has it),
//          12-15 untouched;
//  file:   16 pages of a deleted file whose name needs escaping everywhere, 0-7 read;
//  guard:  16 written pages, guard markers on 4-7;
//  uffd:   32 pages registered for async uffd-wp and protected, 0-15 written;
//  split:  8 written pages, then 4-7 made read-only: two VMAs whose pages one region
//          covers (merging crosses VMA boundaries);
//  thp:    one PMD-mapped THP when the kernel makes one.
std::vector<std::uint64_t> known_layout() {
  const std::size_t page = page_size();
  std::vector<std::uint64_t> out(2 * kPartCount, 0);

  char* anon = anon_at(isolated(16), 16);
  for (std::size_t i = 0; i < 8; ++i) anon[i * page] = 1;
  for (std::size_t i = 8; i < 12; ++i) (void)*static_cast<volatile char*>(anon + i * page);
  report(out, kAnon, anon, 16);

  std::string name = "/tmp/pagescan-map <&>\"' \xff-XXXXXX";
  int fd = ::mkstemp(name.data());
  if (fd >= 0) {
    std::string content(16 * page, 'x');
    if (::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size())) {
      void* p = ::mmap(isolated(16), 16 * page, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0);
      if (p != MAP_FAILED) {
        for (std::size_t i = 0; i < 8; ++i)
          (void)*static_cast<volatile char*>(static_cast<char*>(p) + i * page);
        // Fault-around maps the neighbours of a read page that are in the page cache:
        // unmap the second half's PTEs so exactly pages 0-7 are present.
        ::madvise(static_cast<char*>(p) + 8 * page, 8 * page, MADV_DONTNEED);
        report(out, kFile, p, 16);
      }
    }
    ::close(fd);
    ::unlink(name.c_str());
  }

  char* guard = anon_at(isolated(16), 16);
  for (std::size_t i = 0; i < 16; ++i) guard[i * page] = 1;
  if (::madvise(guard + 4 * page, 4 * page, kMadvGuardInstall) == 0) report(out, kGuard, guard, 16);

  if (kernel_has(Fact::uffd_wp_async)) {
    static std::optional<AsyncWp> wp;  // kept open: closing the uffd unregisters the VMA
    wp = AsyncWp::create();
    char* tracked = anon_at(isolated(32), 32);
    if (wp && tracked) {
      wp->init(tracked, 32 * page);
      for (std::size_t i = 0; i < 16; ++i) tracked[i * page] = 1;
      report(out, kUffd, tracked, 32);
    }
  }

  char* split = anon_at(isolated(8), 8);
  for (std::size_t i = 0; i < 8; ++i) split[i * page] = 1;
  ::mprotect(split + 4 * page, 4 * page, PROT_READ);
  report(out, kSplitRw, split, 4);
  report(out, kSplitRo, split + 4 * page, 4);

  char* raw = isolated(2 * kThpSize / page);
  auto* aligned = reinterpret_cast<char*>((reinterpret_cast<std::uintptr_t>(raw) + kThpSize - 1) &
                                          ~(kThpSize - 1));
  if (::mmap(aligned, kThpSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
             0) != MAP_FAILED &&
      ::madvise(aligned, kThpSize, MADV_HUGEPAGE) == 0) {
    for (std::size_t off = 0; off < kThpSize; off += page) aligned[off] = 1;
    if (is_thp_mapped(aligned)) report(out, kThp, aligned, kThpSize / page);
  }
  return out;
}

std::uint64_t part_start(const ChildProcess& c, Part p) {
  return c.addresses()[2 * p];
}
std::uint64_t part_end(const ChildProcess& c, Part p) {
  return c.addresses()[2 * p + 1];
}

const json* find_vma(const json& j, std::uint64_t start) {
  for (const json& v : j["vmas"]) {
    if (v["start"] == hex(start)) return &v;
  }
  return nullptr;
}

// The JSON without its smaps figures: those of a forked child move whenever this process
// writes a page they still share (Shared_* becomes Private_*), so two runs differ there.
json without_smaps(json j) {
  if (j.is_object()) {
    j.erase("smaps");
    for (auto& [key, value] : j.items()) value = without_smaps(value);
  } else if (j.is_array()) {
    for (json& e : j) e = without_smaps(e);
  }
  return j;
}

// The heat line of the row starting with `prefix`: the first line after it that starts
// with "  [" or "  (" (a compact row may put its backing on the line between).
std::string heat_line_after(const std::vector<std::string>& lines, const std::string& prefix) {
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].rfind(prefix, 0) != 0) continue;
    for (std::size_t k = i + 1; k < lines.size() && lines[k].rfind("0x", 0) != 0; ++k) {
      if (lines[k].rfind("  [", 0) == 0 || lines[k].rfind("  (", 0) == 0) return lines[k];
    }
  }
  return "(no heat line after " + prefix + ")";
}

// A VMA's (or the totals') shared pages in bytes: what another process can move its Pss by.
double shared_bytes(const json& v) {
  return v["smaps"]["Shared_Clean"].get<double>() + v["smaps"]["Shared_Dirty"].get<double>();
}

std::uint64_t parse_hex(const std::string& s) {
  return std::stoull(s, nullptr, 16);
}

// The table's row fields: up to `fields` columns separated by runs of two or more
// spaces, then the rest of the line (the backing) as one field.
std::vector<std::string> split_row(const std::string& line, std::size_t fields) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (out.size() < fields && at < line.size()) {
    while (at < line.size() && line[at] == ' ') ++at;
    std::size_t sep = line.find("  ", at);
    if (sep == std::string::npos) sep = line.size();
    out.push_back(line.substr(at, sep - at));
    at = sep;
  }
  if (at < line.size()) {
    while (at < line.size() && line[at] == ' ') ++at;
    out.push_back(line.substr(at));
  }
  return out;
}

// RFC 4180 rows (quoted fields may hold commas and doubled quotes).
std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      row.push_back(field);
      field.clear();
    } else if (c == '\n') {
      row.push_back(field);
      field.clear();
      rows.push_back(row);
      row.clear();
    } else {
      field += c;
    }
  }
  return rows;
}

// A table cell in human units back to bytes, with the rounding it may carry: "8.0 KiB"
// is anything within 0.05 KiB of 8 KiB.
struct HumanSize {
  double bytes = 0;
  double tolerance = 0;
};
std::optional<HumanSize> parse_human(const std::string& cell) {
  if (cell == "0") return HumanSize{0, 0};
  std::istringstream in(cell);
  double value = 0;
  std::string unit;
  if (!(in >> value >> unit)) return std::nullopt;
  static const std::map<std::string, double> kUnits = {
      {"B", 1},
      {"KiB", 1024.0},
      {"MiB", 1048576.0},
      {"GiB", 1073741824.0},
      {"TiB", 1099511627776.0},
      {"PiB", 1125899906842624.0}};  // ASan's shadow reservations are TiB-sized
  auto u = kUnits.find(unit);
  if (u == kUnits.end()) return std::nullopt;
  return HumanSize{value * u->second, u->second == 1 ? 0 : 0.05 * u->second};
}

// The table cell for a JSON count (pages or null) agrees with it.
void expect_cell_agrees(const std::string& cell, const json& count, std::uint64_t page,
                        const std::string& what) {
  if (count.is_null()) {
    EXPECT_TRUE(cell == "not tracked" || cell == "-" || cell == "n/a" || cell == "?")
        << what << ": " << cell;
    return;
  }
  auto size = parse_human(cell);
  ASSERT_TRUE(size) << what << ": unparsable cell '" << cell << "'";
  double bytes = static_cast<double>(count.get<std::uint64_t>() * page);
  EXPECT_LE(std::fabs(size->bytes - bytes), size->tolerance + 1e-9)
      << what << ": table '" << cell << "' vs JSON " << count << " pages";
}

std::string temp_dir() {
  char name[] = "/tmp/pagescan-map-test-XXXXXX";
  return ::mkdtemp(name) ? std::string(name) : std::string();
}

std::vector<std::string> dir_entries(const std::string& dir) {
  std::vector<std::string> names;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") names.push_back(n);
    }
    ::closedir(d);
  }
  return names;
}

void remove_tree(const std::string& dir) {
  run_program("/bin/rm", {"-rf", dir});
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

std::uint64_t file_size(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
}

// Parses an SVG with python3's XML parser (which rejects anything not well-formed) and
// returns what it holds: {"root", "vma_groups", "starts", "titles", "legend", ...}.
std::optional<json> inspect_svg(const std::string& path, std::string& why) {
  static const char* kScript = R"py(
import json, sys, xml.etree.ElementTree as ET
ns = '{http://www.w3.org/2000/svg}'
root = ET.parse(sys.argv[1]).getroot()
groups = list(root.iter(ns + 'g'))
vmas = [g for g in groups if g.get('class') == 'vma']
legend = [g for g in groups if g.get('id') == 'legend']
print(json.dumps({
    'root': root.tag,
    'vma_groups': len(vmas),
    'starts': [g.get('data-start') for g in vmas],
    'titles': [(g.find(ns + 'title').text or '') for g in vmas],
    'labels': [''.join(g.find(ns + 'text').itertext()) for g in vmas],
    'legend': len(legend),
    'legend_labels': [t.text for g in legend for t in g.iter(ns + 'text')],
    'gaps': len([g for g in groups if g.get('class') == 'gap']),
}))
)py";
  CliRun run = run_program(kPython, {"-c", kScript, path});
  if (run.exit_code != 0) {
    why = run.describe();
    return std::nullopt;
  }
  return json::parse(run.out);
}

// A child whose layout these tests know.
struct CliMap : ::testing::Test {
  // Probe before forking children: the child's layout asks about uffd-wp.
  static void SetUpTestSuite() {
    (void)features();
    for (Fact f : {Fact::pagemap_scan, Fact::uffd_wp_async, Fact::zero_page, Fact::guard_regions,
                   Fact::scan_guard}) {
      (void)kernel_fact(f);
    }
  }
  void SetUp() override {
    PAGESCAN_REQUIRE_FACT(Fact::pagemap_scan);
    child.emplace(known_layout);
    ASSERT_EQ(child->addresses().size(), 2 * kPartCount);
  }
  std::string pid() const { return std::to_string(child->pid()); }
  json map_json(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"map", pid(), "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    CliRun run = run_cli(args);
    EXPECT_EQ(run.exit_code, 0) << run.describe();
    return json::parse(run.out);
  }
  std::optional<ChildProcess> child;
};

void expect_one_error_line(const CliRun& run, int code, const std::string& needle) {
  EXPECT_EQ(run.exit_code, code) << run.describe();
  EXPECT_EQ(run.signal, 0) << run.describe();
  ASSERT_EQ(run.err_lines().size(), 1u) << run.describe();
  EXPECT_EQ(run.err.rfind("pagescan: ", 0), 0u) << run.describe();
  EXPECT_NE(run.err.find(needle), std::string::npos)
      << "expected '" << needle << "' in " << run.describe();
}

}  // namespace

// The heart of map: counts attributed from one whole-address-space scan equal a scan of
// each VMA alone, for every VMA of the process.
TEST_F(CliMap, CountsOfEveryVmaEqualALibraryScanOfThatVma) {
  json j = map_json();
  auto proc = Process::attach(child->pid());
  ASSERT_TRUE(proc);
  Categories counted;
  for (const json& name : j["categories"]) counted |= *parse_category(name.get<std::string>());
  ASSERT_TRUE(counted.contains(Category::present | Category::swapped | Category::written));
  ASSERT_GT(j["vmas"].size(), 10u);
  for (const json& v : j["vmas"]) {
    SCOPED_TRACE(v.dump());
    if (!v["scanned"].get<bool>()) {
      for (const std::string& c : kColumns) EXPECT_TRUE(v["counts"][c].is_null()) << c;
      continue;
    }
    auto lib = scan(
        *proc, ScanRequest::over(parse_hex(v["start"]), parse_hex(v["end"])).returning(counted));
    ASSERT_TRUE(lib) << lib.error().message();
    std::map<std::string, std::uint64_t> pages;
    for (const PageRegion& r : lib->regions) {
      for (Category c : kAllCategories) {
        if (r.categories.contains(c)) pages[std::string(to_string(c))] += r.pages(page_size());
      }
    }
    for (const std::string& c : kColumns) {
      if (!counted.contains(*parse_category(c))) {
        EXPECT_TRUE(v["counts"][c].is_null()) << c << " is not returned by this kernel";
      } else if (c == "written" && !v["uffd_wp"].get<bool>()) {
        EXPECT_TRUE(v["counts"][c].is_null()) << "written outside a uffd-wp VMA";
      } else {
        EXPECT_EQ(v["counts"][c], pages[c]) << c;
      }
    }
  }
}

TEST_F(CliMap, KnownPartsShowTheirPages) {
  json j = map_json();
  const json* anon = find_vma(j, part_start(*child, kAnon));
  ASSERT_NE(anon, nullptr);
  EXPECT_EQ((*anon)["end"], hex(part_end(*child, kAnon)));
  EXPECT_EQ((*anon)["backing"], "anon");
  EXPECT_EQ((*anon)["bytes"], 16 * page_size());
  EXPECT_EQ((*anon)["counts"]["present"], 12);
  // The 4 read pages are the zero page, or private pages on a kernel without it.
  EXPECT_EQ((*anon)["counts"]["pfnzero"], kernel_has(Fact::zero_page) ? 4 : 0)
      << kernel_fact(Fact::zero_page).finding;
  EXPECT_EQ((*anon)["counts"]["file"], 0);
  EXPECT_TRUE((*anon)["counts"]["written"].is_null()) << "not uffd-wp registered";

  ASSERT_NE(part_start(*child, kFile), 0u) << "the child could not map its file";
  const json* file = find_vma(j, part_start(*child, kFile));
  ASSERT_NE(file, nullptr);
  EXPECT_EQ((*file)["backing"], "file");
  EXPECT_EQ((*file)["counts"]["present"], 8);
  EXPECT_EQ((*file)["counts"]["file"], 8);
  // The name's 0xff byte is not UTF-8: JSON carries U+FFFD in its place.
  EXPECT_EQ((*file)["path"].get<std::string>().rfind("/tmp/pagescan-map <&>\"' \xef\xbf\xbd-", 0),
            0u)
      << (*file)["path"];

  // Merging crosses VMA boundaries (kernel-pagemap-scan.md §3.3): the two halves come
  // back as one region and must still be counted apart.
  for (Part half : {kSplitRw, kSplitRo}) {
    const json* v = find_vma(j, part_start(*child, half));
    ASSERT_NE(v, nullptr) << half;
    EXPECT_EQ((*v)["end"], hex(part_end(*child, half)));
    EXPECT_EQ((*v)["counts"]["present"], 4) << half;
  }

  // The child installs guards where the kernel has them; map counts them where the scan
  // reports them.
  EXPECT_EQ(part_start(*child, kGuard) != 0, kernel_has(Fact::guard_regions))
      << kernel_fact(Fact::guard_regions).finding;
  if (part_start(*child, kGuard) && kernel_has(Fact::scan_guard)) {
    const json* guard = find_vma(j, part_start(*child, kGuard));
    ASSERT_NE(guard, nullptr);
    EXPECT_EQ((*guard)["counts"]["guard"], 4);
    EXPECT_EQ((*guard)["counts"]["present"], 12);
  }
  if (part_start(*child, kUffd)) {
    const json* tracked = find_vma(j, part_start(*child, kUffd));
    ASSERT_NE(tracked, nullptr);
    EXPECT_EQ((*tracked)["uffd_wp"], true);
    EXPECT_EQ((*tracked)["counts"]["written"], 16);
  }
  if (part_start(*child, kThp)) {
    const json* thp = find_vma(j, part_start(*child, kThp));
    ASSERT_NE(thp, nullptr);
    EXPECT_EQ((*thp)["counts"]["huge"], kThpSize / page_size());
  }

  // Totals are the sums over every VMA.
  std::map<std::string, std::uint64_t> sums;
  std::uint64_t bytes = 0;
  for (const json& v : j["vmas"]) {
    bytes += v["bytes"].get<std::uint64_t>();
    for (const std::string& c : kColumns) {
      if (!v["counts"][c].is_null()) sums[c] += v["counts"][c].get<std::uint64_t>();
    }
  }
  EXPECT_EQ(j["totals"]["vmas"], j["vmas"].size());
  EXPECT_EQ(j["totals"]["bytes"], bytes);
  EXPECT_EQ(j["totals"]["counts"]["present"], sums["present"]);
  EXPECT_EQ(j["shown_totals"], j["totals"]) << "no filter: every VMA is shown";
}

TEST_F(CliMap, JsonCsvAndTableAgree) {
  json j = map_json();
  CliRun csv_run = run_cli({"map", pid(), "--format", "csv"});
  CliRun table_run = run_cli({"map", pid()});
  CliRun wide_run = run_cli({"map", pid(), "--wide"});
  ASSERT_EQ(wide_run.exit_code, 0) << wide_run.describe();
  ASSERT_EQ(csv_run.exit_code, 0) << csv_run.describe();
  ASSERT_EQ(table_run.exit_code, 0) << table_run.describe();
  EXPECT_EQ(table_run.out.find("\x1b["), std::string::npos) << "no colour when not a terminal";

  auto csv = parse_csv(csv_run.out);
  ASSERT_FALSE(csv.empty());
  std::vector<std::string> header = {"start", "end", "perms", "offset", "bytes"};
  header.insert(header.end(), kColumns.begin(), kColumns.end());
  header.insert(header.end(), {"swap_entries", "markers", "rss_bytes", "pss_bytes", "swap_bytes",
                               "backing", "path"});
  EXPECT_EQ(csv[0], header);
  ASSERT_EQ(csv.size() - 1, j["vmas"].size());
  for (std::size_t i = 0; i < j["vmas"].size(); ++i) {
    const json& v = j["vmas"][i];
    const std::vector<std::string>& row = csv[i + 1];
    SCOPED_TRACE(v.dump());
    ASSERT_EQ(row.size(), header.size());
    EXPECT_EQ(row[0], v["start"]);
    EXPECT_EQ(row[1], v["end"]);
    EXPECT_EQ(row[2], v["perms"]);
    EXPECT_EQ(row[3], v["offset"]) << "a hex string like every address";
    EXPECT_EQ(parse_hex(row[3]) % page_size(), 0u);
    EXPECT_EQ(row[4], std::to_string(v["bytes"].get<std::uint64_t>()));
    for (std::size_t c = 0; c < kColumns.size(); ++c) {
      const json& n = v["counts"][kColumns[c]];
      EXPECT_EQ(row[5 + c], n.is_null() ? "" : std::to_string(n.get<std::uint64_t>()))
          << kColumns[c];
    }
    auto text = [](const json& n) {
      return n.is_null() ? "" : std::to_string(n.get<std::uint64_t>());
    };
    EXPECT_EQ(row[12], text(v["swapped_split"]["swap_entries"]));
    EXPECT_EQ(row[13], text(v["swapped_split"]["markers"]));
    EXPECT_EQ(row[14], text(v["smaps"]["Rss"]));
    // Pss moves between runs, through shared pages only: this process writing a page it
    // shares with the forked child, another process mapping the same file page.
    EXPECT_LE(std::fabs(std::stod(row[15]) - v["smaps"]["Pss"].get<double>()), shared_bytes(v));
    EXPECT_LE(std::stoull(row[15]), std::stoull(row[14]));
    EXPECT_EQ(row[16], text(v["smaps"]["Swap"]));
    EXPECT_EQ(row[17], v["backing"]);
    if (v["path"].get<std::string>().find("\xef\xbf\xbd") == std::string::npos) {
      EXPECT_EQ(row[18], v["path"]);
    } else {
      EXPECT_NE(row[18].find("\xff"), std::string::npos) << "CSV keeps the name's bytes";
    }
  }

  // The wide table: one row per VMA in the same order, every column, then the totals.
  std::vector<std::string> rows;
  std::string header_line, totals;
  for (const std::string& line : wide_run.out_lines()) {
    if (line.rfind("ADDRESS ", 0) == 0) header_line = line;
    if (line.rfind("0x", 0) == 0) rows.push_back(line);
    if (line.rfind("total ", 0) == 0) totals = line;
  }
  const std::vector<std::string> titles = split_row(header_line, 40);
  const std::vector<std::string> expected_titles = {
      "ADDRESS", "PERM",    "OFFSET",  "SIZE", "RSS",  "PSS",     "SWAP",  "PRESENT", "SWAPPED",
      "SWAPENT", "MARKERS", "PFNZERO", "HUGE", "FILE", "WRITTEN", "GUARD", "BACKING"};
  ASSERT_EQ(titles, expected_titles) << header_line;
  ASSERT_EQ(rows.size(), j["vmas"].size()) << wide_run.out;
  const std::uint64_t page = j["page_size"];
  // The JSON value behind a count column, in pages (null where the table shows why not).
  auto expected = [&](const json& v, const std::string& title) -> json {
    if (title == "SWAPENT") return v["swapped_split"]["swap_entries"];
    if (title == "MARKERS") return v["swapped_split"]["markers"];
    std::string name = title;
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return v["counts"][name];
  };
  // The cell agrees with the JSON value behind its column: smaps figures in bytes, the
  // rest in pages.
  auto agrees = [&](const std::string& cell, const json& v, const std::string& title,
                    const std::string& what) {
    static const std::map<std::string, std::string> kSmaps = {
        {"RSS", "Rss"}, {"PSS", "Pss"}, {"SWAP", "Swap"}};
    if (title == "PSS") {  // moves between runs through shared pages (see the CSV's)
      auto size = parse_human(cell);
      ASSERT_TRUE(size) << what << ": " << cell;
      EXPECT_LE(std::fabs(size->bytes - v["smaps"]["Pss"].get<double>()),
                size->tolerance + shared_bytes(v))
          << what;
      EXPECT_LE(size->bytes - size->tolerance, v["smaps"]["Rss"].get<double>()) << what;
    } else if (auto s = kSmaps.find(title); s != kSmaps.end()) {
      expect_cell_agrees(cell, v["smaps"][s->second], 1, what);
    } else {
      expect_cell_agrees(cell, expected(v, title), page, what);
    }
  };
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const json& v = j["vmas"][i];
    std::vector<std::string> f = split_row(rows[i], titles.size() - 1);
    SCOPED_TRACE(rows[i]);
    ASSERT_EQ(f.size(), titles.size());
    EXPECT_EQ(f[0], v["start"].get<std::string>() + "-" + v["end"].get<std::string>());
    EXPECT_EQ(f[1], v["perms"]);
    EXPECT_EQ(f[2], v["offset"]);
    expect_cell_agrees(f[3], v["pages"], page, "size");
    for (std::size_t c = 4; c + 1 < titles.size(); ++c) {
      agrees(f[c], v, titles[c], titles[c]);
      if (titles[c] == "WRITTEN" && v["scanned"].get<bool>() && !v["uffd_wp"].get<bool>()) {
        EXPECT_EQ(f[c], "not tracked");
      }
    }
  }
  ASSERT_FALSE(totals.empty()) << wide_run.out;
  // "total", the size and the counts (the empty PERMS and OFFSET cells are blank).
  std::vector<std::string> t = split_row(totals, titles.size() - 3);
  ASSERT_EQ(t.size(), titles.size() - 2) << totals;
  expect_cell_agrees(t[1], j["totals"]["bytes"].get<std::uint64_t>() / page, page, "total size");
  for (std::size_t c = 4; c + 1 < titles.size(); ++c) {
    agrees(t[c - 2], j["totals"], titles[c], "total " + titles[c]);
  }
  EXPECT_EQ(t.back(), std::to_string(j["vmas"].size()) + " VMAs");

  // The compact table: the same rows, each starting with its VMA's start address.
  std::vector<std::string> starts;
  for (const std::string& line : table_run.out_lines()) {
    if (line.rfind("0x", 0) == 0) starts.push_back(line.substr(0, line.find(' ')));
  }
  ASSERT_EQ(starts.size(), j["vmas"].size()) << table_run.out;
  for (std::size_t i = 0; i < starts.size(); ++i) EXPECT_EQ(starts[i], j["vmas"][i]["start"]);
}

TEST_F(CliMap, HeatStripOfAHalfWrittenVmaIsFullThenEmpty) {
  PAGESCAN_REQUIRE_FACT(Fact::uffd_wp_async);
  ASSERT_NE(part_start(*child, kUffd), 0u) << "the child could not track its uffd part";
  // Compact rows start with the VMA's start, wide ones with its range.
  const std::string row = hex(part_start(*child, kUffd)) + " ";
  const std::string wide_row = hex(part_start(*child, kUffd)) + "-" + hex(part_end(*child, kUffd));
  auto strip_of = [&](const CliRun& run, const std::string& prefix) {
    return heat_line_after(run.out_lines(), prefix);
  };
  auto repeat = [](const std::string& s, int n) {
    std::string out;
    for (int i = 0; i < n; ++i) out += s;
    return out;
  };
  CliRun unicode = run_cli({"map", pid(), "--heat", "--category", "written", "--heat-width", "32"});
  ASSERT_EQ(unicode.exit_code, 0) << unicode.describe();
  EXPECT_EQ(strip_of(unicode, row), "  [" + repeat("█", 16) + repeat(" ", 16) + "] written 50%");

  CliRun ascii = run_cli({"map", pid(), "--heat", "--category", "written", "--ascii", "--wide"});
  ASSERT_EQ(ascii.exit_code, 0) << ascii.describe();
  // 32 pages over the default 64 cells (wide tables keep them): each page fills two cells.
  EXPECT_EQ(strip_of(ascii, wide_row), "  [" + repeat("@", 32) + repeat(" ", 32) + "] written 50%");

  // Every other VMA's strip says why there is none: WRITTEN is not tracked there.
  const std::string anon_row = hex(part_start(*child, kAnon)) + "-" + hex(part_end(*child, kAnon));
  EXPECT_NE(heat_line_after(ascii.out_lines(), anon_row).find("not tracked"), std::string::npos)
      << ascii.out;

  json j = map_json({"--heat", "--category", "written", "--heat-width", "8"});
  EXPECT_EQ(j["heat"]["category"], "written");
  EXPECT_EQ(j["heat"]["width"], 8);
  const json* tracked = find_vma(j, part_start(*child, kUffd));
  ASSERT_NE(tracked, nullptr);
  EXPECT_EQ((*tracked)["heat"], json::parse("[1.0,1.0,1.0,1.0,0.0,0.0,0.0,0.0]"));
  EXPECT_TRUE((*find_vma(j, part_start(*child, kAnon)))["heat"].is_null());
}

TEST_F(CliMap, PresentHeatMarksPartlyFilledCells) {
  // 16 pages, 12 present (8 written, 4 read): at 16 cells, 12 full and 4 empty; at
  // 2 cells, one full and one at 4/8 = half.
  const std::string row = hex(part_start(*child, kAnon)) + " ";
  for (const auto& [width, strip] :
       std::vector<std::pair<std::string, std::string>>{{"16", "████████████    "}, {"2", "█▄"}}) {
    CliRun run = run_cli({"map", pid(), "--heat", "--heat-width", width});
    ASSERT_EQ(run.exit_code, 0) << run.describe();
    EXPECT_EQ(heat_line_after(run.out_lines(), row), "  [" + strip + "] present 75%")
        << "width " << width;
  }
}

TEST_F(CliMap, FiltersAndSortChooseTheRows) {
  json all = map_json();
  json files = map_json({"--only", "file"});
  ASSERT_GT(files["vmas"].size(), 0u);
  for (const json& v : files["vmas"]) EXPECT_EQ(v["backing"], "file") << v.dump();
  EXPECT_EQ(without_smaps(files["totals"]), without_smaps(all["totals"]))
      << "totals stay the process's";
  EXPECT_LT(files["shown_totals"]["vmas"], all["totals"]["vmas"]);

  json anon_heap = map_json({"--only", "anon,heap"});
  for (const json& v : anon_heap["vmas"]) {
    EXPECT_TRUE(v["backing"] == "anon" || v["backing"] == "heap") << v.dump();
  }

  json big = map_json({"--min-size", "64K"});
  ASSERT_GT(big["vmas"].size(), 0u);
  for (const json& v : big["vmas"]) EXPECT_GE(v["bytes"].get<std::uint64_t>(), 65536u);
  // The same rows; smaps figures (Pss above all) move between two runs.
  EXPECT_EQ(without_smaps(map_json({"--min-size", "65536"})["vmas"]), without_smaps(big["vmas"]));

  json by_size = map_json({"--sort", "size"});
  ASSERT_EQ(by_size["vmas"].size(), all["vmas"].size());
  for (std::size_t i = 1; i < by_size["vmas"].size(); ++i) {
    EXPECT_GE(by_size["vmas"][i - 1]["bytes"].get<std::uint64_t>(),
              by_size["vmas"][i]["bytes"].get<std::uint64_t>());
  }
  json by_present = map_json({"--sort", "present"});
  auto present = [](const json& v) {
    return v["counts"]["present"].is_null() ? 0 : v["counts"]["present"].get<std::uint64_t>();
  };
  for (std::size_t i = 1; i < by_present["vmas"].size(); ++i) {
    EXPECT_GE(present(by_present["vmas"][i - 1]), present(by_present["vmas"][i]));
  }
  json by_address = map_json({"--sort", "address"});
  EXPECT_EQ(without_smaps(by_address["vmas"]), without_smaps(all["vmas"]));
}

TEST_F(CliMap, SvgIsWellFormedWithOneGroupPerVmaAndALegend) {
  std::string dir = temp_dir();
  ASSERT_FALSE(dir.empty());
  const std::string svg = dir + "/map.svg";
  // Filters choose the printed rows; the picture always holds every VMA.
  CliRun run = run_cli({"map", pid(), "--svg", svg, "--json", "--only", "stack"});
  ASSERT_EQ(run.exit_code, 0) << run.describe();
  json j = json::parse(run.out);
  std::string why;
  auto s = inspect_svg(svg, why);
  ASSERT_TRUE(s) << "not well-formed XML: " << why;
  EXPECT_EQ((*s)["root"], "{http://www.w3.org/2000/svg}svg");
  EXPECT_EQ((*s)["vma_groups"], j["totals"]["vmas"]);
  EXPECT_EQ((*s)["legend"], 1);
  for (const char* label :
       {"present (anon)", "file", "huge", "zero page", "swapped", "guard", "not present"}) {
    EXPECT_NE(std::find((*s)["legend_labels"].begin(), (*s)["legend_labels"].end(), label),
              (*s)["legend_labels"].end())
        << label;
  }
  EXPECT_GT((*s)["gaps"], 0) << "the PROT_NONE-separated parts still leave unmapped gaps";
  // Address order, and the escaped file name survives as text.
  json full = map_json();
  ASSERT_EQ((*s)["starts"].size(), full["vmas"].size());
  for (std::size_t i = 0; i < full["vmas"].size(); ++i) {
    EXPECT_EQ((*s)["starts"][i], full["vmas"][i]["start"]);
  }
  bool found_name = false;
  for (const json& title : (*s)["titles"]) {
    found_name |= title.get<std::string>().find("/tmp/pagescan-map <&>\"' \xef\xbf\xbd-") !=
                  std::string::npos;
  }
  EXPECT_TRUE(found_name) << (*s)["titles"].dump();
  EXPECT_EQ(dir_entries(dir), std::vector<std::string>{"map.svg"}) << "no temporary left";
  remove_tree(dir);
}

// A large map stays readable: 1 000 VMAs and 10 GiB mapped. Every VMA alternates runs of
// zero-page and untouched pages, so every band is as fragmented as the cell cap allows.
TEST_F(CliMap, ThousandVmasOfTenGibGiveAWellFormedSvgUnderFiveMegabytes) {
  constexpr std::size_t kVmas = 1000, kPagesEach = 2622;  // 10.0 GiB in all
  ChildProcess big([] {
    const std::size_t page = page_size(), each = kPagesEach * page;
    auto* base = static_cast<char*>(::mmap(nullptr, kVmas * each, PROT_READ | PROT_WRITE,
                                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
    if (base == MAP_FAILED) return std::vector<std::uint64_t>{0, 0};
    for (std::size_t v = 0; v < kVmas; ++v) {
      char* p = base + v * each;
      // Alternate VMA flags so that neighbours cannot merge.
      ::madvise(p, each, v % 2 ? MADV_NOHUGEPAGE : MADV_NORMAL);
      p[0] = 1;
      for (std::size_t i = 20; i < kPagesEach; i += 1) {
        if ((i / 20) % 2 == 0) (void)*static_cast<volatile char*>(p + i * page);
      }
    }
    return std::vector<std::uint64_t>{reinterpret_cast<std::uint64_t>(base),
                                      reinterpret_cast<std::uint64_t>(base) + kVmas * each};
  });
  ASSERT_NE(big.addresses()[0], 0u) << "could not reserve 10 GiB";
  std::string dir = temp_dir();
  const std::string svg = dir + "/big.svg";
  CliRun run = run_cli({"map", std::to_string(big.pid()), "--svg", svg, "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.describe();
  json j = json::parse(run.out);
  std::size_t inside = 0;
  for (const json& v : j["vmas"]) {
    std::uint64_t start = parse_hex(v["start"]);
    if (start >= big.addresses()[0] && start < big.addresses()[1]) ++inside;
  }
  EXPECT_EQ(inside, kVmas) << "neighbouring VMAs merged";
  EXPECT_GE(j["totals"]["bytes"].get<std::uint64_t>(), 10ull << 30);
  const std::uint64_t bytes = file_size(svg);
  EXPECT_GT(bytes, 0u);
  EXPECT_LT(bytes, 5u << 20) << "the picture of 1 000 VMAs must stay a few megabytes";
  std::string why;
  auto s = inspect_svg(svg, why);
  ASSERT_TRUE(s) << "not well-formed XML: " << why;
  EXPECT_EQ((*s)["vma_groups"], j["totals"]["vmas"]);
  remove_tree(dir);
}

// Headless Chromium renders the SVG; the screenshot must show the legend's colours.
//
// Chromium runs under coreutils' timeout, which puts it in a process group of its own
// and kills the whole group (zygote, renderer and GPU helpers too) if it hangs; as a
// subreaper this test then sees, and kills, any helper that outlived it. The profile,
// cache and HOME are a temporary directory removed afterwards.
TEST_F(CliMap, SvgRendersInHeadlessChromium) {
  if (::access(kChromium, X_OK) != 0) {
    GTEST_SKIP() << kChromium << " is not installed (Debian package 'chromium'; "
                 << "scripts/bootstrap installs it for this test)";
  }
  if (::access(kTimeout, X_OK) != 0) GTEST_SKIP() << kTimeout << " (coreutils) is missing";
  std::string dir = temp_dir();
  ASSERT_FALSE(dir.empty());
  const std::string svg = dir + "/map.svg", png = dir + "/map.png";
  CliRun run = run_cli({"map", pid(), "--svg", svg});
  ASSERT_EQ(run.exit_code, 0) << run.describe();
  const int width = 1300, height = 600;
  CliRun shot;
  std::vector<pid_t> left;
  {
    LeftoverCatcher catcher;
    shot = run_program(
        kTimeout,
        {"--kill-after=5", "60", kChromium, "--headless", "--no-sandbox", "--disable-gpu",
         "--hide-scrollbars", "--no-first-run", "--no-default-browser-check",
         "--disable-extensions", "--user-data-dir=" + dir + "/profile",
         "--window-size=" + std::to_string(width) + "," + std::to_string(height),
         "--screenshot=" + png, "file://" + svg},
        {"HOME=" + dir, "XDG_CONFIG_HOME=" + dir + "/config", "XDG_CACHE_HOME=" + dir + "/cache"},
        90);
    left = catcher.leftovers_once_exited();  // helpers shutting down are waited for
  }
  EXPECT_TRUE(left.empty()) << left.size() << " chromium process(es) outlived it (killed)";
  ASSERT_FALSE(shot.timed_out) << shot.describe();
  ASSERT_TRUE(file_exists(png)) << shot.describe();
  // Decode the PNG (python3's zlib; no imaging library needed) and collect its colours.
  static const char* kScript = R"py(
import json, struct, sys, zlib
data = open(sys.argv[1], 'rb').read()
assert data[:8] == b'\x89PNG\r\n\x1a\n', 'not a PNG'
pos, idat = 8, b''
while pos < len(data):
    n, kind = struct.unpack('>I4s', data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    pos += 12 + n
    if kind == b'IHDR':
        w, h, depth, ctype, _, _, interlace = struct.unpack('>IIBBBBB', body)
    elif kind == b'IDAT':
        idat += body
assert depth == 8 and ctype in (2, 6) and interlace == 0, (depth, ctype, interlace)
bpp = 3 if ctype == 2 else 4
raw, stride = zlib.decompress(idat), w * bpp
prev, colours, at = bytearray(stride), set(), 0
for y in range(h):
    f, line = raw[at], bytearray(raw[at + 1:at + 1 + stride])
    at += 1 + stride
    for x in range(stride):
        a = line[x - bpp] if x >= bpp else 0
        b = prev[x]
        c = prev[x - bpp] if x >= bpp else 0
        if f == 1: line[x] = (line[x] + a) & 255
        elif f == 2: line[x] = (line[x] + b) & 255
        elif f == 3: line[x] = (line[x] + ((a + b) >> 1)) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    for x in range(0, stride, bpp):
        colours.add('#%02x%02x%02x' % tuple(line[x:x + 3]))
    prev = line
print(json.dumps({'width': w, 'height': h, 'colours': sorted(colours)}))
)py";
  CliRun decoded = run_program(kPython, {"-c", kScript, png});
  ASSERT_EQ(decoded.exit_code, 0) << decoded.describe();
  json png_info = json::parse(decoded.out);
  EXPECT_EQ(png_info["width"], width);
  EXPECT_EQ(png_info["height"], height);
  EXPECT_GT(png_info["colours"].size(), 4u) << "a blank screenshot";
  for (const char* legend_colour : {"#43a047", "#fb8c00", "#4fc3f7", "#d32f2f"}) {
    EXPECT_NE(std::find(png_info["colours"].begin(), png_info["colours"].end(), legend_colour),
              png_info["colours"].end())
        << legend_colour << " (a legend swatch) is not in the screenshot";
  }
  if (const char* keep = std::getenv("PAGESCAN_SCREENSHOT_DIR")) {
    run_program("/bin/cp", {svg, png, keep});
  }
  remove_tree(dir);
}

TEST_F(CliMap, UnwritableSvgPathFailsWithOneLineAndLeavesNothing) {
  CliRun run = run_cli({"map", pid(), "--svg", "/proc/nope/x.svg"});
  expect_one_error_line(run, 1, "/proc/nope/x.svg");
  EXPECT_EQ(run.out, "") << "nothing printed when the picture cannot be written";
  EXPECT_FALSE(file_exists("/proc/nope/x.svg"));

  // The target is a directory: refused before the scan (a usage error: the value is
  // wrong), no temporary made and the directory untouched. (A failure after the
  // temporary was written is CliOutput's full-file-system test.)
  std::string dir = temp_dir();
  ASSERT_EQ(::mkdir((dir + "/taken.svg").c_str(), 0755), 0);
  CliRun refused = run_cli({"map", pid(), "--svg", dir + "/taken.svg"});
  expect_one_error_line(refused, 2, dir + "/taken.svg: it is a directory");
  EXPECT_EQ(dir_entries(dir), std::vector<std::string>{"taken.svg"}) << "temporary left behind";
  remove_tree(dir);
}

TEST_F(CliMap, AnExistingSvgIsReplacedWhole) {
  std::string dir = temp_dir();
  const std::string svg = dir + "/map.svg";
  std::ofstream(svg) << "old contents";
  ::chmod(svg.c_str(), 0644);
  CliRun run = run_cli({"map", pid(), "--svg", svg});
  ASSERT_EQ(run.exit_code, 0) << run.describe();
  std::ifstream in(svg);
  std::string first;
  std::getline(in, first);
  EXPECT_EQ(first, R"(<?xml version="1.0" encoding="UTF-8"?>)");
  EXPECT_NE(run.out.find("SVG: " + svg), std::string::npos) << run.out;
  EXPECT_EQ(dir_entries(dir), std::vector<std::string>{"map.svg"});
  remove_tree(dir);
}

TEST_F(CliMap, HelpShowsExamplesAndEveryOption) {
  CliRun run = run_cli({"map", "--help"});
  ASSERT_EQ(run.exit_code, 0) << run.describe();
  for (const char* text :
       {"Examples:", "pagescan map", "--heat", "--category", "--ascii", "--heat-width", "--svg",
        "--format", "--json", "--min-size", "--only", "--sort", "not tracked", "--wide",
        "smaps_rollup", "SWAPENT", "MARKERS", "CAP_SYS_ADMIN", "shm"}) {
    EXPECT_NE(run.out.find(text), std::string::npos) << text;
  }
}

struct MapUsageCase {
  const char* name;
  std::vector<std::string> args;
  std::string offending;
};

class CliMapUsageError : public CliMap, public ::testing::WithParamInterface<MapUsageCase> {};

TEST_P(CliMapUsageError, ExitsTwoWithOneLineNamingTheValue) {
  std::vector<std::string> args = {"map", pid()};
  args.insert(args.end(), GetParam().args.begin(), GetParam().args.end());
  CliRun run = run_cli(args);
  expect_one_error_line(run, 2, GetParam().offending);
  EXPECT_EQ(run.out, "");
}

INSTANTIATE_TEST_SUITE_P(
    Cli, CliMapUsageError,
    ::testing::Values(MapUsageCase{"BadOnly", {"--only", "anonymous"}, "anonymous"},
                      MapUsageCase{"BadOnlyInList", {"--only", "anon,files"}, "files"},
                      MapUsageCase{"BadSort", {"--sort", "biggest"}, "biggest"},
                      MapUsageCase{"BadCategory", {"--heat", "--category", "dirty"}, "dirty"},
                      MapUsageCase{"BadMinSize", {"--min-size", "12Q"}, "12Q"},
                      MapUsageCase{"NegativeMinSize", {"--min-size", "-4K"}, "-4K"},
                      MapUsageCase{"ZeroWidth", {"--heat", "--heat-width", "0"}, "'0'"},
                      MapUsageCase{"HugeWidth", {"--heat", "--heat-width", "100000"}, "100000"},
                      MapUsageCase{"TextWidth", {"--heat", "--heat-width", "wide"}, "wide"},
                      MapUsageCase{"BadFormat", {"--format", "xml"}, "xml"},
                      MapUsageCase{"HeatAsCsv", {"--heat", "--format", "csv"}, "csv"},
                      MapUsageCase{"BadBackend", {"--backend", "gpu"}, "gpu"}),
    [](const ::testing::TestParamInfo<MapUsageCase>& info) {
      return std::string(info.param.name);
    });

TEST(CliMapErrors, MissingProcessExitsOneWithOneLine) {
  pid_t gone = ::fork();
  ASSERT_GE(gone, 0);
  if (gone == 0) ::_exit(0);
  ASSERT_EQ(::waitpid(gone, nullptr, 0), gone);
  CliRun run = run_cli({"map", std::to_string(gone)});
  expect_one_error_line(run, 1, std::to_string(gone));
  EXPECT_EQ(run.out, "");
}

// A process that has exited but is not yet reaped has no memory left to read.
TEST(CliMapErrors, ExitedProcessExitsOneWithOneLine) {
  pid_t zombie = ::fork();
  ASSERT_GE(zombie, 0);
  if (zombie == 0) ::_exit(0);
  siginfo_t info{};  // WNOWAIT: a zombie until the waitpid() below
  ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(zombie), &info, WEXITED | WNOWAIT), 0);
  CliRun run = run_cli({"map", std::to_string(zombie), "--svg", "/tmp/pagescan-zombie.svg"});
  ::waitpid(zombie, nullptr, 0);
  expect_one_error_line(run, 1, std::to_string(zombie));
  EXPECT_FALSE(file_exists("/tmp/pagescan-zombie.svg"));
}

TEST(CliMapErrors, PidTheCallerMayNotInspectExitsOne) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to run the CLI as another user";
  if (::access("/usr/bin/setpriv", X_OK) != 0) GTEST_SKIP() << "setpriv (util-linux) missing";
  ChildProcess root_child([] { return std::vector<std::uint64_t>{}; });
  CliRun run =
      run_program("/usr/bin/setpriv", {"--reuid=65534", "--regid=65534", "--clear-groups",
                                       PAGESCAN_CLI_PATH, "map", std::to_string(root_child.pid())});
  if (run.err.find("Permission denied") != std::string::npos &&
      run.err.find("pagescan: ") == std::string::npos) {
    GTEST_SKIP() << "uid 65534 cannot execute the build tree's binary: " << run.err;
  }
  expect_one_error_line(run, 1, "permission denied");
}

TEST(CliMapErrors, MissingTargetIsAUsageError) {
  CliRun run = run_cli({"map"});
  EXPECT_EQ(run.exit_code, 2) << run.describe();
  ASSERT_EQ(run.err_lines().size(), 1u) << run.describe();
  EXPECT_EQ(run.err.rfind("pagescan: ", 0), 0u) << run.describe();
}
