#include "dump/dump_report.hpp"

#include <fmt/core.h>

#include <nlohmann/json.hpp>

#include "cli/output.hpp"

namespace pagescan::cli {

namespace {

// "0.4 ms" below 10 ms (a precise stop is the point), "18 ms" above.
std::string milliseconds(std::uint64_t ns) {
  const double ms = static_cast<double>(ns) / 1e6;
  return ms < 10 ? fmt::format("{:.1f} ms", ms) : fmt::format("{:.0f} ms", ms);
}

std::string plural(std::uint64_t n, const char* one, const char* many) {
  return fmt::format("{} {}", n, n == 1 ? one : many);
}

void print_json(const nlohmann::ordered_json& line) {
  // Paths are bytes, not necessarily UTF-8: replace what JSON cannot carry.
  fmt::print("{}\n", line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
  std::fflush(stdout);
}

}  // namespace

std::string dump_line(const DumpReport& r) {
  std::string line = fmt::format(
      "{}: {}, {} data, {} holes, {}, target stopped {}, {}", r.path,
      plural(r.mappings, "mapping", "mappings"), human_size(r.data_bytes), human_size(r.hole_bytes),
      plural(r.threads, "thread", "threads"), milliseconds(r.stopped_ns),
      r.precopy_passes == 0 ? std::string("no pre-copy")
                            : plural(r.precopy_passes, "pre-copy pass", "pre-copy passes"));
  if (r.incremental) {
    line += fmt::format(", {} copied since the last core{}", human_size(r.copied_bytes),
                        r.reflinked ? " (reflinked)" : "");
  }
  return line;
}

void print_dump(const DumpPrinter& p, pid_t pid, std::uint64_t number, const DumpReport& r) {
  if (p.format == "json") {
    nlohmann::ordered_json line;
    line["path"] = r.path;
    line["dump"] = number;
    line["pid"] = pid;
    line["mappings"] = r.mappings;
    line["threads"] = r.threads;
    line["data_bytes"] = r.data_bytes;
    line["hole_bytes"] = r.hole_bytes;
    line["copied_bytes"] = r.copied_bytes;
    line["stopped_seconds"] = static_cast<double>(r.stopped_ns) / 1e9;
    line["elapsed_seconds"] = static_cast<double>(r.elapsed_ns) / 1e9;
    line["precopy_passes"] = r.precopy_passes;
    line["incremental"] = r.incremental;
    line["reflinked"] = r.reflinked;
    print_json(line);
    return;
  }
  fmt::print("{}\n", wrap_words(dump_line(r), 2, p.width));
  std::fflush(stdout);
}

void print_dump_end(const DumpPrinter& p, pid_t pid, const std::string& ended,
                    std::uint64_t dumps) {
  if (p.format == "json") {
    nlohmann::ordered_json line;
    line["pid"] = pid;
    line["ended"] = ended;
    line["dumps"] = dumps;
    print_json(line);
  } else if (ended == "exited") {
    print_message(fmt::format("pid {} exited after {}", pid, plural(dumps, "dump", "dumps")));
  } else if (ended == "signal") {
    print_message(fmt::format("stopped by a signal after {}", plural(dumps, "dump", "dumps")));
  }
}

}  // namespace pagescan::cli
