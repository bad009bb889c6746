// The exporter's HTTP side (cpp-httplib): /metrics (text or OpenMetrics by the Accept
// header), a small / page linking to it, 404 for anything else. Requests are served by
// a pool of threads with read and write timeouts, so a client that connects and sends
// nothing, or stops reading, holds one thread for at most the timeout and never blocks
// other scrapes; concurrent scrapes share one collection (Collector).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "exporter/collector.hpp"
#include "pagescan/result.hpp"

namespace httplib {
class Server;
}

namespace pagescan::cli {

struct ListenAddress {
  std::string host;  // an IPv4 or IPv6 literal, without brackets
  int port = 0;      // 0: any free port (the one taken is port())
  std::string text;  // as given: "127.0.0.1:9977", "[::1]:9977"
};
inline constexpr int kDefaultPort = 9977;
// "ADDR:PORT", ADDR an IPv4 address or a bracketed IPv6 one, PORT 0 to 65535. Error:
// "bad --listen 'x': expected ADDR:PORT with ADDR an IP address (127.0.0.1, [::1],
// 0.0.0.0) and PORT 0 to 65535".
Parsed<ListenAddress> parse_listen(const std::string& text);

class MetricsServer {
 public:
  MetricsServer(Collector& collector, std::string version);
  ~MetricsServer();  // stop()
  // Binds; errors (kernel_failure) name the address and why ("address already in use").
  Result<void> bind(const ListenAddress& address);
  // The port bound (the kernel's choice when 0 was asked).
  int port() const { return port_; }
  // Serves on a thread of its own until stop().
  void start();
  void stop();

 private:
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace pagescan::cli
