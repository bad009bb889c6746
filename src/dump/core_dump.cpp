// CoreDumper: a sparse ELF core of a live process (include/pagescan/core_dump.hpp).
//
// A dump is a series of passes over one file. Each pass reads a picture of the target
// (mappings, data pages: core_plan.hpp), places the segments (core_layout.hpp: a mapping
// seen before keeps its file offset) and brings the file up to date:
//   * a segment placed anew gets all its data pages copied;
//   * a segment already in the file gets the pages in its "recopy" set copied again and
//     the rest of that set punched out (a page written since may have been dropped);
//   * segments gone since are punched out.
// The recopy set is what may differ from the file: the pages the write watch reports
// written since the last pass (it reports a mapping armed anew whole) and, at the final
// pass only, every part of a segment the watch does not track (read-only, file-backed
// private, untracked) and every shared mapping (others can write it).
//
// Pre-copy: passes while the target runs until the written set stops shrinking, then the
// final pass with every thread stopped (process_freeze.hpp), its registers read, the
// notes written, then resume. Without pre-copy: the final pass only, on an empty file:
// everything is copied while stopped. Incremental: the file starts as a clone of the
// previous core, whose layout plays the previous pass's part.
#include "pagescan/core_dump.hpp"

#include <elf.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

#include "dump/core_file.hpp"
#include "dump/core_layout.hpp"
#include "dump/core_notes.hpp"
#include "dump/core_plan.hpp"
#include "dump/page_copier.hpp"
#include "dump/process_freeze.hpp"
#include "dump/test_hooks.hpp"
#include "feature_probes.hpp"
#include "pagescan/process.hpp"
#include "pagescan/process_watch.hpp"
#include "proc/proc_files.hpp"
#include "remote/target_checks.hpp"

namespace pagescan {

namespace dump::test_hooks {
bool skip_final_recopy = false;
bool fail_after_first_pass = false;
}  // namespace dump::test_hooks

using dump::CopyRun;
using dump::CoreLayout;
using dump::PageCopier;
using dump::Segment;
using dump::TargetPicture;

namespace {

std::uint64_t round_up(std::uint64_t n, std::uint64_t to) {
  return (n + to - 1) / to * to;
}

// What one pass did, for the report.
struct PassResult {
  CoreLayout layout;
  std::uint64_t data_bytes = 0;
};

// Punches [offset, offset + length) only where the file holds data (SEEK_DATA): most
// ranges to clear are holes already, and a punch walks the extents even then.
Result<void> clear(PageCopier& copier, int fd, std::uint64_t offset, std::uint64_t length) {
  const off_t data = ::lseek(fd, static_cast<off_t>(offset), SEEK_DATA);
  if (data < 0 || static_cast<std::uint64_t>(data) >= offset + length) return {};
  return copier.punch(static_cast<std::uint64_t>(data),
                      offset + length - static_cast<std::uint64_t>(data));
}

}  // namespace

struct CoreDumper::State {
  pid_t pid = -1;
  DumpOptions options;
  std::optional<Process> process;
  std::optional<ProcessWriteWatch> watch;
  std::uint64_t page = 4096;
  std::uint64_t user_limit = 0;
  // Incremental: the previous core, open, and where everything is in it.
  int previous_fd = -1;
  std::optional<CoreLayout> previous;
  // ... and the picture of its final pass: the first pass of the next dump scans only
  // what was written since (and what the watch does not track) instead of everything.
  std::optional<TargetPicture> previous_picture;

  // After a failed dump the next one starts from nothing: the failed one's harvests
  // re-armed pages that the previous core does not hold.
  void forget_previous() {
    if (previous_fd >= 0) ::close(previous_fd);
    previous_fd = -1;
    previous.reset();
    previous_picture.reset();
  }

  ~State() {
    if (previous_fd >= 0) ::close(previous_fd);
  }

  std::string who() const { return remote::named(pid); }

