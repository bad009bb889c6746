// contrib/grafana/pagescan-dashboard.json: every PromQL expression in it parses with
// promtool (as the expression of a recording rule, `promtool check rules`), and names
// only metrics a real scrape of the exporter has.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "support/cli_runner.hpp"
#include "support/exporter_helpers.hpp"
#include "support/temp_dir.hpp"

namespace pagescan::test {
namespace {

using nlohmann::json;

void collect_exprs(const json& node, std::vector<std::string>& out) {
  if (node.is_object()) {
    for (const auto& [key, value] : node.items()) {
      if (key == "expr" && value.is_string()) {
        out.push_back(value.get<std::string>());
      } else {
        collect_exprs(value, out);
      }
    }
  } else if (node.is_array()) {
    for (const json& item : node) collect_exprs(item, out);
  }
}

std::vector<std::string> dashboard_exprs() {
  std::ifstream in(std::string(PAGESCAN_SOURCE_DIR) + "/contrib/grafana/pagescan-dashboard.json");
  json dashboard = json::parse(in, nullptr, false);
  EXPECT_FALSE(dashboard.is_discarded()) << "the dashboard is not JSON";
  std::vector<std::string> out;
  if (!dashboard.is_discarded()) collect_exprs(dashboard, out);
  return out;
}

// Grafana's variables as the dashboard's "All" gives them.
std::string with_variables(std::string expr) {
  return std::regex_replace(expr, std::regex(R"(\$group)"), ".*");
}

// The metric names of a PromQL expression: identifiers outside label matchers, strings,
// ranges and by/without lists, that are neither functions (followed by '(') nor keywords.
std::set<std::string> metric_names(std::string expr) {
  expr = std::regex_replace(expr, std::regex(R"("([^"\\]|\\.)*")"), "\"\"");
  expr = std::regex_replace(expr, std::regex(R"(\{[^}]*\})"), " ");
  expr = std::regex_replace(expr, std::regex(R"(\[[^\]]*\])"), " ");
  expr = std::regex_replace(expr, std::regex(R"(\b(by|without|on|ignoring)\s*\([^)]*\))"), " ");
  static const std::set<std::string> keywords = {"and",    "or",         "unless",     "bool",
                                                 "offset", "group_left", "group_right"};
  std::set<std::string> names;
  const std::regex identifier(R"([a-zA-Z_:][a-zA-Z0-9_:]*(\s*\()?)");
  for (auto it = std::sregex_iterator(expr.begin(), expr.end(), identifier);
       it != std::sregex_iterator(); ++it) {
    if ((*it)[1].matched) continue;  // a function or aggregation
    const std::string name = it->str();
    if (!keywords.count(name)) names.insert(name);
  }
  return names;
}

TEST(ExporterDashboard, EveryExpressionParsesWithPromtool) {
  const std::vector<std::string> exprs = dashboard_exprs();
  ASSERT_GE(exprs.size(), 10u);
  TempDir dir;
  std::ofstream rules(dir / "rules.yml");
  rules << "groups:\n  - name: dashboard\n    rules:\n";
  for (std::size_t i = 0; i < exprs.size(); ++i) {
    // A JSON string is a YAML double-quoted scalar.
    rules << "      - record: dashboard:expr_" << i
          << "\n        expr: " << json(with_variables(exprs[i])).dump() << "\n";
  }
  rules.close();
  CliRun check = run_program("/usr/bin/promtool", {"check", "rules", dir / "rules.yml"});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  EXPECT_NE(check.out.find("SUCCESS: " + std::to_string(exprs.size()) + " rules found"),
            std::string::npos)
      << check.out;
  // promtool itself must fail on a bad expression, or the check above proves nothing.
  std::ofstream(dir / "bad.yml") << "groups:\n  - name: bad\n    rules:\n      - record: bad:expr\n"
                                    "        expr: \"sum by (state (pagescan_memory_bytes)\"\n";
  EXPECT_NE(run_program("/usr/bin/promtool", {"check", "rules", dir / "bad.yml"}).exit_code, 0);
}

TEST(ExporterDashboard, EveryExpressionNamesOnlyMetricsTheExporterEmits) {
  CliRun run = run_cli({"exporter", "--pid", std::to_string(::getpid()), "--once"});
  ASSERT_EQ(run.exit_code, 0) << run.describe();
  std::set<std::string> emitted;
  for (const Sample& s : parse_samples(run.out)) emitted.insert(s.name);
  ASSERT_TRUE(emitted.count("pagescan_memory_bytes"));
  std::set<std::string> used;
  for (const std::string& expr : dashboard_exprs()) {
    const std::set<std::string> names = metric_names(with_variables(expr));
    EXPECT_FALSE(names.empty()) << "no metric in: " << expr;
    for (const std::string& name : names) {
      EXPECT_TRUE(emitted.count(name)) << name << " (in " << expr << ") is not in a scrape";
      used.insert(name);
    }
  }
  // The name finder finds what it should (else an empty set would pass everything).
  EXPECT_EQ(metric_names("sum by (state) (rate(foo_total{a=\"b\"}[5m])) / bar"),
            (std::set<std::string>{"foo_total", "bar"}));
  EXPECT_TRUE(used.count("pagescan_memory_bytes"));
}

}  // namespace
}  // namespace pagescan::test
