/* The C API from C99: every error code of pagescan.h, outputs left untouched and nothing
 * changed by failing calls, and a create/write/get/reset/destroy round trip on every
 * engine available here. Prints each failed check; exits 0 only when all pass. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pagescan/pagescan.h"

static int failures;
static const char* context = "";

#define CHECK(cond)                                                                          \
  do {                                                                                       \
    if (!(cond)) {                                                                           \
      fprintf(stderr, "%s:%d: [%s] check failed: %s\n", __FILE__, __LINE__, context, #cond); \
      ++failures;                                                                            \
    }                                                                                        \
  } while (0)

#define CHECK_RC(call, expected)                                                                 \
  do {                                                                                           \
    int rc_ = (call);                                                                            \
    if (rc_ != (expected)) {                                                                     \
      fprintf(stderr, "%s:%d: [%s] %s returned %d (%s), expected %d (%s)\n", __FILE__, __LINE__, \
              context, #call, rc_, strerror(-rc_), (expected), strerror(-(expected)));           \
      ++failures;                                                                                \
    }                                                                                            \
  } while (0)

enum { kPages = 16, kCapacity = 64 };

static size_t page;
static char* region;  /* kPages pages */
static char* outside; /* a mapping just after nothing in particular */

static void* page_at(size_t i) {
  return region + i * page;
}

static void write_page(size_t i) {
  ((volatile char*)region)[i * page + 7] = (char)(i + 1);
}

static const unsigned kEngines[] = {PAGESCAN_WATCH_UFFD, PAGESCAN_WATCH_SOFT_DIRTY,
                                    PAGESCAN_WATCH_MPROTECT, PAGESCAN_WATCH_EVERYTHING};
static const char* const kEngineNames[] = {"uffd", "soft-dirty", "mprotect", "everything"};

/* The pages a get returns after writing `written` (an ascending list of page indexes):
 * the written ones, or every page of the queried range for the everything engine. */
static int expect_pages(pagescan_watch* w, int everything, size_t first, size_t count_pages,
                        const size_t* written, size_t n_written, size_t capacity, unsigned flags) {
  void* addrs[kCapacity];
  size_t count = capacity;
  size_t expected_n = 0;
  size_t i;
  int rc = pagescan_watch_get(w, page_at(first), count_pages * page, flags, addrs, &count);
  if (rc != 0) {
    fprintf(stderr, "[%s] pagescan_watch_get failed: %d (%s)\n", context, rc, strerror(-rc));
    ++failures;
    return -1;
  }
  if (everything) {
    expected_n = count_pages < capacity ? count_pages : capacity;
    for (i = 0; i < expected_n && i < count; ++i) CHECK(addrs[i] == page_at(first + i));
  } else {
    expected_n = n_written < capacity ? n_written : capacity;
    for (i = 0; i < expected_n && i < count; ++i) CHECK(addrs[i] == page_at(written[i]));
  }
  if (count != expected_n) {
    fprintf(stderr, "[%s] get returned %zu pages, expected %zu\n", context, count, expected_n);
    ++failures;
  }
  return (int)count;
}