  // One pass over `fd`. `written`: the recopy set from the watch; `final_pass` adds the
  // untracked parts and shared mappings to it. `notes_size` reserves the header area.
  Result<PassResult> pass(PageCopier& copier, int fd, const TargetPicture& picture,
                          const std::vector<PageRange>& written, bool final_pass,
                          std::uint64_t notes_size, const CoreLayout* before) {
    PassResult result;
    result.layout = dump::place(picture.segments, notes_size, page, before);
    const CoreLayout& layout = result.layout;
    for (const dump::Relocation& r : layout.relocations) {
      if (auto ok = dump::copy_sparse(fd, r.from, fd, r.to, r.length, copier.path()); !ok)
        return ok.error();
    }
    for (const Segment& gone : layout.dropped) {
      if (auto ok = clear(copier, fd, gone.offset, round_up(gone.file_size(page), page)); !ok)
        return ok.error();
    }
    std::vector<PageRange> tracked;
    if (watch && final_pass) tracked = watch->armed();
    std::vector<CopyRun> runs;
    for (const Segment& s : layout.segments) {
      const std::uint64_t size = s.file_size(page);
      if (size == 0) continue;
      if (s.extent == dump::DumpExtent::first_page) {
        // The ELF header page: file contents, read whatever its state (as the kernel).
        runs.push_back(CopyRun{s.start, page, s.offset});
        result.data_bytes += page;
        continue;
      }
      const std::vector<PageRange> data = s.whole_range
                                              ? std::vector<PageRange>{PageRange{s.start, s.end}}
                                              : dump::clip(picture.data, s.start, s.end);
      result.data_bytes += dump::total_bytes(data);
      std::vector<PageRange> copy;
      if (s.fresh) {
        copy = data;
      } else {
        std::vector<PageRange> recopy =
            dump::unite(dump::clip(written, s.start, s.end), s.new_parts);
        if (final_pass) {
          const std::vector<PageRange> whole{PageRange{s.start, s.end}};
          recopy = s.shared ? whole : dump::unite(recopy, dump::subtract(whole, tracked));
        }
        copy = dump::intersect(recopy, data);
        for (const PageRange& r : dump::subtract(recopy, data)) {
          if (auto ok = clear(copier, fd, s.offset + (r.start - s.start), r.end - r.start); !ok)
            return ok.error();
        }
      }
      for (const PageRange& r : copy) {
        runs.push_back(CopyRun{r.start, r.end - r.start, s.offset + (r.start - s.start)});
      }
    }
    if (auto ok = copier.copy(runs); !ok) return ok.error();
    return result;
  }

  Result<TargetPicture> picture(PageCopier& copier, std::uint32_t filter,
                                const TargetPicture* before = nullptr,
                                const std::vector<PageRange>& written = {},
                                const std::vector<PageRange>& armed = {},
                                bool fresh_flags = false) {
    return dump::read_picture(
        *process, filter, user_limit,
        [&](std::uint64_t address) {
          char magic[SELFMAG];
          return copier.read(address, magic, sizeof magic) &&
                 std::memcmp(magic, ELFMAG, SELFMAG) == 0;
        },
        before, written, armed, fresh_flags);
  }

