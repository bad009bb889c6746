/* pagescan's C API (C99): write tracking, Windows' GetWriteWatch/ResetWriteWatch over
 * the C++ WriteWatch (pagescan/watch.hpp, docs/write-tracking.md).
 *
 * Every function returning int returns 0 or a negative errno (errno is not the channel):
 *   -EINVAL   len 0, unknown flags, a capacity of 0 (or below one huge page for a watch
 *             that reports huge pages), a range not wholly inside the watched
 *             region (base is rounded down and len up to pages first), a NULL watch, or an
 *             unknown engine named by PAGESCAN_WATCH_ENGINE;
 *   -EFAULT   a NULL output pointer (out, count), or NULL addrs with a non-zero capacity;
 *   -ENOENT   part of the watched range was unmapped (or replaced) since the watch was
 *             created, whatever the engine;
 *   -ENOTSUP  a forced engine is not available on this system;
 *   -ENOMEM   out of memory; other values come from the kernel.
 * A call that fails changes nothing: its output parameters are left untouched and no page
 * is re-armed. Thread-safety: calls on one watch must not run concurrently; independent
 * watches are independent. The application may write to a watched region at any time
 * (soft-dirty engine: not during pagescan_watch_get or pagescan_watch_reset). */
#ifndef PAGESCAN_PAGESCAN_H
#define PAGESCAN_PAGESCAN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pagescan_watch pagescan_watch;

/* pagescan_watch_create flags: one engine (the low byte), optionally OR'd with
 * PAGESCAN_WATCH_KEEP_HUGE. What each engine guarantees about a write racing a
 * pagescan_watch_get with PAGESCAN_WATCH_RESET ("never lost": reported by that call or
 * the next):
 *   UFFD        atomic get-and-reset per page (one PAGEMAP_SCAN reports and re-protects
 *               each page under its page-table lock): never lost, never reported twice;
 *               writes by the kernel (read(2) into the region) are seen.
 *   MPROTECT    never lost, in two steps: the written bits are taken, then their pages
 *               re-protected; a write between the two lands before the call returns, on
 *               a page it reports. System calls writing the region fail with EFAULT.
 *               Maps one bitmap per watch and installs a SIGSEGV handler.
 *   SOFT_DIRTY  NOT atomic, CAN LOSE WRITES: pagemap is read, then clear_refs written; a
 *               write to a clean page landing in between is never reported. Safe only
 *               while writers are stopped. Resets soft-dirty for the whole process, and
 *               the first such watch forks once to test the kernel.
 *   EVERYTHING  reports every page, always: never lost, everything over-reported.
 * AUTO takes the first of uffd, mprotect, everything that this kernel supports (never
 * soft-dirty, which must be asked for) unless the environment variable
 * PAGESCAN_WATCH_ENGINE (auto|uffd|soft-dirty|mprotect|everything) names one;
 * pagescan_watch_engine() says which. Creating a watch forks nothing, maps no probing
 * memory and changes no advice outside the region (soft-dirty's first watch excepted). */
#define PAGESCAN_WATCH_AUTO 0u
#define PAGESCAN_WATCH_UFFD 1u
#define PAGESCAN_WATCH_SOFT_DIRTY 2u
#define PAGESCAN_WATCH_MPROTECT 3u
#define PAGESCAN_WATCH_EVERYTHING 4u
/* Keep transparent huge pages on the region: a written huge page is reported whole.
 * Without it the region is made MADV_NOHUGEPAGE so results are per 4 KiB page. */
#define PAGESCAN_WATCH_KEEP_HUGE (1u << 8)

/* pagescan_watch_get flags: re-arm exactly the pages returned. */
#define PAGESCAN_WATCH_RESET 1u

/* Watches [base, base + len) (rounded out to pages) of the calling process and arms it:
 * no page counts as written until its first write after this call. On success stores the
 * new watch in *out. Errors: -EINVAL (len 0, unknown flags, a range not wholly mapped or
 * running past the end of the user address space), -EFAULT (out is NULL), -EACCES (the
 * mprotect engine on memory that is not writable), -EBUSY (a forced uffd or mprotect
 * engine over memory another watch of that engine holds), -ENOTSUP (the forced engine is
 * unavailable or cannot watch this memory). */
int pagescan_watch_create(void* base, size_t len, unsigned flags, pagescan_watch** out);

