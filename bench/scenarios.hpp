// Memory layouts the scan benchmarks run on: built once per process, on first use, and kept.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace pagescan::bench {

enum class ScenarioId { dense_4k, dense_thp, sparse_64g, shadow_4t, many_vmas };

inline constexpr ScenarioId kScenarios[] = {ScenarioId::dense_4k, ScenarioId::dense_thp,
                                            ScenarioId::sparse_64g, ScenarioId::shadow_4t,
                                            ScenarioId::many_vmas};

// One layout in this process's address space: the range to scan, or why it is missing.
struct Scenario {
  std::string_view name;
  std::uint64_t start = 0;
  std::uint64_t end = 0;
  std::uint64_t pages_written = 0;  // pages the set-up wrote
  std::string unavailable;          // why the layout could not be built; empty when usable
};

// The short name used in benchmark names ("dense_4k", ...), without building anything.
std::string_view name_of(ScenarioId id);

// Builds the layout on the first call (once per process) and returns it afterwards.
// The memory is never unmapped: every benchmark of the run scans the same pages.
const Scenario& scenario(ScenarioId id);

}  // namespace pagescan::bench
