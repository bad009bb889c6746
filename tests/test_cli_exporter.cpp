// `pagescan exporter` over HTTP and on the command line: promtool finds nothing wrong with
// a scrape, OpenMetrics is negotiated by Accept, / and 404, a silent client does not block
// a scrape, 50 concurrent scrapes all succeed and share collections, a process that exited
// is counted as skipped while the scrape succeeds, the textfile is written atomically, bad
// input is one line and exit 2 (1 for a port in use), SIGTERM stops it with exit 0.
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <set>
#include <thread>

#include "support/census_target.hpp"
#include "support/cli_runner.hpp"
#include "support/exporter_helpers.hpp"
#include "support/kernel_facts.hpp"
#include "support/temp_dir.hpp"

namespace pagescan::test {
namespace {

std::string self_pid() {
  return std::to_string(::getpid());
}

httplib::Result get(int port, const std::string& path, const httplib::Headers& headers = {}) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(10, 0);
  client.set_read_timeout(30, 0);
  return client.Get(path.c_str(), headers);
}

class CliExporter : public ::testing::Test {
 protected:
  void SetUp() override { PAGESCAN_REQUIRE_FACT(Fact::pagemap_scan); }
  TempDir dir_;
};

TEST_F(CliExporter, PromtoolFindsNothingWrongWithAScrape) {
  ExporterServer server(dir_, {"--all"});
  ASSERT_NE(server.port(), 0) << server.log();
  auto response = get(server.port(), "/metrics");
  ASSERT_TRUE(response) << httplib::to_string(response.error());
  ASSERT_EQ(response->status, 200);
  EXPECT_EQ(response->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  const PromtoolResult check = promtool_check_metrics(dir_, response->body);
  EXPECT_EQ(check.exit_code, 0) << check.output;
  EXPECT_EQ(check.output, "") << "promtool's findings";
  const auto samples = parse_samples(response->body);
  EXPECT_GE(sample_value(samples, "pagescan_scrape_processes_scanned").value_or(0), 1);
  EXPECT_TRUE(sample_value(samples, "pagescan_backend_info", {{"backend", "kernel"}}));
}

TEST_F(CliExporter, OnceOutputPassesPromtool) {
  CliRun run = run_cli({"exporter", "--pid", self_pid(), "--group-by", "pid", "--once"});
  ASSERT_EQ(run.exit_code, 0) << run.describe();
  const PromtoolResult check = promtool_check_metrics(dir_, run.out);
  EXPECT_EQ(check.exit_code, 0) << check.output;
  const auto samples = parse_samples(run.out);
  EXPECT_EQ(sample_value(samples, "pagescan_processes", {{"group", self_pid()}}), 1.0);
  // The stack: every process has touched its own (a sanitizer's malloc uses no [heap]).
  EXPECT_GT(sample_value(samples, "pagescan_memory_bytes",
                         {{"group", self_pid()}, {"mapping", "stack"}, {"state", "present"}})
                .value_or(0),
            0);
}

TEST_F(CliExporter, OpenMetricsWhenAcceptAsksForIt) {
  ExporterServer server(dir_, {"--pid", self_pid()});
  ASSERT_NE(server.port(), 0) << server.log();
  auto response = get(server.port(), "/metrics",
                      {{"Accept", "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"}});
  ASSERT_TRUE(response);
  ASSERT_EQ(response->status, 200);
  EXPECT_EQ(response->get_header_value("Content-Type"),
            "application/openmetrics-text; version=1.0.0; charset=utf-8");
  const std::string& body = response->body;
  ASSERT_GE(body.size(), 6u);
  EXPECT_EQ(body.substr(body.size() - 6), "# EOF\n");
  EXPECT_NE(body.find("# UNIT pagescan_memory_bytes bytes\n"), std::string::npos) << body;
  EXPECT_NE(body.find("# UNIT pagescan_scrape_duration_seconds seconds\n"), std::string::npos);
  // Counter families are named without _total, their samples with it.
  EXPECT_NE(body.find("# TYPE pagescan_processes_skipped counter\n"), std::string::npos);
  EXPECT_NE(body.find("\npagescan_processes_skipped_total{reason=\"exited\"} "), std::string::npos);
  EXPECT_NE(body.find("# TYPE pagescan_backend info\n"), std::string::npos);
  // Without the Accept header: the text format, no # EOF.
  auto text = get(server.port(), "/metrics");
  ASSERT_TRUE(text);
  EXPECT_EQ(text->body.find("# EOF"), std::string::npos);
  EXPECT_EQ(text->body.find("# UNIT"), std::string::npos);
}

TEST_F(CliExporter, IndexLinksToMetricsAndOtherPathsAre404) {
  ExporterServer server(dir_, {"--pid", self_pid()});
  ASSERT_NE(server.port(), 0) << server.log();
  auto index = get(server.port(), "/");
  ASSERT_TRUE(index);
  EXPECT_EQ(index->status, 200);
  EXPECT_NE(index->body.find("href=\"/metrics\""), std::string::npos) << index->body;
  for (const char* path : {"/nothing", "/metrics/x", "/favicon.ico"}) {
    auto response = get(server.port(), path);
    ASSERT_TRUE(response) << path;
    EXPECT_EQ(response->status, 404) << path;
  }
}

// A client that connects and sends nothing holds one server thread until the read
// timeout: a scrape meanwhile is answered at once.
TEST_F(CliExporter, ASilentClientDoesNotBlockAScrape) {
  ExporterServer server(dir_, {"--pid", self_pid()});
  ASSERT_NE(server.port(), 0) << server.log();
  std::vector<int> silent;
  for (int i = 0; i < 4; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(server.port()));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    silent.push_back(fd);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // accepted and waiting
  const auto began = std::chrono::steady_clock::now();
  auto response = get(server.port(), "/metrics");
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  for (int fd : silent) ::close(fd);
  ASSERT_TRUE(response) << httplib::to_string(response.error());
  EXPECT_EQ(response->status, 200);
  EXPECT_LT(seconds, 2.0) << "the scrape waited for the silent clients";
}

// 50 scrapes at once: every one succeeds, and they share collections (a scrape arriving
// while one runs takes its result), so fewer collections are made than scrapes.
TEST_F(CliExporter, FiftyConcurrentScrapesAllSucceedAndShareCollections) {
  ExporterServer server(dir_, {"--all"});
  ASSERT_NE(server.port(), 0) << server.log();
  constexpr int kScrapes = 50;
  std::vector<int> status(kScrapes, 0);
  std::vector<double> collection(kScrapes, 0);
  std::vector<std::thread> threads;
  std::atomic<bool> go{false};
  for (int i = 0; i < kScrapes; ++i) {
    threads.emplace_back([&, i] {
      while (!go) std::this_thread::yield();
      auto response = get(server.port(), "/metrics");
      if (!response) return;
      status[i] = response->status;
      collection[i] =
          sample_value(parse_samples(response->body), "pagescan_collections_total").value_or(0);
    });
  }
  go = true;
  for (auto& t : threads) t.join();
  std::set<double> distinct;
  for (int i = 0; i < kScrapes; ++i) {
    EXPECT_EQ(status[i], 200) << "scrape " << i;
    EXPECT_GE(collection[i], 1) << "scrape " << i;
    distinct.insert(collection[i]);
  }
  const double made = *distinct.rbegin();
  EXPECT_LT(made, kScrapes) << "every scrape made its own collection";
  EXPECT_LT(distinct.size(), static_cast<std::size_t>(kScrapes));
  // The counter counts every collection made: the next scrape's is one more.
  auto after = get(server.port(), "/metrics");
  ASSERT_TRUE(after);
  EXPECT_EQ(sample_value(parse_samples(after->body), "pagescan_collections_total"), made + 1);
}

// A selected process that has exited (a zombie: listed, its memory gone) is counted as
// skipped (exited) and the scrape still succeeds with the others.
TEST_F(CliExporter, AnExitedProcessIsSkippedAndTheScrapeSucceeds) {
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) ::_exit(0);
  // Wait until it is a zombie, without reaping it.
  siginfo_t info{};
  ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(child), &info, WEXITED | WNOWAIT), 0);
  ExporterServer server(dir_, {"--pid", std::to_string(child), "--pid", self_pid()});
  ASSERT_NE(server.port(), 0) << server.log();
  auto response = get(server.port(), "/metrics");
  ::waitpid(child, nullptr, 0);
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  const auto samples = parse_samples(response->body);
  EXPECT_EQ(sample_value(samples, "pagescan_processes_skipped_total", {{"reason", "exited"}}), 1.0)
      << response->body;
  EXPECT_EQ(sample_value(samples, "pagescan_scrape_processes_scanned"), 1.0);
  // Now reaped: gone from /proc, still a skip, the counter adds up.
  auto again = get(server.port(), "/metrics");
  ASSERT_TRUE(again);
  EXPECT_EQ(sample_value(parse_samples(again->body), "pagescan_processes_skipped_total",
                         {{"reason", "exited"}}),
            2.0);
}

