// A collection in the Prometheus text exposition format 0.0.4, or in OpenMetrics 1.0
// (# UNIT lines, counters' families without _total, info type, # EOF) when the scraper
// asks for it in its Accept header.
#pragma once

#include <string>
#include <string_view>

#include "exporter/collector.hpp"

namespace pagescan::cli {

enum class MetricsFormat { text, openmetrics };

// The format an Accept header asks for: OpenMetrics when it names
// application/openmetrics-text, else the text format.
MetricsFormat negotiate(std::string_view accept);
// The Content-Type of a format.
std::string_view content_type(MetricsFormat format);

std::string render_metrics(const Collection& collection, MetricsFormat format);

// A label value escaped for both formats: backslash, double quote and newline.
std::string escape_label_value(std::string_view value);

}  // namespace pagescan::cli