/* Watches another process, unmodified (C++: pagescan/process_watch.hpp): [base, base +
 * len) of process `pid`, or with base and len 0 its whole writable address space,
 * followed as it changes (a writable mapping that appears is reported whole once).
 * flags: the engine only, as for pagescan_watch_create:
 *   PAGESCAN_WATCH_UFFD        a userfaultfd is made inside the target for about a
 *                              millisecond and taken out; the target's registers,
 *                              descriptors and mappings are left as they were. Exact.
 *   PAGESCAN_WATCH_SOFT_DIRTY  clear_refs of the target: NOT ATOMIC (a write racing a
 *                              get with PAGESCAN_WATCH_RESET can be lost), resets the
 *                              soft-dirty bits of the WHOLE target (another soft-dirty
 *                              user of it, a checkpointer, loses its state), and new or
 *                              changed mappings read written whole once.
 *   PAGESCAN_WATCH_AUTO        PAGESCAN_WATCH_ENGINE when set, else uffd where the kernel
 *                              has it, else soft-dirty where a functional test (one fork)
 *                              passes.
 * pagescan_watch_engine() says which was chosen. On success stores the watch in *out;
 * pagescan_watch_get, _reset, _engine and _destroy work on it, with base NULL and len 0
 * meaning the whole watch. Errors: -EINVAL (pid <= 0, unknown flags, KEEP_HUGE, a range
 * outside the user address space or with no writable mapping, a target already traced,
 * PAGESCAN_WATCH_ENGINE naming no engine), -EFAULT (out is NULL), -ENOTSUP (the
 * mprotect or everything engine; the engine asked for missing from this kernel: uffd
 * needs PAGEMAP_SCAN and userfaultfd WP_ASYNC, soft-dirty CONFIG_MEM_SOFT_DIRTY; a
 * kernel thread), -EPERM (ptrace refused: another user, Yama, no CAP_SYS_PTRACE),
 * -ESRCH (no such process, a zombie; later calls: it exited or ran a new program). */
int pagescan_watch_attach(pid_t pid, uint64_t base, uint64_t len, unsigned flags,
                          pagescan_watch** out);

/* Stores in addrs the page-aligned addresses of the pages of [base, base + len) (inside
 * the watch) written since they were last armed, ascending, at most *count of them, and
 * sets *count to how many were stored. With PAGESCAN_WATCH_RESET exactly those pages are
 * re-armed: a racing write is reported by this call or the next (except under the
 * soft-dirty engine, which can lose it: see the engine flags above);
 * written pages beyond the capacity stay written and are reported next time, so calling
 * until *count comes back below the capacity collects everything (Wine's loop).
 * A watch created with PAGESCAN_WATCH_KEEP_HUGE over transparent huge pages reports whole
 * huge pages (every page of a huge page written anywhere, clipped to the query), and cuts
 * its answer between huge pages; its capacity must hold at least one huge page.
 * Errors: -EFAULT (count NULL, or addrs NULL), -EINVAL (len 0, flags other than
 * PAGESCAN_WATCH_RESET, *count 0 or, with KEEP_HUGE, below one huge page's pages, range
 * outside the watch); with PAGESCAN_WATCH_RESET, -ENOENT when part of the range was
 * unmapped since the watch was created (any engine) or, uffd only, when written pages
 * beyond *count are handed back over a part unmapped and mapped afresh. */
int pagescan_watch_get(pagescan_watch* w, void* base, size_t len, unsigned flags, void** addrs,
                       size_t* count);

/* Re-arms [base, base + len) (inside the watch) only: its pages count as unwritten from
 * now on. Errors: -EINVAL (len 0, range outside the watch), -ENOENT when part of the
 * range was unmapped since the watch was created (any engine) or, uffd only, unmapped and
 * mapped afresh. */
int pagescan_watch_reset(pagescan_watch* w, void* base, size_t len);

/* The engine in use: "uffd", "soft-dirty", "mprotect" or "everything" (a static string);
 * NULL for a NULL watch. */
const char* pagescan_watch_engine(const pagescan_watch* w);

/* Stops watching and restores the memory to normal (unregisters, unprotects), then frees
 * the watch. NULL is a no-op. */
void pagescan_watch_destroy(pagescan_watch* w);

#ifdef __cplusplus
}
#endif

#endif /* PAGESCAN_PAGESCAN_H */
