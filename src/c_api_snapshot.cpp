// The snapshot C API (include/pagescan/pagescan_snapshot.h): a thin layer over
// RegionSnapshot that checks arguments up front, so a failing call changes nothing, and
// turns Errors into -errno.
//
// The block of declarations below is pagescan_snapshot.h's, repeated so that it can move
// into pagescan.h as it is (this file then includes pagescan.h only); the guard macro
// lets both copies meet in one translation unit meanwhile.
#include <stddef.h>
#include <stdint.h>

#include "pagescan/pagescan.h"

// ---- begin: declarations for include/pagescan/pagescan.h ----------------------------
#ifndef PAGESCAN_SNAPSHOT_API
#define PAGESCAN_SNAPSHOT_API

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pagescan_snapshot pagescan_snapshot;

/* What one pagescan_snapshot_restore() did. pages_examined = pages_copied + pages_zeroed
 * + pages_dropped. */
struct pagescan_restore_stats {
  uint64_t pages_examined; /* pages reported written since the last capture or restore */
  uint64_t pages_copied;   /* copied back from the image */
  uint64_t pages_zeroed;   /* saved as zero, cleared with memset (they stay resident) */
  uint64_t pages_dropped;  /* saved as zero, dropped with MADV_DONTNEED (read back as zero) */
  double scan_seconds;     /* finding the written pages */
  double copy_seconds;     /* copying, zeroing, dropping and re-arming */
};

/* Captures [base, base + len) (rounded out to pages): private anonymous memory, or a
 * MAP_SHARED mapping of a memfd, not both. Arms write tracking, then saves the pages that
 * are not zero (never-touched and zero pages cost no memory). flags: one engine of
 * pagescan.h (PAGESCAN_WATCH_AUTO, _UFFD, _SOFT_DIRTY, _MPROTECT, _EVERYTHING), optionally
 * OR'd with PAGESCAN_WATCH_KEEP_HUGE (written huge pages are then restored whole). Zero
 * pages written since are cleared as SnapshotOptions' defaults say: memset for short runs,
 * MADV_DONTNEED for long ones (always memset on a memfd). On success stores
 * the new snapshot in *out. Errors: -EFAULT (out is NULL), -EINVAL (len 0, unknown flags,
 * a range not wholly mapped, memory of another kind), -ENOTSUP (the forced engine is not
 * available here), -ENOMEM. */
int pagescan_snapshot_create(void* base, size_t len, unsigned flags, pagescan_snapshot** out);

/* Puts the region back to its captured contents, touching only the pages written since
 * the last capture or restore (written pages swapped out included), and re-arms them;
 * call it again and again. If stats is not NULL, stores what was done there. Errors:
 * -EINVAL (s is NULL; the region was unmapped in part, moved, grown or shrunk since
 * capture: nothing was restored); other values come from the kernel (the region may
 * then be partly restored: call again or verify). */
int pagescan_snapshot_restore(pagescan_snapshot* s, struct pagescan_restore_stats* stats);

/* Compares the whole region with the image byte for byte (reading every page, which maps
 * the zero page into untouched ones). Returns 0 when equal; 1 when they differ, and then
 * stores in *first_bad_page (if not NULL) the index of the first differing page, counted
 * from the region's first page. Errors: -EINVAL (s is NULL, or the region is no longer
 * wholly mapped). */
int pagescan_snapshot_verify(const pagescan_snapshot* s, size_t* first_bad_page);

/* Stops tracking (the memory goes back to normal), frees the image and the snapshot.
 * The region itself is left as it is. NULL is a no-op. */
void pagescan_snapshot_destroy(pagescan_snapshot* s);

#ifdef __cplusplus
}
#endif

#endif /* PAGESCAN_SNAPSHOT_API */
// ---- end: declarations for include/pagescan/pagescan.h ------------------------------

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <new>

#include "pagescan/snapshot.hpp"

struct pagescan_snapshot {
  explicit pagescan_snapshot(pagescan::RegionSnapshot s) : snapshot(std::move(s)) {}
  pagescan::RegionSnapshot snapshot;
};

namespace {

using pagescan::Error;
using pagescan::ErrorKind;

constexpr unsigned kEngineMask = 0xffu;

int negative_errno(const Error& error) {
  if (error.kind() == ErrorKind::unsupported) return -ENOTSUP;
  return error.errno_value() > 0 ? -error.errno_value() : -EIO;
}

// No exception may cross into C: the only ones the layer can meet are allocation failures.
template <class F>
int guarded(F&& body) noexcept {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return -ENOMEM;
  } catch (...) {
    return -EIO;
  }
}

// msync() fails with ENOMEM when any page of the range is unmapped, changing nothing: a
// cheap check before reading the whole region.
bool wholly_mapped(void* base, std::size_t len) {
  return ::msync(base, len, MS_ASYNC) == 0;
}

}  // namespace

extern "C" {

int pagescan_snapshot_create(void* base, size_t len, unsigned flags, pagescan_snapshot** out) {
  if (out == nullptr) return -EFAULT;
  const unsigned engine = flags & kEngineMask;
  if (len == 0 || engine > PAGESCAN_WATCH_EVERYTHING ||
      (flags & ~(kEngineMask | PAGESCAN_WATCH_KEEP_HUGE)) != 0) {
    return -EINVAL;
  }
  return guarded([&] {
    static constexpr pagescan::WatchEngine kEngines[] = {
        pagescan::WatchEngine::automatic, pagescan::WatchEngine::uffd,
        pagescan::WatchEngine::soft_dirty, pagescan::WatchEngine::mprotect,
        pagescan::WatchEngine::everything};
    pagescan::SnapshotOptions options;
    options.watch.engine = kEngines[engine];
    options.watch.keep_huge_pages = (flags & PAGESCAN_WATCH_KEEP_HUGE) != 0;
    auto snapshot = pagescan::RegionSnapshot::capture(base, len, options);
    if (!snapshot) return negative_errno(snapshot.error());
    *out = new pagescan_snapshot(std::move(*snapshot));
    return 0;
  });
}

int pagescan_snapshot_restore(pagescan_snapshot* s, struct pagescan_restore_stats* stats) {
  if (s == nullptr) return -EINVAL;
  return guarded([&] {
    auto done = s->snapshot.restore();
    if (!done) return negative_errno(done.error());
    if (stats != nullptr) {
      stats->pages_examined = done->pages_examined;
      stats->pages_copied = done->pages_copied;
      stats->pages_zeroed = done->pages_zeroed;
      stats->pages_dropped = done->pages_dropped;
      stats->scan_seconds = done->scan_seconds;
      stats->copy_seconds = done->copy_seconds;
    }
    return 0;
  });
}

int pagescan_snapshot_verify(const pagescan_snapshot* s, size_t* first_bad_page) {
  if (s == nullptr) return -EINVAL;
  // RegionSnapshot::first_difference() reads every page: an unmapped one would crash.
  if (!wholly_mapped(s->snapshot.base(), s->snapshot.length())) return -EINVAL;
  auto bad = s->snapshot.first_difference();
  if (!bad) return 0;
  if (first_bad_page != nullptr) *first_bad_page = *bad;
  return 1;
}

void pagescan_snapshot_destroy(pagescan_snapshot* s) {
  delete s;
}

}  // extern "C"
