// Write tracking: watch a region of this process, collect the pages written since the
// last collect and re-arm them (GetWriteWatch / ResetWriteWatch semantics); how atomic
// that is depends on the engine (WatchEngine below).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "pagescan/result.hpp"

namespace pagescan {

// How writes are tracked (docs/write-tracking.md compares them). What each engine
// guarantees about a write that races a collect with reset ("never lost": the write is
// reported by that collect or by the next one):
//
//   uffd        ATOMIC get-and-reset per page. One PAGEMAP_SCAN with WP_MATCHING reports
//               and re-protects each page under its page-table lock, so a write lands
//               before (reported now) or after (reported next time): never lost, never
//               reported twice. Sees writes by the kernel (read(2) into the region).
//               Over-reports only whole huge pages (keep_huge_pages) and, in a fork()ed
//               child, everything (the registration is not inherited).
//   mprotect    NEVER LOST, not one atomic step: collect takes the written bits, then
//               re-protects those pages; the SIGSEGV handler unprotects, then records.
//               A write between the take and the re-protect does not fault but lands
//               before collect returns, on a page this collect reports. Over-reports the
//               whole region after vm.max_map_count runs out. A system call that writes
//               the region fails with EFAULT instead (see prepare_for_kernel_write()).
//   soft_dirty  NOT ATOMIC, CAN LOSE WRITES: collect reads bit 55 from pagemap, then
//               writes clear_refs; a write to a page that was clean when read and that
//               lands before the clear_refs is never reported. Use it only while the
//               writers are stopped during collect() and reset() (as Boehm GC does).
//               Over-reports VMAs created or changed since (VM_SOFTDIRTY). clear_refs
//               resets the soft-dirty bits of the WHOLE process (another user's too),
//               and the first watch FORKS once to test the kernel (features.hpp).
//   everything  Reports every page as written, always: never lost, all over-reported.
enum class WatchEngine {
  automatic,   // the first of kAutomaticWatchOrder this kernel supports (see below)
  uffd,        // userfaultfd async write-protect + PAGEMAP_SCAN get-and-protect (6.7+)
  soft_dirty,  // /proc/self/clear_refs + the soft-dirty bit (resets the whole process)
  mprotect,    // read-only protection and a SIGSEGV handler
  everything,  // reports every page as written: the honest last resort
};

// The engines `automatic` tries, in order: only those that never lose a write. Soft-dirty
// is not among them (its collect can lose writes, and its probe forks): it is used only
// when asked for by name. When uffd is unavailable, automatic takes mprotect, whose one
// difference for the caller is that system calls writing the region need
// prepare_for_kernel_write() first; WriteWatch::engine() says which one was taken.
inline constexpr WatchEngine kAutomaticWatchOrder[] = {WatchEngine::uffd, WatchEngine::mprotect,
                                                       WatchEngine::everything};

// "auto", "uffd", "soft-dirty", "mprotect", "everything".
std::string_view to_string(WatchEngine engine);
Result<WatchEngine> parse_watch_engine(std::string_view name);

// The engine WriteWatch::create() starts from when asked for `requested`: automatic is
// replaced by the one PAGESCAN_WATCH_ENGINE names, read with parse_watch_engine (unset,
// empty or "auto": automatic); any other request is returned as it is. Errors, exactly
// as create() returns them: EINVAL / invalid_argument, "PAGESCAN_WATCH_ENGINE: unknown
// write-tracking engine 'x' (expected auto, uffd, soft-dirty, mprotect or everything)".
// Reads the environment only; thread-safe as getenv() is.
Result<WatchEngine> watch_engine_requested(WatchEngine requested = WatchEngine::automatic);

// Whether this kernel has what `engine` needs: the check create() makes before it uses a
// forced engine (not the self-test of watch_engine_available()). Errors: EOPNOTSUPP /
// unsupported with the reason ("soft-dirty engine: pagemap bit 55 never set ..."), which
// create() returns for a forced engine prefixed with the watch's range. automatic,
// mprotect and everything always pass. Side effects: the probes the engine needs
// (features.hpp): a userfaultfd handshake for uffd; for soft_dirty one fork.
Result<void> watch_engine_supported(WatchEngine engine);

struct WatchOptions {
  // `automatic` is overridden by PAGESCAN_WATCH_ENGINE=auto|uffd|soft-dirty|mprotect|
  // everything; any other value here forces that engine (unsupported if unavailable).
  WatchEngine engine = WatchEngine::automatic;
  // false (default): MADV_NOHUGEPAGE on the region so results are per 4 KiB page.
  // true: leave THP alone and report at huge-page granularity (a written huge page is
  // reported whole).
  bool keep_huge_pages = false;
};

// [start, end), page-aligned.
struct PageRange {
  std::uint64_t start = 0;
  std::uint64_t end = 0;
  friend bool operator==(const PageRange&, const PageRange&) = default;
};

// What a collect returned: ascending, disjoint, clipped to the queried range.
struct Harvest {
  std::vector<PageRange> ranges;
  std::uint64_t pages = 0;
  // True when written pages remain unreported (the page budget ran out); they are
  // reported by the next collect.
  bool more = false;
};

struct CollectOptions {
  std::uint64_t max_pages = 0;  // 0: no limit
  bool reset = true;            // re-arm exactly the pages returned
};

// A write watch over one region of the calling process.
//
// Thread-safety: collect(), reset(), fold_back() on one watch may be called from any
// thread but not concurrently with each other; independent watches are independent.
// The application may write to the region at any time: with the uffd, mprotect and
// everything engines a write racing a collect is reported by that collect or the next
// one, never lost; with soft_dirty it can be lost (see WatchEngine above).
class WriteWatch {
 public:
  // Watches [base, base + len) (rounded out to pages) of the calling process and arms it:
  // nothing counts as written until the first write after this call. Errors:
  // invalid_argument: EINVAL (len 0, region not wholly mapped), EBUSY (a forced uffd or
  // mprotect engine over memory another watch of that engine holds), EACCES (mprotect:
  // memory that is not writable); unsupported, EOPNOTSUPP (a forced engine is not
  // available here or cannot watch this memory, with the reason).
  //
  // Side effects, all inside the region or stated here: the region's VMAs may be split
  // and (without keep_huge_pages) advised MADV_NOHUGEPAGE where THP could back them,
  // given back on destruction. uffd: one userfaultfd (a descriptor) per watch, and one
  // more created and closed on the first call to learn what the kernel offers.
  // mprotect: one bitmap mapping per watch (an extra VMA outside the region, a page per
  // 32768 pages watched) and a process-wide SIGSEGV handler while any such watch lives.
  // soft_dirty: the first call forks once (features.hpp) and every arm writes
  // /proc/self/clear_refs. Nothing else probes the kernel: no fork, no scratch mapping,
  // no self-test (that is watch_engine_available()).
  static Result<WriteWatch> create(void* base, std::size_t len, const WatchOptions& options = {});

