/* pagescan's C API for region snapshots (C99): capture a memory region of this process,
 * later put back only the pages written since, over the C++ RegionSnapshot
 * (pagescan/snapshot.hpp, docs/snapshots.md). The engine flags are pagescan.h's.
 *
 * Errors follow pagescan.h: every function returning int returns 0 (verify: 0 or 1) or a
 * negative errno and never touches errno; a call that fails leaves its output parameters
 * untouched. Thread-safety: calls on one snapshot must not run concurrently; independent
 * snapshots may be created, restored and verified concurrently. The application must not
 * write to the region while pagescan_snapshot_create() or pagescan_snapshot_restore()
 * runs (the writes between calls are what restore undoes). */
#ifndef PAGESCAN_PAGESCAN_SNAPSHOT_H
#define PAGESCAN_PAGESCAN_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "pagescan/pagescan.h" /* PAGESCAN_WATCH_* engine flags */

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
  uint64_t pages_dropped;  /* dropped with MADV_DONTNEED: always 0 here (see create) */
  double scan_seconds;     /* finding the written pages */
  double copy_seconds;     /* copying, zeroing, dropping and re-arming */
};

/* Captures [base, base + len) (rounded out to pages): private anonymous memory, or a
 * MAP_SHARED mapping of a memfd, not both. Arms write tracking, then saves the pages that
 * are not zero (never-touched and zero pages cost no memory). flags: one engine of
 * pagescan.h (PAGESCAN_WATCH_AUTO, _UFFD, _SOFT_DIRTY, _MPROTECT, _EVERYTHING), optionally
 * OR'd with PAGESCAN_WATCH_KEEP_HUGE (written huge pages are then restored whole). Pages
 * saved as zero and written since are cleared with memset, whatever the run length: the
 * C API uses SnapshotOptions' defaults, which never drop pages with MADV_DONTNEED (they
 * stay resident; the C++ API can drop long runs instead). On success stores
 * the new snapshot in *out. Errors: -EFAULT (out is NULL), -EINVAL (len 0, unknown flags,
 * a range not wholly mapped, memory of another kind), -ENOTSUP (the forced engine is not
 * available here), -EACCES and -EBUSY as pagescan_watch_create, -ENOMEM. */
int pagescan_snapshot_create(void* base, size_t len, unsigned flags, pagescan_snapshot** out);

/* Puts the region back to its captured contents, touching only the pages written since
 * the last capture or restore (written pages swapped out included), and re-arms them;
 * call it again and again. If stats is not NULL, stores what was done there. Errors:
 * -EINVAL (s is NULL); -ENOENT (the region was unmapped in part, moved, grown or shrunk
 * since capture, or, with the uffd or mprotect engine, part of it was mapped afresh:
 * nothing was restored, whatever the engine); other values come from the kernel (the region may
 * then be partly restored: call again or verify). */
int pagescan_snapshot_restore(pagescan_snapshot* s, struct pagescan_restore_stats* stats);

/* Compares the whole region with the image byte for byte (reading every page, which maps
 * the zero page into untouched ones). Returns 0 when equal; 1 when they differ, and then
 * stores in *first_bad_page (if not NULL) the index of the first differing page, counted
 * from the region's first page. Errors: -EINVAL (s is NULL), -ENOENT (the region is no
 * longer wholly mapped). */
int pagescan_snapshot_verify(const pagescan_snapshot* s, size_t* first_bad_page);

/* Stops tracking (the memory goes back to normal), frees the image and the snapshot.
 * The region itself is left as it is. NULL is a no-op. */
void pagescan_snapshot_destroy(pagescan_snapshot* s);

#ifdef __cplusplus
}
#endif

#endif /* PAGESCAN_SNAPSHOT_API */

#endif /* PAGESCAN_PAGESCAN_SNAPSHOT_H */
