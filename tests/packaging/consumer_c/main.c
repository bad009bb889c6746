/* Packaging consumer in C (C99): uses the installed pagescan through its C API only.
 * A watch over four pages of its own memory reports the one page written, and after a
 * reset none; a snapshot of four pages, two of them then overwritten, is restored and
 * verifies equal to what was captured. Exit 0 on success, 1 with a line on stderr. */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS and sysconf under -std=c99 */

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <pagescan/pagescan.h>
#include <pagescan/pagescan_snapshot.h>

#define PAGES 4

static int fail(const char* what, int rc) {
  fprintf(stderr, "c consumer: %s: %s\n", what, rc < 0 ? strerror(-rc) : "unexpected result");
  return 1;
}

static char* map_pages(size_t page) {
  void* memory =
      mmap(NULL, PAGES * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return memory == MAP_FAILED ? NULL : (char*)memory;
}

/* Watch, write page 2, collect with reset; a second collection finds nothing. */
static int check_watch(size_t page) {
  char* memory = map_pages(page);
  pagescan_watch* w = NULL;
  void* addrs[PAGES];
  size_t count = PAGES;
  size_t expected;
  int rc;
  if (memory == NULL) return fail("mmap", -errno);
  rc = pagescan_watch_create(memory, PAGES * page, PAGESCAN_WATCH_AUTO, &w);
  if (rc != 0) return fail("pagescan_watch_create", rc);
  memory[2 * page] = 1;

  rc = pagescan_watch_get(w, memory, PAGES * page, PAGESCAN_WATCH_RESET, addrs, &count);
  if (rc != 0) return fail("pagescan_watch_get", rc);
  /* The "everything" engine (the last resort) reports every page as written. */
  expected = strcmp(pagescan_watch_engine(w), "everything") == 0 ? PAGES : 1;
  if (count != expected || (expected == 1 && addrs[0] != memory + 2 * page)) {
    fprintf(stderr, "c consumer: %s engine reported %zu pages, expected %zu (page 2)\n",
            pagescan_watch_engine(w), count, expected);
    return 1;
  }
  count = PAGES;
  rc = pagescan_watch_get(w, memory, PAGES * page, 0, addrs, &count);
  if (rc != 0) return fail("pagescan_watch_get after reset", rc);
  if (expected == 1 && count != 0) return fail("a reset page is still reported written", 0);

  printf("c consumer: watch (%s engine) reported the written page\n", pagescan_watch_engine(w));
  pagescan_watch_destroy(w);
  munmap(memory, PAGES * page);
  return 0;
}

/* Capture pages 0 and 1 written and 2, 3 untouched; overwrite 1 and 3; restore. */
static int check_snapshot(size_t page) {
  char* memory = map_pages(page);
  pagescan_snapshot* s = NULL;
  struct pagescan_restore_stats stats;
  size_t bad = PAGES;
  int rc;
  if (memory == NULL) return fail("mmap", -errno);
  memset(memory, 'a', page);
  memset(memory + page, 'b', page);
  rc = pagescan_snapshot_create(memory, PAGES * page, PAGESCAN_WATCH_AUTO, &s);
  if (rc != 0) return fail("pagescan_snapshot_create", rc);

  memory[page] = 'x';
  memory[3 * page] = 'y';
  rc = pagescan_snapshot_verify(s, &bad);
  if (rc != 1 || bad != 1) return fail("verify before restore: page 1 should differ", rc);

  rc = pagescan_snapshot_restore(s, &stats);
  if (rc != 0) return fail("pagescan_snapshot_restore", rc);
  if (stats.pages_examined < 2 ||
      stats.pages_examined != stats.pages_copied + stats.pages_zeroed + stats.pages_dropped) {
    return fail("restore stats do not add up", 0);
  }
  rc = pagescan_snapshot_verify(s, &bad);
  if (rc != 0) return fail("verify after restore", rc);
  if (memory[page] != 'b' || memory[3 * page] != 0) return fail("restored bytes", 0);

  printf("c consumer: snapshot restored %llu written pages\n",
         (unsigned long long)stats.pages_examined);
  pagescan_snapshot_destroy(s);
  munmap(memory, PAGES * page);
  return 0;
}

int main(void) {
  const long page = sysconf(_SC_PAGESIZE);
  if (page <= 0) return fail("sysconf(_SC_PAGESIZE)", -errno);
  if (check_watch((size_t)page) != 0) return 1;
  return check_snapshot((size_t)page);
}