static void check_round_trip(unsigned engine, const char* name) {
  pagescan_watch* w = NULL;
  int everything = engine == PAGESCAN_WATCH_EVERYTHING;
  const size_t none[1] = {0};
  const size_t three[] = {1, 3, 4};
  const size_t five[] = {2, 5, 6, 9, 12};
  const size_t sub_after_reset[] = {12};
  context = name;
  CHECK_RC(pagescan_watch_create(region, kPages * page, engine, &w), 0);
  if (w == NULL) return;
  CHECK(strcmp(pagescan_watch_engine(w), name) == 0);

  /* Armed: nothing written yet. */
  expect_pages(w, everything, 0, kPages, none, 0, kCapacity, PAGESCAN_WATCH_RESET);
  write_page(1);
  write_page(3);
  write_page(4);
  /* Without RESET the same pages come back twice. */
  expect_pages(w, everything, 0, kPages, three, 3, kCapacity, 0);
  expect_pages(w, everything, 0, kPages, three, 3, kCapacity, PAGESCAN_WATCH_RESET);
  expect_pages(w, everything, 0, kPages, none, 0, kCapacity, PAGESCAN_WATCH_RESET);

  /* A capacity smaller than the written pages re-arms only what is returned. */
  for (size_t i = 0; i < 5; ++i) write_page(five[i]);
  expect_pages(w, everything, 0, kPages, five, 5, 2, PAGESCAN_WATCH_RESET);
  expect_pages(w, everything, 0, kPages, five + 2, 3, 2, PAGESCAN_WATCH_RESET);
  expect_pages(w, everything, 0, kPages, five + 4, 1, 2, PAGESCAN_WATCH_RESET);
  expect_pages(w, everything, 0, kPages, none, 0, 2, PAGESCAN_WATCH_RESET);

  /* An unaligned sub-range is rounded out to pages and results are clipped to it. */
  write_page(9);
  write_page(12);
  {
    void* addrs[4];
    size_t count = 4;
    CHECK_RC(pagescan_watch_get(w, region + 9 * page + 100, 2, 0, addrs, &count), 0);
    CHECK(count == 1 && addrs[0] == page_at(9));
  }
  /* Reset of a sub-range re-arms only that sub-range. */
  CHECK_RC(pagescan_watch_reset(w, region + 8 * page + 1, 2 * page - 2), 0);
  expect_pages(w, everything, 0, kPages, sub_after_reset, 1, kCapacity, PAGESCAN_WATCH_RESET);

  pagescan_watch_destroy(w);
  /* The memory is ordinary again: writes succeed. */
  write_page(0);
  write_page(kPages - 1);
}

