// A core file of a live process: an ELF ET_CORE as the kernel and gdb's gcore write one
// (other-processes.md §2), but sparse and taken with the target stopped for
// milliseconds. Only pages that hold data (present or swapped, not the shared zero page)
// are written; every other page of a dumped mapping is a hole inside its segment
// (p_filesz == p_memsz), so debuggers read it as zeros and it occupies no disk blocks.
//
// The image is consistent: every thread is stopped for the final pass. By default the
// dumper first copies while the target runs, with the target's writes tracked as in
// ProcessWriteWatch (process_watch.hpp), and at the stop copies only what was written
// since. One dumper can write a series of cores, each complete and standalone, each
// later one made from the previous core plus the pages written since.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "pagescan/result.hpp"

namespace pagescan {

struct DumpOptions {
  // Which mappings are dumped, as the bits of /proc/PID/coredump_filter (core(5)): bit 0
  // anonymous private, 1 anonymous shared, 2 file private, 3 file shared, 4 the first
  // page of ELF file mappings, 5 hugetlb private, 6 hugetlb shared. Empty: the target's
  // own filter, as the kernel would use. MADV_DONTDUMP mappings are never dumped.
  std::optional<std::uint32_t> coredump_filter;
  // Pre-copy while the target runs (its writes tracked), then stop it and copy only what
  // was written since. Off: stop the target, copy everything, resume it.
  bool precopy = true;
  // At most this many pre-copy passes; the loop ends earlier once the written set stops
  // shrinking.
  unsigned max_precopy_passes = 8;
  // Several dumps will be taken: keep tracking writes between dumps so that each later
  // core is the previous one plus the pages written since.
  bool incremental = false;
};

struct DumpReport {
  std::string path;
  std::uint64_t mappings = 0;      // PT_LOAD segments
  std::uint64_t threads = 0;       // threads in the core (NT_PRSTATUS notes)
  std::uint64_t data_bytes = 0;    // bytes of data pages the core holds
  std::uint64_t hole_bytes = 0;    // bytes of dumped segments that are holes (zeros)
  std::uint64_t copied_bytes = 0;  // bytes this dump read from the target and wrote
  std::uint64_t stopped_ns = 0;    // how long the target's threads were stopped
  std::uint64_t elapsed_ns = 0;    // the whole dump, wall time
  unsigned precopy_passes = 0;
  bool incremental = false;  // made from the previous core plus what changed
  bool reflinked = false;    // ... which was cloned with FICLONE (else copied sparsely)
};

// Thread-safety: one dumper is used from one thread at a time.
class CoreDumper {
 public:
  // Prepares to dump process `pid`. With precopy or incremental, arms write tracking in
  // it (a stop of about a millisecond, as ProcessWriteWatch::attach).
  //
  // Errors (one line naming the pid and the cause): no_such_process (gone, a zombie);
  // permission (ptrace refused: another user, Yama ptrace_scope, no CAP_SYS_PTRACE);
  // invalid_argument (already traced, naming the tracer; a kernel thread); unsupported
  // (not x86-64; pre-copy without PAGEMAP_SCAN or userfaultfd WP_ASYNC).
  static Result<CoreDumper> attach(pid_t pid, const DumpOptions& options = {});

  CoreDumper(CoreDumper&&) noexcept;
  CoreDumper& operator=(CoreDumper&&) noexcept;
  ~CoreDumper();

  pid_t pid() const;

  // Writes a complete core to `path`: under a temporary name in the same directory,
  // renamed over `path` when complete. The first dump is full; with `incremental`, each
  // later one starts from a clone of the previous core (kept open by the dumper, so it
  // need not survive on disk) and rewrites only the pages written since, with mappings
  // added, removed or moved since handled.
  //
  // A failure (disk full, the target exited, permission) leaves nothing under `path`
  // and no temporary file, and names what was being done. Errors: as attach(), plus
  // kernel_failure (write or read failures, with errno).
  Result<DumpReport> dump(const std::string& path);

 private:
  struct State;
  explicit CoreDumper(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace pagescan
