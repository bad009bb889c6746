// pagescan features run as a real binary: every field of its table and of its JSON
// against the library's own probe (pagescan::features(), probe_features()), and the
// backend and write-tracking engine it names against the library's choice.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "pagescan/features.hpp"
#include "pagescan/watch.hpp"
#include "support/cli_runner.hpp"
#include "support/kernel_facts.hpp"
#include "support/memory.hpp"
#include "support/watch_helpers.hpp"

namespace pagescan::test {
namespace {

using nlohmann::json;

std::string hex(std::uint64_t v) {
  std::ostringstream s;
  s << "0x" << std::hex << v;
  return s.str();
}

std::vector<std::string> names(Categories categories) {
  std::vector<std::string> out;
  for (Category c : kAllCategories) {
    if (categories.contains(c)) out.emplace_back(to_string(c));
  }
  return out;
}

std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// The backend `auto` takes for a request of every category (backend.cpp's rule).
std::string expected_backend(const Features& f) {
  std::string forced = env_or_empty("PAGESCAN_BACKEND");
  if (!forced.empty() && forced != "auto") return forced;
  return f.pagemap_scan ? "kernel" : "emulated";
}

bool needs_met(WatchEngine engine) {
  for (Fact f : engine_facts(engine)) {
    if (!kernel_has(f)) return false;
  }
  return true;
}

// The engine a WriteWatch left to choose gets, from the tests' kernel facts: the forced
// one when the kernel has what it needs (else none: every watch fails), or the first of
// watch.hpp's automatic order the kernel can run.
std::string expected_engine() {
  std::string forced = env_or_empty("PAGESCAN_WATCH_ENGINE");
  if (!forced.empty() && forced != "auto") {
    auto engine = parse_watch_engine(forced);
    return engine && needs_met(*engine) ? std::string(to_string(*engine)) : "none";
  }
  for (WatchEngine e : kAutomaticWatchOrder) {
    if (needs_met(e)) return std::string(to_string(e));
  }
  return "none";
}

// Hugetlb pages and swap can change while the CLI runs (other tests reserve and add
// them): runs the CLI between two fresh probes until both agree, and returns that run
// with the probe.
struct Settled {
  CliRun run;
  Features probe;
};
std::optional<Settled> run_settled(const std::vector<std::string>& args) {
  for (int attempt = 0; attempt < 5; ++attempt) {
    Features before = probe_features();
    CliRun run = run_cli(args);
    Features after = probe_features();
    if (before.hugetlb_pages_total == after.hugetlb_pages_total &&
        before.hugetlb_pages_free == after.hugetlb_pages_free &&
        before.swap_total_bytes == after.swap_total_bytes) {
      return Settled{std::move(run), std::move(after)};
    }
  }
  return std::nullopt;
}

// A table row: "<name padded to 28> yes|no <detail>", the detail's continuation lines
// (indented past the name) joined back with a space (a comma list broken after a comma
// gains one: compare lists without_spaces()).
struct Row {
  bool yes = false;
  std::string detail;
};
std::map<std::string, Row> table_rows(const std::string& text) {
  std::map<std::string, Row> rows;
  std::istringstream in(text);
  std::string line;
  Row* last = nullptr;
  while (std::getline(in, line)) {
    if (last && line.rfind(std::string(29, ' '), 0) == 0) {
      const std::string more = line.substr(line.find_first_not_of(' '));
      last->detail += " " + more;
      continue;
    }
    last = nullptr;
    if (line.size() < 31) continue;
    std::string name = line.substr(0, 28);
    name.erase(name.find_last_not_of(' ') + 1);
    const std::string rest = line.substr(29);
    Row row;
    if (rest.rfind("yes", 0) == 0 || rest.rfind("no ", 0) == 0 || rest == "no") {
      row.yes = rest[0] == 'y';
      row.detail = rest.size() > 4 ? rest.substr(4) : "";
    } else {
      row.detail = rest;  // the backend and engine rows: "name: reason"
    }
    rows[name] = row;
    last = &rows[name];
  }
  return rows;
}

std::string without_spaces(std::string text) {
  std::erase(text, ' ');
  return text;
}

std::string human(std::uint64_t bytes) {
  static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char text[32];
  std::snprintf(text, sizeof text, "%.1f %s", v, units[u]);
  return text;
}

TEST(CliFeatures, JsonAgreesWithTheLibraryProbeFieldByField) {
  const Features& f = features();
  auto settled = run_settled({"features", "--json"});
  ASSERT_TRUE(settled) << "hugetlb or swap settings kept changing during five runs";
  ASSERT_EQ(settled->run.exit_code, 0) << settled->run.describe();
  json j = json::parse(settled->run.out);
  const Features& now = settled->probe;
  EXPECT_EQ(j["hugetlb_pages_total"], now.hugetlb_pages_total);
  EXPECT_EQ(j["hugetlb_pages_free"], now.hugetlb_pages_free);
  EXPECT_EQ(j["swap_bytes"], now.swap_total_bytes);
  EXPECT_EQ(j["kernel"], f.kernel_release);
  EXPECT_EQ(j["page_size"], f.page_size);
  EXPECT_EQ(j["pagemap_scan"], f.pagemap_scan);
  EXPECT_EQ(j["pagemap_scan_errno"], f.pagemap_scan_errno);
  EXPECT_EQ(j["scan_categories"], json(names(f.scan_categories)));
  EXPECT_EQ(j["user_address_limit"], hex(f.user_address_limit));
  EXPECT_EQ(j["userfaultfd"], f.userfaultfd);
  EXPECT_EQ(j["userfaultfd_detail"], f.userfaultfd_detail);
  EXPECT_EQ(j["uffd_wp_async"], f.uffd_wp_async);
  EXPECT_EQ(j["uffd_wp_unpopulated"], f.uffd_wp_unpopulated);
  EXPECT_EQ(j["soft_dirty"], f.soft_dirty);
  EXPECT_EQ(j["soft_dirty_detail"], f.soft_dirty_detail);
  EXPECT_EQ(j["guard_regions"], f.guard_regions);
  EXPECT_EQ(j["thp_mode"], f.thp_mode);
  EXPECT_EQ(j["thp_pmd_size"], f.thp_pmd_size);
  EXPECT_EQ(j["thp_sizes"], json(f.thp_sizes));
  EXPECT_EQ(j["hugetlb_page_size"], f.hugetlb_page_size);
  EXPECT_EQ(j["pfns_visible"], f.pfns_visible);
  EXPECT_EQ(j["thp_use_zero_page"], f.thp_use_zero_page);
  EXPECT_EQ(j["zero_page"], f.zero_page);
  EXPECT_EQ(j["zero_page_detail"], f.zero_page_detail);
  EXPECT_EQ(j["huge_zero_page"], f.huge_zero_page);
  EXPECT_EQ(j["huge_zero_page_detail"], f.huge_zero_page_detail);
  EXPECT_EQ(j["backend"]["name"], expected_backend(f));
  EXPECT_FALSE(j["backend"]["reason"].get<std::string>().empty());
  EXPECT_EQ(j["watch_engine"]["name"], expected_engine());
  EXPECT_FALSE(j["watch_engine"]["reason"].get<std::string>().empty());
}

TEST(CliFeatures, TableAgreesWithTheLibraryProbeRowByRow) {
  const Features& f = features();
  auto settled = run_settled({"features"});
  ASSERT_TRUE(settled) << "hugetlb or swap settings kept changing during five runs";
  ASSERT_EQ(settled->run.exit_code, 0) << settled->run.describe();
  const std::string& out = settled->run.out;
  const Features& now = settled->probe;
  auto rows = table_rows(out);
  EXPECT_EQ(rows["hugetlb pages"].yes, now.hugetlb_pages_total > 0) << out;
  if (now.hugetlb_page_size) {
    const std::string expected = std::to_string(now.hugetlb_pages_total) + " of " +
                                 human(now.hugetlb_page_size) + " in the pool, " +
                                 std::to_string(now.hugetlb_pages_free) + " free (vm.nr_hugepages)";
    EXPECT_EQ(rows["hugetlb pages"].detail.rfind(expected, 0), 0u) << rows["hugetlb pages"].detail;
  }
  EXPECT_EQ(rows["swap"].yes, now.swap_total_bytes > 0) << out;
  if (now.swap_total_bytes) EXPECT_EQ(rows["swap"].detail, human(now.swap_total_bytes));
  std::istringstream in(out);
  std::string first;
  std::getline(in, first);
  EXPECT_EQ(first, "kernel " + f.kernel_release + ", page size " + human(f.page_size));
  ASSERT_EQ(rows.count("PAGEMAP_SCAN"), 1u) << out;
  EXPECT_EQ(rows["PAGEMAP_SCAN"].yes, f.pagemap_scan);
  if (f.pagemap_scan) {
    EXPECT_EQ(without_spaces(rows["PAGEMAP_SCAN"].detail),
              "categories:" + to_string(f.scan_categories));
  }
  EXPECT_EQ(rows["userfaultfd WP_ASYNC"].yes, f.uffd_wp_async) << out;
  EXPECT_EQ(rows["userfaultfd WP_UNPOPULATED"].yes, f.uffd_wp_unpopulated) << out;
  EXPECT_EQ(rows["soft-dirty"].yes, f.soft_dirty) << out;
  EXPECT_EQ(rows["soft-dirty"].detail, f.soft_dirty_detail) << out;
  EXPECT_EQ(rows["guard regions"].yes, f.guard_regions) << out;
  EXPECT_EQ(rows["transparent huge pages"].yes, !f.thp_mode.empty() && f.thp_mode != "never");
  if (!f.thp_mode.empty()) {
    EXPECT_EQ(rows["transparent huge pages"].detail.rfind("mode " + f.thp_mode, 0), 0u) << out;
    for (std::uint64_t size : f.thp_sizes) {
      EXPECT_NE(rows["transparent huge pages"].detail.find(human(size)), std::string::npos)
          << human(size) << " missing: " << rows["transparent huge pages"].detail;
    }
  }
  EXPECT_EQ(rows["PFNs visible"].yes, f.pfns_visible) << out;
  EXPECT_EQ(rows["zero page on read faults"].yes, f.zero_page) << out;
  EXPECT_EQ(rows["zero page on read faults"].detail, f.zero_page_detail) << out;
  EXPECT_EQ(rows["huge zero page"].yes, f.huge_zero_page) << out;
  EXPECT_EQ(rows["huge zero page"].detail, f.huge_zero_page_detail) << out;
  EXPECT_EQ(rows["scan backend"].detail.rfind(expected_backend(f) + ": ", 0), 0u) << out;
  EXPECT_EQ(rows["write-tracking engine"].detail.rfind(expected_engine() + ": ", 0), 0u) << out;
}

TEST(CliFeatures, ForcedBackendAndEngineAreNamedAsForced) {
  ScopedEnv backend("PAGESCAN_BACKEND", std::nullopt),
      engine("PAGESCAN_WATCH_ENGINE", std::nullopt);
  CliRun run = run_cli({"features", "--json"},
                       {"PAGESCAN_BACKEND=emulated", "PAGESCAN_WATCH_ENGINE=mprotect"});
  ASSERT_EQ(run.exit_code, 0) << run.describe();
  json j = json::parse(run.out);
  EXPECT_EQ(j["backend"]["name"], "emulated");
  EXPECT_NE(j["backend"]["reason"].get<std::string>().find("PAGESCAN_BACKEND"), std::string::npos);
  EXPECT_EQ(j["watch_engine"]["name"], "mprotect");
  EXPECT_NE(j["watch_engine"]["reason"].get<std::string>().find("PAGESCAN_WATCH_ENGINE"),
            std::string::npos);
}

// The same variable every WriteWatch reads: a value naming no engine stops `features` as
// it stops every watch, with the library's message and nothing printed.
TEST(CliFeatures, WatchEngineNamingNoEngineIsAUsageError) {
  ScopedEnv inherited("PAGESCAN_WATCH_ENGINE", std::nullopt);
  for (const char* format : {"table", "json"}) {
    CliRun run = run_cli({"features", "--format", format}, {"PAGESCAN_WATCH_ENGINE=bogus"});
    EXPECT_EQ(run.exit_code, 2) << run.describe();
    EXPECT_EQ(run.out, "");
    EXPECT_EQ(run.err,
              "pagescan: PAGESCAN_WATCH_ENGINE: unknown write-tracking engine 'bogus' (expected "
              "auto, uffd, soft-dirty, mprotect or everything)\n");
  }
  // "auto" and empty are automatic's choice, as the library reads them.
  for (const char* automatic : {"PAGESCAN_WATCH_ENGINE=auto", "PAGESCAN_WATCH_ENGINE="}) {
    CliRun run = run_cli({"features", "--json"}, {automatic});
    ASSERT_EQ(run.exit_code, 0) << automatic << ": " << run.describe();
    EXPECT_EQ(json::parse(run.out)["watch_engine"]["name"], expected_engine()) << automatic;
  }
}

// Each forced engine shows what a WriteWatch gets with that value: the engine itself when
// create() takes it, else "none" with create()'s own reason, never "forced" and chosen
// while the kernel cannot run it.
TEST(CliFeatures, ForcedEngineShowsWhatAWatchGets) {
  ScopedEnv inherited("PAGESCAN_WATCH_ENGINE", std::nullopt);
  Mapping m = Mapping::anonymous(1);
  ASSERT_NE(m.data(), nullptr);
  for (WatchEngine engine : kForcibleEngines) {
    const std::string name(to_string(engine));
    SCOPED_TRACE(name);
    CliRun run = run_cli({"features", "--json"}, {"PAGESCAN_WATCH_ENGINE=" + name});
    ASSERT_EQ(run.exit_code, 0) << run.describe();
    const json chosen = json::parse(run.out)["watch_engine"];
    const std::string reason = chosen["reason"];
    EXPECT_EQ(chosen["name"], needs_met(engine) ? name : "none") << reason;
    ScopedEnv forced("PAGESCAN_WATCH_ENGINE", name);
    auto watch = WriteWatch::create(m.data(), page_size());
    if (watch) {
      EXPECT_EQ(chosen["name"], std::string(to_string(watch->engine()))) << reason;
      EXPECT_NE(reason.find("forced by PAGESCAN_WATCH_ENGINE"), std::string::npos) << reason;
    } else {
      // create()'s message is "watch of [S-E): <why>"; features names the same why.
      const std::string& message = watch.error().message();
      const std::string why = message.substr(message.find("): ") + 3);
      EXPECT_EQ(chosen["name"], "none") << reason;
      EXPECT_NE(reason.find("every watch fails with '" + why + "'"), std::string::npos)
          << reason << "\nlibrary: " << message;
      EXPECT_EQ(reason.find("forced by"), std::string::npos) << reason;
    }
    CliRun table = run_cli({"features"}, {"PAGESCAN_WATCH_ENGINE=" + name});
    ASSERT_EQ(table.exit_code, 0) << table.describe();
    const Row row = table_rows(table.out)["write-tracking engine"];
    EXPECT_EQ(row.detail.rfind(chosen["name"].get<std::string>() + ": " + reason, 0), 0u)
        << table.out;
  }
}

// Measured, not assumed: the zero-page rows follow the tests' own probe, and nothing
// claims exact zero-page detection.
TEST(CliFeatures, ZeroPageRowsAgreeWithTheTestsProbe) {
  CliRun run = run_cli({"features", "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.describe();
  json j = json::parse(run.out);
  EXPECT_EQ(j["zero_page"], kernel_has(Fact::zero_page))
      << j["zero_page_detail"] << "; the tests' probe: " << kernel_fact(Fact::zero_page).finding;
  EXPECT_EQ(j["huge_zero_page"], kernel_has(Fact::huge_zero_page))
      << j["huge_zero_page_detail"]
      << "; the tests' probe: " << kernel_fact(Fact::huge_zero_page).finding;
  CliRun table = run_cli({"features"});
  ASSERT_EQ(table.exit_code, 0) << table.describe();
  auto rows = table_rows(table.out);
  EXPECT_EQ(rows["zero page on read faults"].yes, kernel_has(Fact::zero_page)) << table.out;
  EXPECT_EQ(rows["huge zero page"].yes, kernel_has(Fact::huge_zero_page)) << table.out;
  EXPECT_EQ(table.out.find("exact zero-page"), std::string::npos) << table.out;
}

// Every line fits an 80-column screen, given by --width or by COLUMNS, with the longest
// reasons this machine can produce (a forced engine it cannot run, a backend forced); and
// the narrowest screen --width takes, where details go under their names.
TEST(CliFeatures, TableFitsTheScreenWidth) {
  ScopedEnv backend("PAGESCAN_BACKEND", std::nullopt),
      engine("PAGESCAN_WATCH_ENGINE", std::nullopt), columns("COLUMNS", std::nullopt);
  const std::vector<std::vector<std::string>> environments = {
      {},
      {"PAGESCAN_WATCH_ENGINE=soft-dirty"},
      {"PAGESCAN_WATCH_ENGINE=uffd", "PAGESCAN_BACKEND=emulated"}};
  struct Screen {
    std::vector<std::string> args, env;
    std::size_t width;
  };
  const std::vector<Screen> screens = {
      {{"--width", "80"}, {}, 80}, {{}, {"COLUMNS=80"}, 80}, {{"--width", "40"}, {}, 40}};
  for (const auto& env : environments) {
    for (const Screen& screen : screens) {
      std::vector<std::string> args = {"features"}, extra = env;
      args.insert(args.end(), screen.args.begin(), screen.args.end());
      extra.insert(extra.end(), screen.env.begin(), screen.env.end());
      CliRun run = run_cli(args, extra);
      ASSERT_EQ(run.exit_code, 0) << run.describe();
      ASSERT_GT(run.out_lines().size(), 10u) << run.out;
      for (const std::string& line : run.out_lines()) {
        EXPECT_LE(display_columns(line), screen.width) << "'" << line << "'";
      }
    }
  }
}

TEST(CliFeatures, FormatJsonIsTheSameDocumentAsJsonFlag) {
  CliRun flag = run_cli({"features", "--json"});
  CliRun option = run_cli({"features", "--format", "json"});
  ASSERT_EQ(flag.exit_code, 0) << flag.describe();
  ASSERT_EQ(option.exit_code, 0) << option.describe();
  json a = json::parse(flag.out), b = json::parse(option.out);
  // Hugetlb and swap may move between the two runs; the rest may not.
  for (const char* volatile_field : {"hugetlb_pages_total", "hugetlb_pages_free", "swap_bytes"}) {
    a.erase(volatile_field);
    b.erase(volatile_field);
  }
  EXPECT_EQ(a, b);
  CliRun csv = run_cli({"features", "--format", "csv"});
  EXPECT_EQ(csv.exit_code, 2) << csv.describe();
  EXPECT_NE(single_line(csv.err).find("'csv'"), std::string::npos) << csv.err;
  EXPECT_EQ(csv.out, "");
}

}  // namespace
}  // namespace pagescan::test
