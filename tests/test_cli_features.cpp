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

// Unsets an environment variable for a scope (run_cli passes this process's environment,
// and an inherited value would win over one the test adds).
class ScopedUnset {
 public:
  explicit ScopedUnset(const char* name) : name_(name) {
    if (const char* v = std::getenv(name)) old_ = v;
    ::unsetenv(name);
  }
  ~ScopedUnset() {
    if (old_) ::setenv(name_, old_->c_str(), 1);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

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

// The engine WriteWatch's `automatic` takes (watch.hpp's order).
std::string expected_engine() {
  std::string forced = env_or_empty("PAGESCAN_WATCH_ENGINE");
  if (!forced.empty() && forced != "auto") return forced;
  for (WatchEngine e : kAutomaticWatchOrder) {
    if (watch_engine_available(e)) return std::string(to_string(e));
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

// A table row: "<name padded to 28> yes|no <detail>".
struct Row {
  bool yes = false;
  std::string detail;
};
std::map<std::string, Row> table_rows(const std::string& text) {
  std::map<std::string, Row> rows;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
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
  }
  return rows;
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
                                 human(now.hugetlb_page_size) + " in the pool (vm.nr_hugepages), " +
                                 std::to_string(now.hugetlb_pages_free) + " free";
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
    EXPECT_EQ(rows["PAGEMAP_SCAN"].detail, "categories: " + to_string(f.scan_categories));
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
  EXPECT_EQ(rows["scan backend"].detail.rfind(expected_backend(f) + ": ", 0), 0u) << out;
  EXPECT_EQ(rows["write-tracking engine"].detail.rfind(expected_engine() + ": ", 0), 0u) << out;
}

TEST(CliFeatures, ForcedBackendAndEngineAreNamedAsForced) {
  ScopedUnset backend("PAGESCAN_BACKEND"), engine("PAGESCAN_WATCH_ENGINE");
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
