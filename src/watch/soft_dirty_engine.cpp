// The soft-dirty engine: pagemap bit 55 (soft-dirty) says a page was written, and writing
// "4" to /proc/self/clear_refs re-arms (Documentation/admin-guide/mm/soft-dirty.rst).
//
// Soft-dirty is one state per PROCESS, not per region: clear_refs clears the bit of every
// page of the process. So every soft-dirty watch shares it, and each keeps a `pending`
// bitmap of its pages written but not yet reported. Before any clear_refs (create, a
// collect with reset, a reset), the bits of every live watch's pages that the operation
// is not consuming are first folded into their pending bitmaps; a page then counts as
// written when bit 55 or its pending bit is set. One watch's reset therefore never loses
// another watch's writes. All of this runs under one process-wide mutex.
//
// Limits (docs/write-tracking.md):
// - Not atomic: there is no read-and-clear (bdwgc#265). A write to a page that was clean
//   when pagemap was read and lands before the clear_refs that follows is lost. (A write
//   to a page already seen dirty is safe: it lands before the collect returns.) Safe only
//   while writers are stopped, as Boehm GC's collector does.
// - Each reset costs a pagemap read of every soft-dirty watch and a walk of the whole
//   process's page tables (clear_refs), whatever the region size; it also resets any
//   other soft-dirty user in the process (a checkpointer's).
// - False positives: a VMA created, merged or changed by mprotect()/mremap() carries
//   VM_SOFTDIRTY, and pagemap then reports every page of it dirty until the next clear.
// - Not on every kernel: CONFIG_MEM_SOFT_DIRTY is x86-64, powerpc, s390 (and riscv
//   lately), historically not arm64. Availability is judged by a functional test (a
//   forked child clears, writes and reads bit 55), never by the version. The fork is a
//   side effect, so the test runs on the first soft-dirty watch only (the engine must be
//   asked for by name) or in features(), never for another call.
// After fork() the child's soft-dirty state is its own; /proc/self files are re-opened
// there (the old descriptors would name the parent).
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <mutex>
#include <vector>

#include "feature_probes.hpp"
#include "kernel/uapi.hpp"
#include "proc/proc_files.hpp"
#include "watch/engine.hpp"
#include "watch/thp_guard.hpp"