static void check_errors(void) {
  pagescan_watch* const sentinel = (pagescan_watch*)(uintptr_t)0x1234;
  pagescan_watch* out = sentinel;
  pagescan_watch* w = NULL;
  void* addrs[4] = {sentinel, sentinel, sentinel, sentinel};
  size_t count = 4;
  int available = 0, unavailable = 0;
  context = "create errors";
  CHECK_RC(pagescan_watch_create(region, 0, PAGESCAN_WATCH_EVERYTHING, &out), -EINVAL);
  CHECK_RC(pagescan_watch_create(region, page, 5u, &out), -EINVAL);
  CHECK_RC(pagescan_watch_create(region, page, 1u << 9, &out), -EINVAL);
  CHECK_RC(pagescan_watch_create(region, page, PAGESCAN_WATCH_EVERYTHING | (1u << 31), &out),
           -EINVAL);
  CHECK_RC(pagescan_watch_create(outside, page, PAGESCAN_WATCH_EVERYTHING, &out), -EINVAL);
  CHECK_RC(pagescan_watch_create(region, page, PAGESCAN_WATCH_EVERYTHING, NULL), -EFAULT);
  CHECK(out == sentinel);

  /* An unknown engine named by the environment. */
  {
    const char* previous = getenv("PAGESCAN_WATCH_ENGINE");
    char* saved = previous ? strdup(previous) : NULL;
    setenv("PAGESCAN_WATCH_ENGINE", "no-such-engine", 1);
    CHECK_RC(pagescan_watch_create(region, page, PAGESCAN_WATCH_AUTO, &out), -EINVAL);
    if (saved) {
      setenv("PAGESCAN_WATCH_ENGINE", saved, 1);
      free(saved);
    } else {
      unsetenv("PAGESCAN_WATCH_ENGINE");
    }
    CHECK(out == sentinel);
  }

  /* A forced engine either works or is unavailable (-ENOTSUP), leaving out untouched. */
  for (size_t i = 0; i < sizeof kEngines / sizeof kEngines[0]; ++i) {
    pagescan_watch* made = sentinel;
    int rc = pagescan_watch_create(region, page, kEngines[i], &made);
    context = kEngineNames[i];
    if (rc == 0) {
      ++available;
      CHECK(made != sentinel && made != NULL);
      if (made != sentinel) pagescan_watch_destroy(made);
    } else {
      ++unavailable;
      CHECK_RC(rc, -ENOTSUP);
      CHECK(made == sentinel);
    }
  }
  context = "create errors";
  CHECK(available >= 1); /* the everything engine always works */
  if (unavailable == 0) printf("note: every engine is available: no -ENOTSUP case to check\n");

  context = "get/reset errors";
  CHECK_RC(pagescan_watch_create(region, kPages * page, PAGESCAN_WATCH_AUTO, &w), 0);
  if (w == NULL) return;
  write_page(2);
  CHECK_RC(pagescan_watch_get(w, region, kPages * page, PAGESCAN_WATCH_RESET, addrs, NULL),
           -EFAULT);
  CHECK_RC(pagescan_watch_get(w, region, kPages * page, PAGESCAN_WATCH_RESET, NULL, &count),
           -EFAULT);
  count = 0;
  CHECK_RC(pagescan_watch_get(w, region, kPages * page, PAGESCAN_WATCH_RESET, addrs, &count),
           -EINVAL);
  CHECK(count == 0);
  count = 4;
  CHECK_RC(pagescan_watch_get(w, region, 0, PAGESCAN_WATCH_RESET, addrs, &count), -EINVAL);
  CHECK_RC(pagescan_watch_get(w, region, kPages * page, 2u, addrs, &count), -EINVAL);
  CHECK_RC(pagescan_watch_get(NULL, region, kPages * page, 0, addrs, &count), -EINVAL);
  /* Outside the watch: before it, past its end, and past it only after rounding. */
  CHECK_RC(pagescan_watch_get(w, region - page, 2 * page, PAGESCAN_WATCH_RESET, addrs, &count),
           -EINVAL);
  CHECK_RC(pagescan_watch_get(w, region, (kPages + 1) * page, PAGESCAN_WATCH_RESET, addrs, &count),
           -EINVAL);
  CHECK_RC(pagescan_watch_get(w, region + (kPages - 1) * page + 1, page, PAGESCAN_WATCH_RESET,
                              addrs, &count),
           -EINVAL);
  CHECK_RC(pagescan_watch_get(w, outside, page, PAGESCAN_WATCH_RESET, addrs, &count), -EINVAL);
  CHECK(count == 4);
  CHECK(addrs[0] == sentinel && addrs[3] == sentinel);
  CHECK_RC(pagescan_watch_reset(w, region, 0), -EINVAL);
  CHECK_RC(pagescan_watch_reset(w, region + (kPages - 1) * page + 1, page), -EINVAL);
  CHECK_RC(pagescan_watch_reset(w, region - 1, page), -EINVAL);
  CHECK_RC(pagescan_watch_reset(NULL, region, page), -EINVAL);
  CHECK(pagescan_watch_engine(NULL) == NULL);

  /* Nothing was changed by the failing calls: page 2 is still reported as written. */
  count = 4;
  CHECK_RC(pagescan_watch_get(w, page_at(2), page, PAGESCAN_WATCH_RESET, addrs, &count), 0);
  CHECK(count == 1 && addrs[0] == page_at(2));
  pagescan_watch_destroy(w);
  pagescan_watch_destroy(NULL);
}

/* PAGESCAN_WATCH_KEEP_HUGE (uffd engine) on two transparent huge pages: whole huge pages
 * are reported, the answer is cut between them, and a capacity below one is -EINVAL. */
static int thp_enabled(void) {
  char text[128] = "";
  FILE* f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
  if (f == NULL) return 0;
  if (fgets(text, sizeof text, f) == NULL) text[0] = 0;
  fclose(f);
  return text[0] != 0 && strstr(text, "[never]") == NULL;
}

