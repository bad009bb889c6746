// The notes `pagescan scan` adds to its answer (see scan_notes.hpp).
#include "scan/scan_notes.hpp"

#include <fmt/core.h>

#include <algorithm>

#include "cli/output.hpp"

namespace pagescan::cli {

void note_untracked_written(const Process& process, ScanReport& report) {
  const auto& regions = report.result.regions;
  if (std::none_of(regions.begin(), regions.end(),
                   [](const PageRegion& r) { return r.categories.contains(Category::written); })) {
    return;
  }
  if (report.vmas.empty()) {
    auto map = read_memory_map(process);
    if (!map) return;
    report.vmas = std::move(*map);
  }
  report.untracked_written_pages = count_untracked_written(report);
}

void warn_if_nothing_can_be_write_protected(const Process& process, const ScanReport& report,
                                            const ScanOptions& options) {
  if (!report.result.regions.empty()) return;  // what was reported lies in protectable VMAs
  ScanRequest probe = ScanRequest::over(report.start, report.end)
                          .any_of(Category::wpallowed)
                          .returning(Category::wpallowed);
  probe.max_pages = 1;  // one page answers the question
  auto found = scan(process, probe, options);
  if (!found || !found->regions.empty()) return;
  // print_message: a warning must not throw when stderr cannot be written ({fmt} would).
  print_message(fmt::format(
      "warning: --write-protect protected nothing: no VMA in [{}-{}) of pid {} is registered "
      "for async userfaultfd write-protect, and the kernel skips the others; the process "
      "itself must register the range (userfaultfd with UFFD_FEATURE_WP_ASYNC, e.g. "
      "pagescan's WriteWatch with the uffd engine)",
      hex(report.start), hex(report.end), report.pid));
}

}  // namespace pagescan::cli
