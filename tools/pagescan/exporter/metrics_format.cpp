// Rendering a collection as Prometheus or OpenMetrics text (metrics_format.hpp).
//
// Names follow Prometheus's conventions: one prefix, base units as suffix (_bytes,
// _seconds), _total on counters only, no label name repeated in a metric name. Only cells
// with bytes are written, so a group without shmem has no shmem series.
#include "exporter/metrics_format.hpp"

#include <fmt/format.h>

namespace pagescan::cli {

MetricsFormat negotiate(std::string_view accept) {
  return accept.find("application/openmetrics-text") != std::string_view::npos
             ? MetricsFormat::openmetrics
             : MetricsFormat::text;
}

std::string_view content_type(MetricsFormat format) {
  return format == MetricsFormat::openmetrics
             ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
             : "text/plain; version=0.0.4; charset=utf-8";
}

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

namespace {

// Writes one family's header lines. `family` is the name without _total for counters in
// OpenMetrics; `unit` empty for none.
class Writer {
 public:
  explicit Writer(MetricsFormat format) : format_(format) {}

  // type: "gauge", "counter" or "info". name: the sample name (with _total, _info).
  void family(std::string_view name, std::string_view type, std::string_view unit,
              std::string_view help) {
    std::string family(name);
    std::string_view shown_type = type;
    if (format_ == MetricsFormat::openmetrics) {
      if (type == "counter") family.resize(family.size() - 6);  // "_total"
      if (type == "info") family.resize(family.size() - 5);     // "_info"
    } else if (type == "info") {
      shown_type = "gauge";  // the text format has no info type
    }
    out_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", family, help, family, shown_type);
    if (format_ == MetricsFormat::openmetrics && !unit.empty()) {
      out_ += fmt::format("# UNIT {} {}\n", family, unit);
    }
  }
  void sample(std::string_view name, std::string_view labels, double value) {
    line(name, labels, fmt::format("{}", value));
  }
  void sample(std::string_view name, std::string_view labels, std::uint64_t value) {
    line(name, labels, std::to_string(value));
  }
  std::string finish() {
    if (format_ == MetricsFormat::openmetrics) out_ += "# EOF\n";
    return std::move(out_);
  }

 private:
  void line(std::string_view name, std::string_view labels, const std::string& value) {
    out_ += name;
    if (!labels.empty()) out_ += fmt::format("{{{}}}", labels);
    out_ += ' ';
    out_ += value;
    out_ += '\n';
  }
  MetricsFormat format_;
  std::string out_;
};

std::string label(std::string_view name, std::string_view value) {
  return fmt::format("{}=\"{}\"", name, escape_label_value(value));
}

}  // namespace

std::string render_metrics(const Collection& c, MetricsFormat format) {
  Writer w(format);
  w.family("pagescan_memory_bytes", "gauge", "bytes",
           "Bytes of the group's mappings of a kind (heap, stack, anon, file, shmem) in a page "
           "state (present, swapped, zero, huge, file, untouched, guard); each page in one state.");
  for (const auto& [group, totals] : c.groups) {
    for (MappingKind kind : kAllMappingKinds) {
      for (PageState state : kAllPageStates) {
        const std::uint64_t bytes = totals.census.at(kind, state);
        if (bytes == 0) continue;
        w.sample("pagescan_memory_bytes",
                 label("group", group) + "," + label("mapping", to_string(kind)) + "," +
                     label("state", to_string(state)),
                 bytes);
      }
    }
  }
  w.family("pagescan_processes", "gauge", "", "Processes counted in the group.");
  for (const auto& [group, totals] : c.groups) {
    w.sample("pagescan_processes", label("group", group), totals.processes);
  }
  w.family("pagescan_scrape_duration_seconds", "gauge", "seconds",
           "Seconds the last collection took (every selected process's census).");
  w.sample("pagescan_scrape_duration_seconds", "", c.duration_seconds);
  w.family("pagescan_scrape_longest_call_seconds", "gauge", "seconds",
           "Seconds of the longest single PAGEMAP_SCAN call of the last collection.");
  w.sample("pagescan_scrape_longest_call_seconds", "", c.longest_call_seconds);
  w.family("pagescan_scrape_kernel_calls", "gauge", "",
           "PAGEMAP_SCAN calls the last collection issued.");
  w.sample("pagescan_scrape_kernel_calls", "", c.kernel_calls);
  w.family("pagescan_scrape_processes_scanned", "gauge", "",
           "Processes the last collection counted.");
  w.sample("pagescan_scrape_processes_scanned", "", c.scanned);
  w.family("pagescan_processes_skipped_total", "counter", "",
           "Selected processes not counted since the exporter started, by reason (exited, "
           "permission, failed).");
  for (std::size_t r = 0; r < kSkipReasonCount; ++r) {
    w.sample("pagescan_processes_skipped_total",
             label("reason", to_string(static_cast<SkipReason>(r))), c.skipped_total[r]);
  }
  w.family("pagescan_collections_total", "counter", "",
           "Collections made since the exporter started (concurrent scrapes share one).");
  w.sample("pagescan_collections_total", "", c.collections_total);
  w.family("pagescan_backend_info", "info", "",
           "The scan backend that answered the last collection (kernel or emulated).");
  for (const std::string& backend : c.backends) {
    w.sample("pagescan_backend_info", label("backend", backend), std::uint64_t{1});
  }
  return w.finish();
}

}  // namespace pagescan::cli
