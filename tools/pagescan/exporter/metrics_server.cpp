// The exporter's HTTP server (metrics_server.hpp).
#include "exporter/metrics_server.hpp"

#include <arpa/inet.h>
#include <httplib.h>
#include <sys/socket.h>
#include <cstdio>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>

#include "exporter/metrics_format.hpp"

namespace pagescan::cli {

namespace {

// Threads serving requests: a few stuck clients (each held for at most the read
// timeout) leave the rest for scrapes, which share one collection anyway.
constexpr std::size_t kThreads = 16;
constexpr time_t kTimeoutSeconds = 5;

const char* const kIndex =
    "<!DOCTYPE html>\n<html><head><title>pagescan exporter</title></head><body>\n"
    "<h1>pagescan exporter</h1>\n<p>Page-state metrics of processes, from PAGEMAP_SCAN: "
    "<a href=\"/metrics\">/metrics</a></p>\n</body></html>\n";

}  // namespace

Parsed<ListenAddress> parse_listen(const std::string& text) {
  const auto bad = [&] {
    return Parsed<ListenAddress>{
        std::nullopt, UsageError{"bad --listen '" + text +
                                 "': expected ADDR:PORT with ADDR an IP address (127.0.0.1, "
                                 "[::1], 0.0.0.0) and PORT 0 to 65535"}};
  };
  const std::size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) return bad();
  ListenAddress a;
  a.text = text;
  a.host = text.substr(0, colon);
  const std::string port = text.substr(colon + 1);
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || ptr != port.data() + port.size() || value > 65535) {
    return bad();
  }
  a.port = static_cast<int>(value);
  unsigned char buffer[sizeof(in6_addr)];
  if (a.host.size() > 2 && a.host.front() == '[' && a.host.back() == ']') {
    a.host = a.host.substr(1, a.host.size() - 2);
    if (::inet_pton(AF_INET6, a.host.c_str(), buffer) != 1) return bad();
  } else if (::inet_pton(AF_INET, a.host.c_str(), buffer) != 1) {
    return bad();
  }
  return {a, std::nullopt};
}

MetricsServer::MetricsServer(Collector& collector, std::string version)
    : server_(std::make_unique<httplib::Server>()) {
  httplib::Server& s = *server_;
  s.new_task_queue = [] { return new httplib::ThreadPool(kThreads); };
  s.set_read_timeout(kTimeoutSeconds, 0);
  s.set_write_timeout(kTimeoutSeconds, 0);
  s.set_keep_alive_timeout(kTimeoutSeconds);
  s.set_payload_max_length(64 * 1024);
  // SO_REUSEADDR only: the library's default adds SO_REUSEPORT, with which a second
  // exporter on a port in use would bind too and share the scrapes instead of failing.
  s.set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  const std::string server_name = "pagescan/" + version;
  s.Get("/metrics", [&collector, server_name](const httplib::Request& request,
                                              httplib::Response& response) {
    const MetricsFormat format = negotiate(request.get_header_value("Accept"));
    auto collection = collector.collect();
    response.set_header("Server", server_name);
    if (!collection) {
      response.status = 500;
      response.set_content("collection failed\n", "text/plain; charset=utf-8");
      return;
    }
    response.set_content(render_metrics(*collection, format), std::string(content_type(format)));
  });
  s.Get("/", [server_name](const httplib::Request&, httplib::Response& response) {
    response.set_header("Server", server_name);
    response.set_content(kIndex, "text/html; charset=utf-8");
  });
  // A handler that throws (a collection that could not allocate, a bug) answers 500 with
  // the reason, and says it on stderr for the operator: the server goes on serving.
  s.set_exception_handler(
      [](const httplib::Request& request, httplib::Response& response, std::exception_ptr thrown) {
        std::string why = "unknown exception";
        try {
          std::rethrow_exception(thrown);
        } catch (const std::exception& e) {
          why = e.what();
        } catch (...) {
        }
        std::fprintf(stderr, "pagescan: %s failed: %s\n", request.path.c_str(), why.c_str());
        response.status = 500;
        response.set_content(request.path + " failed: " + why + "\n", "text/plain; charset=utf-8");
      });
  // Unknown paths (and methods) keep the library's status (404, 405) with a line saying so.
  s.set_error_handler([](const httplib::Request& request, httplib::Response& response) {
    if (response.body.empty()) {
      response.set_content(std::to_string(response.status) + " " +
                               (response.status == 404 ? "not found" : "not served") + ": " +
                               request.path + " (see /metrics)\n",
                           "text/plain; charset=utf-8");
    }
  });
}

MetricsServer::~MetricsServer() {
  stop();
}

Result<void> MetricsServer::bind(const ListenAddress& address) {
  errno = 0;
  int port = address.port;
  if (port == 0) {
    port = server_->bind_to_any_port(address.host);
  } else if (!server_->bind_to_port(address.host, port)) {
    port = -1;
  }
  if (port <= 0) {
    const int err = errno ? errno : EADDRNOTAVAIL;
    return Error::from_errno(err, ErrorKind::kernel_failure, "cannot listen on " + address.text);
  }
  port_ = port;
  return {};
}

void MetricsServer::start() {
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  // stop() stops only a server that runs: one that had not started yet would start after
  // it and never return. So start() returns once it runs (at once, in practice).
  for (int waited = 0; waited < 5000 && !server_->is_running(); ++waited) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void MetricsServer::stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace pagescan::cli
