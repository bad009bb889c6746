/* The processes bench_census counts: a plain program (no pagescan) with one memory shape,
 * after which it prints "ready <pid> <start> <end>" (the shape's range) and waits for the
 * end of stdin. Usage: census_bench_target SHAPE SIZE, SHAPE one of
 *   anon4k  SIZE MiB of anonymous memory, 4 KiB pages (MADV_NOHUGEPAGE), each written
 *   thp     SIZE MiB, 2 MiB-aligned, MADV_HUGEPAGE, each page written (THPs where available)
 *   sparse  SIZE GiB MAP_NORESERVE (MADV_NOHUGEPAGE), one page written every 2 MiB: a page
 *           table in every PMD, 511 of its 512 entries empty (sanitizer-shadow-like)
 *   shared  SIZE MiB MAP_SHARED anonymous memory, each page written, then mapped by 3
 *           forked children that read every page (each page mapped 4 times: what smaps
 *           must divide for Pss) */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#define PMD (2ul << 20)

static char* map(size_t bytes, int flags) {
  void* p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, flags, -1, 0);
  if (p == MAP_FAILED) {
    perror("census_bench_target: mmap");
    exit(1);
  }
  return p;
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: census_bench_target anon4k|thp|sparse|shared SIZE\n");
    return 2;
  }
  const size_t page = (size_t)sysconf(_SC_PAGESIZE);
  const size_t size = (size_t)strtoull(argv[2], NULL, 10);
  char* start = NULL;
  size_t bytes = 0;
  if (strcmp(argv[1], "anon4k") == 0) {
    bytes = size << 20;
    start = map(bytes, MAP_PRIVATE | MAP_ANONYMOUS);
    madvise(start, bytes, MADV_NOHUGEPAGE);
    for (size_t off = 0; off < bytes; off += page) start[off] = 1;
  } else if (strcmp(argv[1], "thp") == 0) {
    bytes = size << 20;
    char* raw = map(bytes + PMD, MAP_PRIVATE | MAP_ANONYMOUS);
    start = (char*)(((uintptr_t)raw + PMD - 1) & ~(PMD - 1));
    madvise(start, bytes, MADV_HUGEPAGE);
    for (size_t off = 0; off < bytes; off += page) start[off] = 1;
  } else if (strcmp(argv[1], "sparse") == 0) {
    bytes = size << 30;
    start = map(bytes, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE);
    madvise(start, bytes, MADV_NOHUGEPAGE);
    for (size_t off = 0; off < bytes; off += PMD) start[off] = 1;
  } else if (strcmp(argv[1], "shared") == 0) {
    bytes = size << 20;
    start = map(bytes, MAP_SHARED | MAP_ANONYMOUS);
    for (size_t off = 0; off < bytes; off += page) start[off] = 1;
    for (int child = 0; child < 3; ++child) {
      if (fork() == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        volatile char sink = 0;
        for (size_t off = 0; off < bytes; off += page) sink += ((volatile char*)start)[off];
        pause();
        _exit(0);
      }
    }
    sleep(2); /* the children's reads (no pipe back: a plain program) */
  } else {
    fprintf(stderr, "census_bench_target: unknown shape '%s'\n", argv[1]);
    return 2;
  }
  printf("ready %d %p %p\n", (int)getpid(), (void*)start, (void*)(start + bytes));
  fflush(stdout);
  char buffer[64];
  while (read(0, buffer, sizeof buffer) > 0) {
  }
  return 0;
}