static void check_keep_huge(void) {
  const size_t huge = (size_t)2 << 20, huge_pages = huge / page;
  pagescan_watch* probe = NULL;
  pagescan_watch* w = NULL;
  void** addrs;
  size_t count, i;
  char *raw, *mem;
  context = "keep huge";
  if (!thp_enabled()) {
    printf("skip keep huge: transparent huge pages are off\n");
    return;
  }
  if (pagescan_watch_create(region, page, PAGESCAN_WATCH_UFFD, &probe) != 0) {
    printf("skip keep huge: uffd engine unavailable here\n");
    return;
  }
  pagescan_watch_destroy(probe);
  raw = mmap(NULL, 3 * huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  addrs = malloc(2 * huge_pages * sizeof *addrs);
  if (raw == MAP_FAILED || addrs == NULL) {
    fprintf(stderr, "[%s] out of memory\n", context);
    ++failures;
    return;
  }
  mem = (char*)(((uintptr_t)raw + huge - 1) & ~(uintptr_t)(huge - 1));
  madvise(mem, 2 * huge, MADV_HUGEPAGE);
  memset(mem, 1, 2 * huge);
  CHECK_RC(pagescan_watch_create(mem, 2 * huge, PAGESCAN_WATCH_UFFD | PAGESCAN_WATCH_KEEP_HUGE, &w),
           0);
  if (w != NULL) {
    count = huge_pages - 1;
    CHECK_RC(pagescan_watch_get(w, mem, 2 * huge, PAGESCAN_WATCH_RESET, addrs, &count), -EINVAL);
    CHECK(count == huge_pages - 1);
    mem[5 * page] = 2;
    mem[huge + 7 * page] = 2;
    /* Room for one huge page: the first, then the second (folded back, not lost), then none. */
    for (i = 0; i < 3; ++i) {
      count = huge_pages;
      CHECK_RC(pagescan_watch_get(w, mem, 2 * huge, PAGESCAN_WATCH_RESET, addrs, &count), 0);
      if (i < 2) {
        CHECK(count == huge_pages);
        CHECK(count > 0 && addrs[0] == mem + i * huge);
        CHECK(count == huge_pages && addrs[huge_pages - 1] == mem + i * huge + huge - page);
      } else {
        CHECK(count == 0);
      }
    }
    /* With room for both they come together. */
    mem[3 * page] = 3;
    mem[huge + 3 * page] = 3;
    count = 2 * huge_pages;
    CHECK_RC(pagescan_watch_get(w, mem, 2 * huge, PAGESCAN_WATCH_RESET, addrs, &count), 0);
    CHECK(count == 2 * huge_pages && addrs[0] == mem && addrs[huge_pages] == mem + huge);
    pagescan_watch_destroy(w);
  }
  free(addrs);
  munmap(raw, 3 * huge);
}

/* pagescan_watch_attach on a forked child (its own copy of `region`), driven over a pipe:
 * each byte written is a page index it writes; it answers with one byte when done. */
static void check_attach(void) {
  pagescan_watch* const sentinel = (pagescan_watch*)(uintptr_t)0x1234;
  pagescan_watch* out = sentinel;
  int to_child[2], from_child[2];
  context = "attach";
  CHECK_RC(pagescan_watch_attach(0, 0, 0, PAGESCAN_WATCH_AUTO, &out), -EINVAL);
  CHECK_RC(pagescan_watch_attach(getpid(), 0, 0, PAGESCAN_WATCH_AUTO, NULL), -EFAULT);
  CHECK_RC(pagescan_watch_attach(getpid(), 0, 0, PAGESCAN_WATCH_MPROTECT, &out), -ENOTSUP);
  CHECK_RC(
      pagescan_watch_attach(getpid(), 0, 0, PAGESCAN_WATCH_AUTO | PAGESCAN_WATCH_KEEP_HUGE, &out),
      -EINVAL);
  CHECK_RC(pagescan_watch_attach(0x3ffffff0, 0, 0, PAGESCAN_WATCH_AUTO, &out), -ESRCH);
  CHECK(out == sentinel);
  if (pipe(to_child) != 0 || pipe(from_child) != 0) {
    perror("pipe");
    ++failures;
    return;
  }
  pid_t child = fork();
  if (child == 0) {
    unsigned char index;
    close(to_child[1]);
    close(from_child[0]);
    while (read(to_child[0], &index, 1) == 1) {
      region[index * page] += 1;
      if (write(from_child[1], &index, 1) != 1) _exit(1);
    }
    _exit(0);
  }
  pagescan_watch* w = NULL;
  int rc = pagescan_watch_attach(child, (uint64_t)(uintptr_t)region, kPages * page,
                                 PAGESCAN_WATCH_AUTO, &w);
  if (rc == -ENOTSUP) {
    printf("skip attach: this kernel cannot watch another process (%s)\n", strerror(-rc));
  } else {
    CHECK_RC(rc, 0);
  }
  if (rc == 0) {
    void* addrs[kCapacity];
    size_t count = kCapacity;
    unsigned char pages[] = {2, 3, 9};
    /* Automatic takes uffd, or soft-dirty on a kernel without uffd's needs. */
    CHECK(strcmp(pagescan_watch_engine(w), "uffd") == 0 ||
          strcmp(pagescan_watch_engine(w), "soft-dirty") == 0);
    for (size_t i = 0; i < sizeof pages; ++i) {
      unsigned char done;
      CHECK(write(to_child[1], &pages[i], 1) == 1 && read(from_child[0], &done, 1) == 1);
    }
    CHECK_RC(pagescan_watch_get(w, NULL, 0, PAGESCAN_WATCH_RESET, addrs, &count), 0);
    CHECK(count == 3);
    for (size_t i = 0; i < count && i < 3; ++i) CHECK(addrs[i] == region + pages[i] * page);
    count = kCapacity;
    CHECK_RC(pagescan_watch_get(w, region, kPages * page, PAGESCAN_WATCH_RESET, addrs, &count), 0);
    CHECK(count == 0);
    CHECK_RC(pagescan_watch_get(w, outside, page, 0, addrs, &count), -EINVAL);
    pagescan_watch_destroy(w);
  }
  /* The soft-dirty engine by name: a watch that says so, or -ENOTSUP on a kernel
   * without CONFIG_MEM_SOFT_DIRTY (nothing else). */
  w = NULL;
  rc = pagescan_watch_attach(child, (uint64_t)(uintptr_t)region, kPages * page,
                             PAGESCAN_WATCH_SOFT_DIRTY, &w);
  CHECK(rc == 0 || rc == -ENOTSUP);
  if (rc == 0) {
    CHECK(strcmp(pagescan_watch_engine(w), "soft-dirty") == 0);
    pagescan_watch_destroy(w);
  } else {
    CHECK(w == NULL);
  }
  close(to_child[1]);
  close(from_child[0]);
  waitpid(child, NULL, 0);
  close(to_child[0]);
  close(from_child[1]);
}

int main(void) {
  page = (size_t)sysconf(_SC_PAGESIZE);
  /* Three mappings' worth of space: the region in the middle, unmapped guards around it. */
  char* space = mmap(NULL, (kPages + 2) * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (space == MAP_FAILED) {
    perror("mmap");
    return 2;
  }
  munmap(space, page);
  munmap(space + (kPages + 1) * page, page);
  region = space + page;
  outside = space + (kPages + 1) * page;
  if (mprotect(region, kPages * page, PROT_READ | PROT_WRITE) != 0) {
    perror("mprotect");
    return 2;
  }
  memset(region, 0, kPages * page);

  check_errors();
  check_keep_huge();
  check_attach();
  for (size_t i = 0; i < sizeof kEngines / sizeof kEngines[0]; ++i) {
    pagescan_watch* probe = NULL;
    if (pagescan_watch_create(region, page, kEngines[i], &probe) != 0) {
      printf("skip %s: engine unavailable here\n", kEngineNames[i]);
      continue;
    }
    pagescan_watch_destroy(probe);
    check_round_trip(kEngines[i], kEngineNames[i]);
  }
  munmap(region, kPages * page);
  if (failures) {
    fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  printf("all checks passed\n");
  return 0;
}
