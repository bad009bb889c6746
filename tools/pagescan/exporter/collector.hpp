// One collection of the exporter: the page census of every selected process, summed per
// group, with what the scrape itself cost; and the single-flight collector that lets
// concurrent scrapes share one collection.
#pragma once

#include <array>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "exporter/process_selection.hpp"
#include "pagescan/page_census.hpp"

namespace pagescan::cli {

// Why a selected process was not counted.
enum class SkipReason { exited, permission, failed };
inline constexpr std::size_t kSkipReasonCount = 3;
// "exited", "permission", "failed".
std::string_view to_string(SkipReason reason);

struct GroupTotals {
  PageCensus census;
  std::uint64_t processes = 0;
};

struct Collection {
  std::map<std::string, GroupTotals> groups;                    // by group label
  std::uint64_t scanned = 0;                                    // processes counted
  std::array<std::uint64_t, kSkipReasonCount> skipped{};        // in this collection
  std::array<std::uint64_t, kSkipReasonCount> skipped_total{};  // since the start
  std::uint64_t collections_total = 0;                          // this one included
  double duration_seconds = 0;
  double longest_call_seconds = 0;  // the longest single PAGEMAP_SCAN call
  std::uint64_t kernel_calls = 0;
  std::set<std::string> backends;  // "kernel", "emulated": what answered
};

struct CollectorOptions {
  Selection selection;
  GroupBy group_by = GroupBy::comm;
  BackendChoice backend = BackendChoice::automatic;
};

class Collector {
 public:
  explicit Collector(CollectorOptions options) : options_(std::move(options)) {}
  // A fresh collection, or, when one is running, that one's result once it ends: callers
  // arriving during a collection share it instead of starting their own. Thread-safe.
  std::shared_ptr<const Collection> collect();

 private:
  Collection run_once();

  const CollectorOptions options_;
  std::mutex mutex_;
  std::condition_variable done_;
  bool running_ = false;
  std::uint64_t generation_ = 0;
  std::shared_ptr<const Collection> last_;
  std::array<std::uint64_t, kSkipReasonCount> skipped_total_{};
};

}  // namespace pagescan::cli