  Result<DumpReport> run(const std::string& path);
};

CoreDumper::CoreDumper(std::unique_ptr<State> state) : state_(std::move(state)) {}
CoreDumper::CoreDumper(CoreDumper&&) noexcept = default;
CoreDumper& CoreDumper::operator=(CoreDumper&&) noexcept = default;
CoreDumper::~CoreDumper() = default;

pid_t CoreDumper::pid() const {
  return state_->pid;
}

Result<CoreDumper> CoreDumper::attach(pid_t pid, const DumpOptions& options) {
#if !defined(__x86_64__)
  return Error(EOPNOTSUPP, ErrorKind::unsupported, "core dumps are implemented for x86-64 only");
#endif
  auto state = std::make_unique<State>();
  state->pid = pid;
  state->options = options;
  const Features& scanning = probe::scanning();
  state->page = scanning.page_size;
  state->user_limit = scanning.user_address_limit;
  // Without PAGEMAP_SCAN, scan() answers from pagemap and smaps (the emulator); the
  // write watch of pre-copy and incremental dumps needs the ioctl and says so.
  auto process = Process::attach(pid);
  if (!process) return process.error();
  state->process.emplace(std::move(*process));
  if (auto untraced = remote::check_not_traced(pid); !untraced) return untraced.error();
  if (options.precopy || options.incremental) {
    auto watch = ProcessWriteWatch::attach(pid);
    if (!watch) return watch.error().with_context("dump of pid " + std::to_string(pid));
    state->watch.emplace(std::move(*watch));
  } else {
    // Opening /proc/PID/mem takes the same permission check as ptrace attach (Yama
    // included), so a dump that could not stop the target fails here, not halfway.
    const std::string mem = "/proc/" + std::to_string(pid) + "/mem";
    int fd = ::open(mem.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      const int err = errno;
      if (err == EACCES || err == EPERM)
        return Error(EPERM, ErrorKind::permission, remote::why_ptrace_denied(pid));
      return proc::file_error(err, proc::FileRole::process, "open " + mem);
    }
    ::close(fd);
  }
  return CoreDumper(std::move(state));
}

Result<DumpReport> CoreDumper::dump(const std::string& path) {
  auto report = state_->run(path);
  if (!report) {
    state_->forget_previous();
    return report.error().with_context("dump of " + state_->who() + " to " + path);
  }
  return report;
}

Result<DumpReport> CoreDumper::State::run(const std::string& path) {
  const std::uint64_t started = dump::monotonic_ns();
  DumpReport report;
  report.path = path;
  auto filter = dump::coredump_filter(pid, options.coredump_filter);
  if (!filter) return filter.error();
  auto temp = dump::TempCore::create(path);
  if (!temp) return temp.error();
  PageCopier copier(pid, temp->fd(), temp->temp_path());

  std::optional<CoreLayout> have;  // what the file holds, up to the last pass
  if (options.incremental && previous) {
    auto cloned =
        dump::clone_or_copy(previous_fd, temp->fd(), previous->file_end, temp->temp_path());
    if (!cloned) return cloned.error();
    report.incremental = true;
    report.reflinked = *cloned;
    have = *previous;
  }

  std::optional<TargetPicture> last_seen;  // the last running pass's picture
  if (options.precopy) {
    std::uint64_t last_written = UINT64_MAX;
    while (report.precopy_passes < std::max(1u, options.max_precopy_passes)) {
      // Collect first: what is written from here on is in the next harvest.
      auto harvest = watch->collect();
      if (!harvest) return harvest.error();
      auto tids = proc::list_threads(pid);
      if (!tids) return tids.error();
      // After the first pass (of this dump, or of a series: the previous core's final
      // pass), only the pages written since and untracked memory are scanned again. The
      // first pass of each dump reads smaps whole, so VmFlags (MADV_DONTDUMP) are fresh.
      const TargetPicture* before =
          last_seen ? &*last_seen : (have && previous_picture ? &*previous_picture : nullptr);
      auto seen = picture(copier, *filter, before, harvest->ranges, watch->armed(), !last_seen);
      if (!seen) return seen.error();
      auto done =
          pass(copier, temp->fd(), *seen, harvest->ranges, false,
               dump::estimate_notes_size(tids->size(), seen->vmas), have ? &*have : nullptr);
      if (!done) return done.error();
      have = std::move(done->layout);
      last_seen = std::move(*seen);
      ++report.precopy_passes;
      if (dump::test_hooks::fail_after_first_pass) {
        return Error(EIO, ErrorKind::kernel_failure, "failing after the first pass (test hook)");
      }
      // The first pass copies everything; later ones stop once the set stops shrinking.
      if (report.precopy_passes > 1 && (harvest->pages == 0 || harvest->pages >= last_written))
        break;
      if (report.precopy_passes > 1) last_written = harvest->pages;
    }
  }

  // The final pass, with every thread stopped.
  auto frozen = dump::ProcessFreeze::freeze(pid);
  if (!frozen) return frozen.error();
  std::vector<PageRange> written;
  if (watch) {
    auto harvest = watch->collect();
    if (!harvest) return harvest.error();
    if (!dump::test_hooks::skip_final_recopy) written = std::move(harvest->ranges);
  }
  auto seen = picture(copier, *filter, last_seen ? &*last_seen : nullptr, written,
                      watch ? watch->armed() : std::vector<PageRange>{});
  if (!seen) return seen.error();
  if (seen->segments.size() + 1 >= 0xffff) {
    return Error(E2BIG, ErrorKind::unsupported,
                 std::to_string(seen->segments.size()) +
                     " mappings: more than an ELF header's 16-bit program header count holds");
  }
  auto notes = dump::build_notes(pid, frozen->threads(), seen->vmas, page);
  if (!notes) return notes.error();
  auto done =
      pass(copier, temp->fd(), *seen, written, true, notes->size(), have ? &*have : nullptr);
  if (!done) return done.error();
  report.threads = frozen->threads().size();
  if (auto thawed = frozen->thaw(); !thawed) return thawed.error();
  report.stopped_ns = dump::monotonic_ns() - frozen->stopped_at_ns();

  // Headers and notes; the rest of the header area cleared (a previous core's notes).
  const CoreLayout& layout = done->layout;
  const std::string headers = dump::elf_headers(layout, notes->size(), page);
  std::string head = headers + *notes;
  const std::uint64_t head_pages = round_up(head.size(), page);
  head.resize(head_pages, '\0');  // the partial page's tail: zeros up to the page end
  if (auto ok = copier.write(head.data(), head.size(), 0); !ok) return ok.error();
  if (have) {
    if (auto ok = clear(copier, temp->fd(), head_pages, layout.header_area - head_pages); !ok)
      return ok.error();
  }
  if (auto ok = temp->finish(layout.file_end); !ok) return ok.error();

  report.mappings = layout.segments.size();
  report.data_bytes = done->data_bytes;
  std::uint64_t dumped = 0;
  for (const Segment& s : layout.segments) dumped += s.file_size(page);
  report.hole_bytes = dumped - std::min(dumped, done->data_bytes);
  report.copied_bytes = copier.copied_bytes();
  if (options.incremental) {
    if (previous_fd >= 0) ::close(previous_fd);
    previous_fd = temp->release();
    previous = layout;
    previous_picture = std::move(*seen);
  }
  report.elapsed_ns = dump::monotonic_ns() - started;
  return report;
}

}  // namespace pagescan
