// `pagescan exporter`: page-state metrics of processes for Prometheus. Serves /metrics
// over HTTP (--listen), writes a node_exporter textfile (--textfile DIR, every
// --interval), or prints one collection (--once). SIGINT and SIGTERM stop it cleanly.
#include <fmt/core.h>
#include <signal.h>
#include <sys/stat.h>

#include <cerrno>
#include <cmath>
#include <ctime>
#include <memory>
#include <optional>

#include "cli/arguments.hpp"
#include "cli/atomic_file.hpp"
#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "exporter/collector.hpp"
#include "exporter/metrics_format.hpp"
#include "exporter/metrics_server.hpp"

namespace pagescan::cli {

namespace {

struct ExporterOptionsText {
  SharedArguments shared;
  std::optional<std::string> listen;
  std::optional<std::string> textfile;
  std::optional<std::string> interval;
  std::optional<std::string> match;
  std::optional<std::string> group_by;
  std::vector<std::string> pids;
  bool all = false;
  bool once = false;
};

const CommandShape kShape{false, {}, true};
const std::string kDefaultListen = "127.0.0.1:" + std::to_string(kDefaultPort);

// Each value first (so an empty or bad one is named as such), then how the options go
// together; nullopt when all are good.
std::optional<UsageError> check(const ExporterOptionsText& o, CollectorOptions& collector,
                                std::optional<ListenAddress>& listen, double& interval) {
  if (o.listen) {
    auto parsed = parse_listen(*o.listen);
    if (!parsed.value) return parsed.error;
    listen = parsed.value;
  }
  if (o.textfile) {
    struct stat st {};
    if (::stat(o.textfile->c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return UsageError{"bad --textfile '" + *o.textfile +
                        "': expected an existing directory (node_exporter's "
                        "--collector.textfile.directory)"};
    }
  }
  if (o.interval) {
    auto parsed = parse_seconds(*o.interval, "--interval", "0.5");
    if (!parsed.value) return parsed.error;
    interval = *parsed.value;
  }
  for (const std::string& text : o.pids) {
    auto pid = parse_pid(text);
    if (!pid.value) return pid.error;
    collector.selection.pids.push_back(*pid.value);
  }
  if (o.match) {
    auto regex = parse_match(*o.match);
    if (!regex.value) return regex.error;
    collector.selection.match = std::move(*regex.value);
    collector.selection.match_text = *o.match;
  }
  if (o.group_by) {
    auto by = parse_group_by(*o.group_by);
    if (!by.value) return by.error;
    collector.group_by = *by.value;
  }
  if (o.once && o.listen) return UsageError{"--once contradicts --listen (give one)"};
  if (o.once && o.textfile) return UsageError{"--once contradicts --textfile (give one)"};
  if (o.interval && !o.textfile) {
    return UsageError{"--interval needs --textfile (an HTTP scrape collects when it comes)"};
  }
  if (o.all && !o.pids.empty()) return UsageError{"--all contradicts --pid (give one)"};
  if (o.all && o.match) return UsageError{"--all contradicts --match (give one)"};
  if (!o.all && o.pids.empty() && !o.match) {
    return UsageError{"which processes? (expected --all, --pid P or --match REGEX)"};
  }
  collector.selection.all = o.all;
  // HTTP unless only a textfile or one collection was asked for.
  if (!o.once && !o.listen && !o.textfile) listen = parse_listen(kDefaultListen).value;
  return std::nullopt;
}

// Waits up to `seconds` (forever when negative) for SIGINT or SIGTERM, which main blocked;
// true when one came.
bool wait_for_signal(const sigset_t& signals, double seconds) {
  if (seconds < 0) {
    int signal = 0;
    return ::sigwait(&signals, &signal) == 0;
  }
  timespec timeout{};
  timeout.tv_sec = static_cast<time_t>(seconds);
  timeout.tv_nsec = static_cast<long>((seconds - std::floor(seconds)) * 1e9);
  for (;;) {
    if (::sigtimedwait(&signals, nullptr, &timeout) >= 0) return true;
    if (errno == EAGAIN) return false;
    if (errno != EINTR) return false;
  }
}

int run_exporter(const ExporterOptionsText& o) {
  auto shared = resolve_shared(o.shared);
  if (!shared.value) return report_usage(*shared.error);
  CollectorOptions collector_options;
  std::optional<ListenAddress> listen;
  double interval = 15;
  if (auto bad = check(o, collector_options, listen, interval)) return report_usage(*bad);
  collector_options.backend = shared.value->backend;
  Collector collector(std::move(collector_options));

  if (o.once) {
    auto collection = collector.collect();
    fmt::print("{}", render_metrics(*collection, MetricsFormat::text));
    return kExitOk;
  }
  // Blocked before any thread starts, so every server thread inherits the mask and the
  // signals wait for this thread's sigwait: a stop is always the clean one.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  if (::pthread_sigmask(SIG_BLOCK, &signals, nullptr) != 0) {
    return report_error(Error::from_errno(errno, ErrorKind::kernel_failure, "pthread_sigmask"));
  }
  std::optional<MetricsServer> server;
  if (listen) {
    server.emplace(collector, PAGESCAN_VERSION);
    if (auto bound = server->bind(*listen); !bound) return report_error(bound.error());
    server->start();
    const std::string host =
        listen->host.find(':') != std::string::npos ? "[" + listen->host + "]" : listen->host;
    print_message(fmt::format("serving http://{}:{}/metrics", host, server->port()));
  }
  if (!o.textfile) {
    wait_for_signal(signals, -1);
    return kExitOk;
  }
  const std::string path = *o.textfile + "/pagescan.prom";
  for (;;) {
    auto collection = collector.collect();
    if (auto written =
            write_file_atomically(path, render_metrics(*collection, MetricsFormat::text));
        !written) {
      // A full disk or a removed directory may pass: say so and try again next time.
      print_message(written.error().message());
    }
    if (wait_for_signal(signals, interval)) return kExitOk;
  }
}

}  // namespace

Command add_exporter_command(CLI::App& app) {
  auto o = std::make_shared<ExporterOptionsText>();
  CLI::App* sub = app.add_subcommand(
      "exporter", "Serve page-state metrics of processes to Prometheus (or node_exporter)");
  sub->footer(
      "Examples:\n"
      "  pagescan exporter --all                   # http://127.0.0.1:9977/metrics\n"
      "  pagescan exporter --match 'postgres|java' --listen 0.0.0.0:9977\n"
      "  pagescan exporter --all --group-by cgroup --textfile /var/lib/node_exporter\n"
      "  pagescan exporter --pid 1234 --group-by pid --once\n"
      "\n"
      "Metrics: pagescan_memory_bytes{group,mapping,state} gives the bytes of each group's "
      "mappings of a kind (heap, stack, anon, file, shmem) in each page state (present, "
      "swapped, zero, huge, file, untouched, guard), every page counted in one state; "
      "pagescan_processes{group}; and per collection its duration, longest kernel call, "
      "kernel calls, processes scanned, pagescan_processes_skipped_total{reason} (exited, "
      "permission, failed), pagescan_collections_total and pagescan_backend_info. Each "
      "process is scanned with PAGEMAP_SCAN in short calls (64 MiB to 1 GiB, 16384 pages); "
      "smaps is never read, so swapped-out shmem counts as untouched.\n\n"
      "HTTP (default 127.0.0.1:9977, loopback only; port 0 takes a free port, named on "
      "stderr): /metrics in the Prometheus text format, or OpenMetrics when the Accept header "
      "asks for it; / links to it; any other path is 404. Scrapes arriving during a "
      "collection share it. --textfile DIR writes DIR/pagescan.prom (a temporary file, then "
      "rename) every --interval seconds (default 15) for node_exporter's textfile collector; "
      "with --listen as well it serves HTTP too. Ctrl-C or SIGTERM stops it (exit 0).");
  add_shared_arguments(sub, kShape, o->shared);
  add_value_option(sub, "--listen", o->listen,
                   "serve HTTP on ADDR:PORT (default " + kDefaultListen + ")", "ADDR:PORT");
  add_value_option(sub, "--textfile", o->textfile,
                   "write DIR/pagescan.prom every --interval, for node_exporter", "DIR");
  add_value_option(sub, "--interval", o->interval,
                   "seconds between textfile writes, fractions allowed (default 15)", "SECONDS");
  sub->add_flag("--once", o->once, "print one collection to stdout and exit");
  sub->add_option("--pid", o->pids, "count this process; may repeat")
      ->type_name("PID")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  add_value_option(sub, "--match", o->match,
                   "count every process whose command name or line REGEX finds", "REGEX");
  sub->add_flag("--all", o->all, "count every process");
  add_value_option(sub, "--group-by", o->group_by,
                   "label each process's pages by comm (default), cgroup or pid",
                   "comm|cgroup|pid");
  return Command{sub, [o] { return run_exporter(*o); }};
}

}  // namespace pagescan::cli