  WriteWatch(WriteWatch&&) noexcept;
  WriteWatch& operator=(WriteWatch&&) noexcept;
  // Restores the memory to normal: unregisters, unprotects.
  ~WriteWatch();

  WatchEngine engine() const;
  void* base() const;
  std::size_t length() const;
  // The unit results are reported in: the page size, or the huge page size with
  // keep_huge_pages on a THP-backed region.
  std::size_t granularity() const;

  // The pages written in [base, base + len) (a sub-range of the watch; rounded out to
  // pages) since they were last armed, at most max_pages. With reset, exactly the pages
  // returned are re-armed: atomically per page (uffd), never losing a racing write
  // (mprotect, everything), or NOT atomically (soft_dirty: a racing write can be lost).
  // Errors: EINVAL / invalid_argument (the range is not inside the watch); with reset,
  // ENOENT / invalid_argument when part of the range was unmapped since the watch was
  // created, on every engine, before anything is re-armed.
  Result<Harvest> collect(void* base, std::size_t len, const CollectOptions& options = {});

  // Re-arms [base, base + len) only: its pages count as unwritten from now on. Errors:
  // EINVAL / invalid_argument (not inside the watch); ENOENT / invalid_argument when part
  // of the range was unmapped since the watch was created (every engine, nothing
  // re-armed) or, uffd only, unmapped and mapped afresh (the other engines cannot tell
  // and re-arm it; the VMAs before the replaced part may be re-armed already).
  Result<void> reset(void* base, std::size_t len);

  // Hands a harvest back: its pages are reported again by the next collect (for a
  // consumer that failed to use what it collected, e.g. a failed checkpoint). Errors:
  // EINVAL / invalid_argument (a range not inside the watch); uffd: ENOENT /
  // invalid_argument over a part unmapped or replaced since (the ranges before it are
  // handed back already).
  Result<void> fold_back(const Harvest& harvest);

  // mprotect engine: the kernel cannot take a write fault on the application's behalf
  // (read(2) into a protected page fails with EFAULT), so before handing part of the
  // region to a system call that writes it, call this: the range becomes writable and is
  // marked written. Other engines see kernel writes by themselves; for them it is a no-op.
  Result<void> prepare_for_kernel_write(void* base, std::size_t len);

  // Whether the watched region is still wholly the memory armed at create. Fails with
  // ENOENT / invalid_argument when part of it is unmapped, or (uffd, mprotect) was
  // unmapped and mapped afresh since: the new pages are not armed, so their writes would
  // go unseen.
  // soft-dirty and everything cannot tell a replaced part and only check the mapping.
  // Call it when nobody writes to the region (a write racing it may read as a change).
  Result<void> check_intact() const;

  struct Engine;  // implementation interface (src/watch/engine.hpp)

 private:
  explicit WriteWatch(std::unique_ptr<Engine> engine);
  std::unique_ptr<Engine> engine_;
};

// Whether an engine works here, by a functional self-test (write a page, see it
// reported, re-arm, see it cleared; for uffd also a kernel write via read(2)). Cached
// after the first call per engine. The error says why not. create() does not run it.
//
// SIDE EFFECTS on the first call per engine, in the caller's process: maps two scratch
// pages and unmaps them; uffd registers them on a userfaultfd; mprotect installs its
// SIGSEGV handler for the test; soft_dirty forks once (features.hpp) and writes
// /proc/self/clear_refs, resetting the soft-dirty bits of the whole process.
Result<void> watch_engine_available(WatchEngine engine);

}  // namespace pagescan