// Processes that come and go while scrapes run (selected by --match): every scrape
// succeeds; the ones caught exiting are skipped, never an error.
TEST_F(CliExporter, ScrapesSucceedWhileMatchedProcessesComeAndGo) {
  ASSERT_TRUE(write_census_file(dir_ / "data", kCensusFilePages));
  ExporterServer server(dir_, {"--match", "^census_target$"});
  ASSERT_NE(server.port(), 0) << server.log();
  std::atomic<bool> stop{false};
  std::thread churn([&] {
    while (!stop) {
      CensusTarget t("parts", dir_ / "data");
      t.close_input();
      t.wait_exit();
    }
  });
  int scrapes = 0;
  for (; scrapes < 20; ++scrapes) {
    auto response = get(server.port(), "/metrics");
    ASSERT_TRUE(response);
    ASSERT_EQ(response->status, 200) << response->body;
  }
  stop = true;
  churn.join();
  EXPECT_EQ(scrapes, 20);
}

// A process the exporter may not read (pagescan run as nobody, the target root's) is
// counted as skipped for permission; the collection still succeeds.
TEST_F(CliExporter, ADeniedProcessIsSkippedForPermission) {
  if (::access("/usr/bin/setpriv", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/setpriv to drop root";
  if (::geteuid() != 0)
    GTEST_SKIP() << "needs root to run pagescan as nobody against root's process";
  CliRun run = run_program("/usr/bin/setpriv",
                           {"--reuid=65534", "--regid=65534", "--clear-groups", PAGESCAN_CLI_PATH,
                            "exporter", "--pid", self_pid(), "--once"});
  ASSERT_EQ(run.exit_code, 0) << run.describe();
  const auto samples = parse_samples(run.out);
  EXPECT_EQ(sample_value(samples, "pagescan_processes_skipped_total", {{"reason", "permission"}}),
            1.0)
      << run.out;
  EXPECT_EQ(sample_value(samples, "pagescan_scrape_processes_scanned"), 0.0);
}

// The group label: comm by default, the cgroup v2 path, or the pid; label values escaped
// (a command name may hold quotes and backslashes).
TEST_F(CliExporter, GroupLabelsAreTheCommTheCgroupOrThePidEscaped) {
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::prctl(PR_SET_NAME, "a\"b\\c", 0, 0, 0);
    ::pause();
    ::_exit(0);
  }
  std::string comm;
  for (int i = 0; i < 200 && comm != "a\"b\\c\n"; ++i) {
    std::ifstream in("/proc/" + std::to_string(child) + "/comm");
    comm.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const std::string pid = std::to_string(child);
  CliRun by_comm = run_cli({"exporter", "--pid", pid, "--once"});
  CliRun by_cgroup = run_cli({"exporter", "--pid", pid, "--once", "--group-by", "cgroup"});
  CliRun by_pid = run_cli({"exporter", "--pid", pid, "--once", "--group-by", "pid"});
  std::ifstream cgroup_file("/proc/" + pid + "/cgroup");
  std::string cgroup, line;
  while (std::getline(cgroup_file, line)) {
    if (line.rfind("0::", 0) == 0) cgroup = line.substr(3);
  }
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  ASSERT_EQ(by_comm.exit_code, 0) << by_comm.describe();
  EXPECT_NE(by_comm.out.find("pagescan_processes{group=\"a\\\"b\\\\c\"} 1\n"), std::string::npos)
      << by_comm.out;
  EXPECT_EQ(promtool_check_metrics(dir_, by_comm.out).exit_code, 0);
  EXPECT_EQ(sample_value(parse_samples(by_comm.out), "pagescan_processes", {{"group", "a\"b\\c"}}),
            1.0);
  ASSERT_FALSE(cgroup.empty()) << "no cgroup v2 line";
  EXPECT_EQ(sample_value(parse_samples(by_cgroup.out), "pagescan_processes", {{"group", cgroup}}),
            1.0)
      << by_cgroup.out;
  EXPECT_EQ(sample_value(parse_samples(by_pid.out), "pagescan_processes", {{"group", pid}}), 1.0);
}

TEST_F(CliExporter, TheTextfileIsWrittenWholeEveryInterval) {
  BackgroundProgram exporter(
      PAGESCAN_CLI_PATH,
      {"exporter", "--pid", self_pid(), "--textfile", dir_.path(), "--interval", "0.2"},
      dir_ / "exporter.log");
  ASSERT_GT(exporter.pid(), 0);
  const std::string path = dir_ / "pagescan.prom";
  for (int i = 0; i < 200 && ::access(path.c_str(), F_OK) != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // a few rewrites
  EXPECT_EQ(exporter.stop(), 0) << exporter.log();
  std::ifstream in(path);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const PromtoolResult check = promtool_check_metrics(dir_, text);
  EXPECT_EQ(check.exit_code, 0) << check.output;
  EXPECT_GE(sample_value(parse_samples(text), "pagescan_collections_total").value_or(0), 2);
  // Nothing but the file, the log and promtool's input: no temporary left behind.
  EXPECT_EQ(dir_.entries(),
            (std::vector<std::string>{"exporter.log", "pagescan.prom", "scrape.prom"}));
}

// A textfile that cannot be written (its directory removed) is a line on stderr per
// attempt, naming the file; the exporter goes on and still stops cleanly.
TEST_F(CliExporter, ATextfileThatCannotBeWrittenIsReportedAndTheExporterGoesOn) {
  TempDir textfiles;
  const std::string dir = textfiles / "gone";
  ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);
  BackgroundProgram exporter(
      PAGESCAN_CLI_PATH, {"exporter", "--pid", self_pid(), "--textfile", dir, "--interval", "0.1"},
      dir_ / "exporter.log");
  ASSERT_GT(exporter.pid(), 0);
  const std::string file = dir + "/pagescan.prom";
  for (int i = 0; i < 200 && ::access(file.c_str(), F_OK) != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(::unlink(file.c_str()), 0);
  ASSERT_EQ(::rmdir(dir.c_str()), 0);
  EXPECT_TRUE(exporter.wait_for_log(file, 5'000)) << exporter.log();
  EXPECT_EQ(exporter.poll_exit(), -3) << "it stopped: " << exporter.log();
  EXPECT_EQ(exporter.stop(), 0) << exporter.log();
  const std::string log = exporter.log();
  EXPECT_EQ(log.rfind("pagescan: ", 0), 0u) << log;
}

TEST_F(CliExporter, SigtermAndSigintStopItWithExitZero) {
  for (int signal : {SIGTERM, SIGINT}) {
    ExporterServer server(dir_, {"--pid", self_pid()});
    ASSERT_NE(server.port(), 0) << server.log();
    ASSERT_TRUE(get(server.port(), "/metrics"));
    const auto began = std::chrono::steady_clock::now();
    ::kill(server.program().pid(), signal);
    int status = -3;
    while (status == -3 && std::chrono::steady_clock::now() - began < std::chrono::seconds(10)) {
      status = server.program().poll_exit();
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_EQ(status, 0) << strsignal(signal) << ": " << server.log();
  }
}

// Bad input: one line naming the value, exit 2; a port in use: exit 1 naming the address.
TEST_F(CliExporter, BadInputIsOneLine) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--all", "--listen", "localhost"},
       "pagescan: bad --listen 'localhost': expected ADDR:PORT with ADDR an IP address "
       "(127.0.0.1, [::1], 0.0.0.0) and PORT 0 to 65535"},
      {{"--all", "--listen", "127.0.0.1:65536"},
       "pagescan: bad --listen '127.0.0.1:65536': expected ADDR:PORT with ADDR an IP address "
       "(127.0.0.1, [::1], 0.0.0.0) and PORT 0 to 65535"},
      {{"--match", "(x"}, ""},
      {{"--match", ""},
       "pagescan: bad --match '': expected a regular expression (not empty; --all counts every "
       "process)"},
      {{"--all", "--group-by", "user"},
       "pagescan: bad --group-by 'user': expected comm, cgroup or pid"},
      {{"--pid", "12x"}, "pagescan: bad --pid '12x': expected a process id (a number > 0)"},
      {{}, "pagescan: which processes? (expected --all, --pid P or --match REGEX)"},
      {{"--all", "--pid", "1"}, "pagescan: --all contradicts --pid (give one)"},
      {{"--all", "--once", "--listen", "127.0.0.1:0"},
       "pagescan: --once contradicts --listen (give one)"},
      {{"--all", "--interval", "2"},
       "pagescan: --interval needs --textfile (an HTTP scrape collects when it comes)"},
      {{"--all", "--textfile", "/nonexistent-dir"},
       "pagescan: bad --textfile '/nonexistent-dir': expected an existing directory "
       "(node_exporter's --collector.textfile.directory)"},
      {{"--all", "--textfile", dir_.path(), "--interval", "0"},
       "pagescan: bad --interval '0': expected seconds > 0, e.g. 0.5"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = {"exporter"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    CliRun run = run_cli(args);
    EXPECT_EQ(run.exit_code, 2) << run.describe();
    EXPECT_EQ(run.out, "");
    const std::string line = single_line(run.err);
    EXPECT_NE(line, "") << "not one line: " << run.err;
    if (!c.message.empty()) EXPECT_EQ(line, c.message);
  }
  CliRun regex = run_cli({"exporter", "--match", "(x"});
  EXPECT_EQ(regex.err.rfind("pagescan: bad --match '(x': ", 0), 0u) << regex.err;
  EXPECT_NE(regex.err.find("(expected a regular expression)"), std::string::npos) << regex.err;
}

TEST_F(CliExporter, APortInUseIsExitOneNamingTheAddress) {
  ExporterServer first(dir_, {"--pid", self_pid()});
  ASSERT_NE(first.port(), 0) << first.log();
  const std::string address = "127.0.0.1:" + std::to_string(first.port());
  CliRun run = run_cli({"exporter", "--pid", self_pid(), "--listen", address});
  EXPECT_EQ(run.exit_code, 1) << run.describe();
  EXPECT_EQ(single_line(run.err),
            "pagescan: cannot listen on " + address + ": Address already in use");
}

}  // namespace
}  // namespace pagescan::test
