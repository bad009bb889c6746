// `pagescan exporter` with the real components it feeds: a Prometheus server (Debian's
// prometheus 2.42) scrapes it every second and a query through Prometheus's HTTP API gives
// census_target's parts exactly (written, zero, untouched, THP, file, swapped, guard), as
// the difference from its blank twin (the same program that unmapped its parts: every
// other page, libraries and heap, is the same in both); node_exporter's textfile
// collector serves the --textfile output. Every server listens on a loopback port the test
// picks and is stopped at the end, also on failure.
#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "support/census_target.hpp"
#include "support/exporter_helpers.hpp"
#include "support/kernel_facts.hpp"
#include "support/system_settings.hpp"
#include "support/temp_dir.hpp"

namespace pagescan::test {
namespace {

using nlohmann::json;
const std::int64_t kPage = ::sysconf(_SC_PAGESIZE);

// GET on 127.0.0.1:port; the body, "" on failure.
std::string get_body(int port, const std::string& path) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(5, 0);
  client.set_read_timeout(10, 0);
  auto response = client.Get(path.c_str());
  return response && response->status == 200 ? response->body : "";
}

// A Prometheus server scraping 127.0.0.1:target_port every second, its data in `dir`.
class PrometheusServer {
 public:
  PrometheusServer(const TempDir& dir, int target_port) : port_(free_loopback_port()) {
    const std::string config = dir / "prometheus.yml";
    std::ofstream(config) << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                             "scrape_configs:\n  - job_name: pagescan\n    scrape_timeout: 1s\n"
                             "    static_configs:\n      - targets: ['127.0.0.1:"
                          << target_port << "']\n";
    program_ = std::make_unique<BackgroundProgram>(
        "/usr/bin/prometheus",
        std::vector<std::string>{"--config.file=" + config, "--storage.tsdb.path=" + (dir / "tsdb"),
                                 "--web.listen-address=127.0.0.1:" + std::to_string(port_)},
        dir / "prometheus.log");
    ready_ = program_->wait_for_log("Server is ready to receive web requests", 30'000);
  }
  bool ready() const { return ready_; }
  std::string log() const { return program_->log(); }
  // The instant query's result vector ([] on failure).
  json query(const std::string& promql) const {
    httplib::Client client("127.0.0.1", port_);
    client.set_read_timeout(10, 0);
    auto response = client.Get("/api/v1/query", {{"query", promql}}, httplib::Headers{});
    if (!response || response->status != 200) return json::array();
    json body = json::parse(response->body, nullptr, false);
    if (body.is_discarded() || body.value("status", "") != "success") return json::array();
    return body["data"]["result"];
  }
  json api(const std::string& path) const {
    json body = json::parse(get_body(port_, path), nullptr, false);
    return body.is_discarded() ? json{} : body;
  }

 private:
  int port_;
  std::unique_ptr<BackgroundProgram> program_;
  bool ready_ = false;
};

// pagescan_memory_bytes of one group as (mapping, state) -> bytes, from a query result.
std::map<std::pair<std::string, std::string>, std::int64_t> cells(const json& result) {
  std::map<std::pair<std::string, std::string>, std::int64_t> out;
  for (const json& series : result) {
    const json& m = series["metric"];
    out[{m["mapping"].get<std::string>(), m["state"].get<std::string>()}] =
        std::stoll(series["value"][1].get<std::string>());
  }
  return out;
}

class CliExporterServers : public ::testing::Test {
 protected:
  void SetUp() override {
    PAGESCAN_REQUIRE_FACT(Fact::pagemap_scan);
    ASSERT_TRUE(write_census_file(dir_ / "data", kCensusFilePages));
  }
  TempDir dir_;
};

TEST_F(CliExporterServers, PrometheusQueriesGiveEachStateTheBytesTheChildHas) {
  PAGESCAN_REQUIRE_FACT(Fact::zero_page);
  PAGESCAN_REQUIRE_FACT(Fact::thp);
  PAGESCAN_REQUIRE_FACT(Fact::guard_regions);
  PAGESCAN_REQUIRE_FACT(Fact::scan_guard);
  SwapSpace swap;
  if (!swap.ok()) GTEST_SKIP() << "no swap: " << swap.why_not();
  CensusTarget parts("parts", dir_ / "data");
  CensusTarget blank("blank", dir_ / "data");
  ASSERT_EQ(parts.error(), "");
  ASSERT_EQ(blank.error(), "");
  ASSERT_TRUE(parts.swapped_ok()) << "MADV_PAGEOUT left some of the child's pages in memory";
  const std::string p = std::to_string(parts.pid()), b = std::to_string(blank.pid());
  ExporterServer exporter(dir_, {"--pid", p, "--pid", b, "--group-by", "pid"});
  ASSERT_NE(exporter.port(), 0) << exporter.log();
  PrometheusServer prometheus(dir_, exporter.port());
  ASSERT_TRUE(prometheus.ready()) << prometheus.log();

  json with, without;
  for (int i = 0; i < 300; ++i) {
    with = prometheus.query("pagescan_memory_bytes{job=\"pagescan\",group=\"" + p + "\"}");
    without = prometheus.query("pagescan_memory_bytes{job=\"pagescan\",group=\"" + b + "\"}");
    if (!with.empty() && !without.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_FALSE(with.empty()) << prometheus.log() << "\n" << exporter.log();
  ASSERT_FALSE(without.empty());
  auto w = cells(with), o = cells(without);
  const auto diff = [&](const char* mapping, const char* state) {
    return w[{mapping, state}] - o[{mapping, state}];
  };
  const char* file_kind = on_tmpfs(dir_.path()) ? "shmem" : "file";
  EXPECT_EQ(diff("anon", "present"), kCensusWrittenPages * kPage);
  EXPECT_EQ(diff("anon", "zero"), kCensusZeroPages * kPage);
  EXPECT_EQ(diff("anon", "untouched"), kCensusUntouchedPages * kPage);
  EXPECT_EQ(diff("anon", "huge"), static_cast<std::int64_t>(kCensusThpBytes));
  EXPECT_EQ(diff("anon", "swapped"), kCensusSwappedPages * kPage);
  EXPECT_EQ(diff("anon", "guard"), kCensusGuardPages * kPage);
  EXPECT_EQ(diff(file_kind, "file"), kCensusFilePages * kPage);
  // The blank twin has none of the parts' states at all.
  for (const char* state : {"huge", "guard", "swapped"}) {
    EXPECT_EQ(o[std::make_pair(std::string("anon"), std::string(state))], 0) << state;
  }

  // The scrape is healthy, and Prometheus took it as OpenMetrics: it kept the # UNIT.
  auto up = prometheus.query("up{job=\"pagescan\"}");
  ASSERT_EQ(up.size(), 1u);
  EXPECT_EQ(up[0]["value"][1], "1");
  json metadata = prometheus.api("/api/v1/metadata?metric=pagescan_memory_bytes");
  ASSERT_TRUE(metadata.contains("data")) << metadata.dump();
  EXPECT_EQ(metadata["data"]["pagescan_memory_bytes"][0]["unit"], "bytes") << metadata.dump();
  EXPECT_EQ(metadata["data"]["pagescan_memory_bytes"][0]["type"], "gauge");
  auto processes = prometheus.query("pagescan_processes{job=\"pagescan\",group=\"" + p + "\"}");
  ASSERT_EQ(processes.size(), 1u);
  EXPECT_EQ(processes[0]["value"][1], "1");
}

TEST_F(CliExporterServers, NodeExporterServesTheTextfile) {
  CensusTarget parts("parts", dir_ / "data");
  ASSERT_EQ(parts.error(), "");
  const std::string p = std::to_string(parts.pid());
  TempDir textfiles;
  BackgroundProgram exporter(PAGESCAN_CLI_PATH,
                             {"exporter", "--pid", p, "--group-by", "pid", "--textfile",
                              textfiles.path(), "--interval", "0.5"},
                             dir_ / "exporter.log");
  ASSERT_GT(exporter.pid(), 0);
  const int port = free_loopback_port();
  BackgroundProgram node("/usr/bin/prometheus-node-exporter",
                         {"--collector.disable-defaults", "--collector.textfile",
                          "--collector.textfile.directory=" + textfiles.path(),
                          "--web.listen-address=127.0.0.1:" + std::to_string(port)},
                         dir_ / "node.log");
  ASSERT_TRUE(node.wait_for_log("Listening on", 20'000)) << node.log();
  std::vector<Sample> samples;
  for (int i = 0; i < 100; ++i) {
    samples = parse_samples(get_body(port, "/metrics"));
    if (sample_value(samples, "pagescan_processes", {{"group", p}})) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(sample_value(samples, "pagescan_processes", {{"group", p}}), 1.0) << node.log();
  EXPECT_EQ(sample_value(samples, "pagescan_memory_bytes",
                         {{"group", p}, {"mapping", "anon"}, {"state", "untouched"}})
                    .value_or(0) >= static_cast<double>(kCensusUntouchedPages * kPage),
            true);
  EXPECT_EQ(sample_value(samples, "node_textfile_scrape_error"), 0.0) << node.log();
  EXPECT_EQ(exporter.stop(), 0) << exporter.log();
}

}  // namespace
}  // namespace pagescan::test