namespace pagescan::watch {

namespace {

class SoftDirtyEngine;

// The soft-dirty state every watch of this process shares.
struct Shared {
  std::mutex mutex;
  std::vector<SoftDirtyEngine*> live;
  int pagemap = -1;
  int clear_refs = -1;
  pid_t owner = 0;  // the process the descriptors were opened in
};

Shared& shared() {
  static Shared s;
  static std::once_flag fork_hooks;
  std::call_once(fork_hooks, [] {
    pthread_atfork([] { shared().mutex.lock(); }, [] { shared().mutex.unlock(); },
                   [] { shared().mutex.unlock(); });
  });
  return s;
}

// A /proc/self file the engine needs could not be opened (proc/proc_files.hpp).
Error file_error(int err, const char* what) {
  return proc::file_error(err, proc::FileRole::kernel_interface, what);
}

// Under the mutex.
Result<void> open_files(Shared& s) {
  const pid_t pid = ::getpid();
  if (s.owner == pid && s.pagemap >= 0 && s.clear_refs >= 0) return {};
  if (s.owner != pid) {
    // Inherited from the parent: they would read and clear the parent's pages. Closing
    // only our copies leaves the parent's untouched.
    if (s.pagemap >= 0) ::close(s.pagemap);
    if (s.clear_refs >= 0) ::close(s.clear_refs);
    s.pagemap = s.clear_refs = -1;
  }
  if (s.pagemap < 0) s.pagemap = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  // Missing: no /proc, or a kernel without CONFIG_PROC_PAGE_MONITOR.
  if (s.pagemap < 0) return file_error(errno, "soft-dirty engine: /proc/self/pagemap");
  if (s.clear_refs < 0) s.clear_refs = ::open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
  if (s.clear_refs < 0) return file_error(errno, "soft-dirty engine: /proc/self/clear_refs");
  s.owner = pid;
  return {};
}

// Clears soft-dirty for the whole process.
Result<void> clear_all(Shared& s) {
  if (::write(s.clear_refs, "4", 1) != 1) {
    return Error::from_errno(errno, ErrorKind::kernel_failure,
                             "soft-dirty engine: writing 4 to /proc/self/clear_refs");
  }
  return {};
}

// Calls on_dirty(address) for each soft-dirty page of [lo, hi), ascending, reading
// pagemap in 64 KiB preads.
template <class OnDirty>
Result<void> for_each_soft_dirty(Shared& s, std::uint64_t lo, std::uint64_t hi, std::uint64_t page,
                                 OnDirty on_dirty) {
  constexpr std::uint64_t kBatch = 8192;
  std::vector<std::uint64_t> entries(kBatch);
  for (std::uint64_t at = lo; at < hi;) {
    const std::uint64_t n = std::min(kBatch, (hi - at) / page);
    const auto offset = static_cast<off_t>(at / page * sizeof(std::uint64_t));
    const ssize_t got = ::pread(s.pagemap, entries.data(), n * sizeof(std::uint64_t), offset);
    if (got <= 0 || got % static_cast<ssize_t>(sizeof(std::uint64_t)) != 0) {
      return Error::from_errno(got < 0 ? errno : EIO, ErrorKind::kernel_failure,
                               "soft-dirty engine: reading pagemap");
    }
    const auto read = static_cast<std::uint64_t>(got) / sizeof(std::uint64_t);
    for (std::uint64_t i = 0; i < read; ++i) {
      if (entries[i] & uapi::PM_SOFT_DIRTY) on_dirty(at + i * page);
    }
    at += read * page;
  }
  return {};
}

class SoftDirtyEngine final : public WriteWatch::Engine {
 public:
  SoftDirtyEngine(std::uint64_t lo, std::uint64_t hi, std::uint64_t page) {
    start = lo;
    end = hi;
    page_size = granularity = page;
    pending_.assign(((hi - lo) / page + 63) / 64, 0);
  }

  ~SoftDirtyEngine() override {
    {
      Shared& s = shared();
      std::lock_guard lock(s.mutex);
      std::erase(s.live, this);
    }
  }

  // Arms: keeps the other watches' written pages, clears the process, joins the list.
  // `thp` is the THP advice to give back on destruction.
  Result<void> arm(ThpGuard thp) {
    thp_ = std::move(thp);
    Shared& s = shared();
    std::lock_guard lock(s.mutex);
    if (auto ok = open_files(s); !ok) return ok;
    if (auto ok = keep_others(s, start, end); !ok) return ok;  // not yet live itself
    if (auto ok = clear_all(s); !ok) return ok;
    s.live.push_back(this);
    return {};
  }

  WatchEngine kind() const override { return WatchEngine::soft_dirty; }

  Result<Harvest> collect(std::uint64_t lo, std::uint64_t hi, std::uint64_t max_pages,
                          bool reset) override {
    Shared& s = shared();
    std::lock_guard lock(s.mutex);
    if (auto ok = open_files(s); !ok) return ok.error();
    std::vector<std::uint64_t> written = pending_;
    auto mark = [&](std::uint64_t addr) { set(written, index(addr)); };
    if (auto ok = for_each_soft_dirty(s, lo, hi, page_size, mark); !ok) return ok.error();

    Harvest h;
    for (std::uint64_t i = index(lo); i < index(hi); ++i) {
      if (!test(written, i)) continue;
      if (max_pages && h.pages == max_pages) {
        h.more = true;
        if (!reset) break;
        set(pending_, i);  // written, not returned: reported next time
        continue;
      }
      const std::uint64_t at = start + i * page_size;
      if (!h.ranges.empty() && h.ranges.back().end == at) {
        h.ranges.back().end += page_size;
      } else {
        h.ranges.push_back(PageRange{at, at + page_size});
      }
      ++h.pages;
      if (reset) clear(pending_, i);
    }
    if (!reset) return h;
    // Pages returned leave pending; if clearing fails they stay soft-dirty and are
    // reported again, so nothing is lost either way.
    if (auto ok = keep_others(s, lo, hi); !ok) return ok.error();
    if (auto ok = clear_all(s); !ok) return ok.error();
    return h;
  }

