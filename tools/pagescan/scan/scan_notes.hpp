// What `pagescan scan` says beside its answer so a person reads it right: which written
// pages mean nothing (nobody tracks them) and a --write-protect that could protect nothing.
#pragma once

#include "pagescan/process.hpp"
#include "pagescan/scan.hpp"
#include "scan/scan_report.hpp"

namespace pagescan::cli {

// Sets report.untracked_written_pages when some region is WRITTEN, reading the memory map
// if report.vmas is empty. Left unknown when the map cannot be read: no note is better
// than a guessed one.
void note_untracked_written(const Process& process, ScanReport& report);

// After a --write-protect scan that reported nothing: asks the kernel whether any page in
// the range lies in a VMA it can write-protect (WPALLOWED: registered for async
// userfaultfd write-protect) and, when none does, says on stderr that nothing was
// protected and what the process must do. The kernel skips such VMAs silently
// (kernel-pagemap-scan.md §5.1), so without this an exit 0 with no regions looks like
// "nothing was written".
void warn_if_nothing_can_be_write_protected(const Process& process, const ScanReport& report,
                                            const ScanOptions& options);

}  // namespace pagescan::cli