  Result<void> reset(std::uint64_t lo, std::uint64_t hi) override {
    Shared& s = shared();
    std::lock_guard lock(s.mutex);
    if (auto ok = open_files(s); !ok) return ok;
    for (std::uint64_t i = index(lo); i < index(hi); ++i) clear(pending_, i);
    if (auto ok = keep_others(s, lo, hi); !ok) return ok;
    return clear_all(s);
  }

  Result<void> fold_back(const Harvest& harvest) override {
    Shared& s = shared();
    std::lock_guard lock(s.mutex);
    for (const PageRange& r : harvest.ranges) {
      for (std::uint64_t i = index(r.start); i < index(r.end + page_size - 1); ++i) {
        set(pending_, i);
      }
    }
    return {};
  }

 private:
  std::uint64_t index(std::uint64_t addr) const { return (addr - start) / page_size; }
  static bool test(const std::vector<std::uint64_t>& b, std::uint64_t i) {
    return (b[i / 64] >> (i % 64)) & 1;
  }
  static void set(std::vector<std::uint64_t>& b, std::uint64_t i) { b[i / 64] |= 1ull << (i % 64); }
  static void clear(std::vector<std::uint64_t>& b, std::uint64_t i) {
    b[i / 64] &= ~(1ull << (i % 64));
  }

  // Folds bit 55 of [lo, hi) into pending.
  Result<void> keep(Shared& s, std::uint64_t lo, std::uint64_t hi) {
    if (lo >= hi) return {};
    return for_each_soft_dirty(s, lo, hi, page_size,
                               [&](std::uint64_t addr) { set(pending_, index(addr)); });
  }

  // Before a clear_refs: every live watch keeps its written pages, except this watch's
  // [lo, hi), which the caller is consuming.
  Result<void> keep_others(Shared& s, std::uint64_t lo, std::uint64_t hi) {
    for (SoftDirtyEngine* e : s.live) {
      if (e != this) {
        if (auto ok = e->keep(s, e->start, e->end); !ok) return ok;
        continue;
      }
      if (auto ok = keep(s, start, lo); !ok) return ok;
      if (auto ok = keep(s, hi, end); !ok) return ok;
    }
    return {};
  }

  std::vector<std::uint64_t> pending_;  // under Shared::mutex
  ThpGuard thp_;
};

}  // namespace

// The functional test forks: it runs when the engine is asked for by name, never before
// (automatic does not consider this engine).
Result<void> soft_dirty_engine_supported() {
  const Features& sd = probe::soft_dirty();
  if (!sd.soft_dirty) {
    return Error(EOPNOTSUPP, ErrorKind::unsupported, "soft-dirty engine: " + sd.soft_dirty_detail);
  }
  return {};
}

Result<std::unique_ptr<WriteWatch::Engine>> make_soft_dirty_engine(std::uint64_t start,
                                                                   std::uint64_t end,
                                                                   const WatchOptions& options) {
  if (auto ok = soft_dirty_engine_supported(); !ok) return ok.error();
  const Features& f = probe::thp();
  auto engine = std::make_unique<SoftDirtyEngine>(start, end, f.page_size);
  ThpGuard thp;
  if (!options.keep_huge_pages) {
    // A PMD-mapped THP has one soft-dirty bit for 2 MiB (Wine disables THP too).
    thp = ThpGuard::disable(start, end);
  } else if (f.thp_pmd_size && f.thp_mode != "never") {
    engine->granularity = f.thp_pmd_size;
  }
  if (auto ok = engine->arm(std::move(thp)); !ok) {
    return ok.error().with_context(describe(start, end));
  }
  return std::unique_ptr<WriteWatch::Engine>(std::move(engine));
}

}  // namespace pagescan::watch
