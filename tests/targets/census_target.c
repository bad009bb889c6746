/* A plain program with a known page census, for the census and exporter tests (it does
 * not link pagescan). Usage: census_target MODE FILE, FILE a file of at least
 * FILE_PAGES pages. It builds its parts, each a mapping of its own:
 *   written   WRITTEN_PAGES anonymous pages, each written
 *   zero      ZERO_PAGES anonymous pages, each read (the shared zero page, where the
 *             kernel maps it on a read fault)
 *   untouched UNTOUCHED_PAGES of an anonymous MAP_NORESERVE reservation, never touched
 *   thp       one PMD-aligned 2 MiB MADV_HUGEPAGE block, written (a THP where available)
 *   file      FILE_PAGES of FILE mapped private and read-only, each read
 *   swapped   SWAPPED_PAGES anonymous pages written, then MADV_PAGEOUT (swap needed)
 *   guard     GUARD_PAGES anonymous pages under MADV_GUARD_INSTALL
 * and prints "part NAME START END" for each, "swapped_ok 0|1" (1 when pagemap shows every
 * swapped page out), then "ready PID". MODE "blank" builds the same parts the same way and
 * then unmaps them all before printing: a twin whose every other page (libraries, heap,
 * stack) matches the "parts" process, because both ran the same code. Both run without
 * address-space randomisation (re-executing themselves under ADDR_NO_RANDOMIZE) so that
 * their layouts match too. It then waits for the end of stdin and exits. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <unistd.h>

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

enum {
  WRITTEN_PAGES = 64,
  ZERO_PAGES = 32,
  UNTOUCHED_PAGES = 256,
  FILE_PAGES = 16,
  SWAPPED_PAGES = 32,
  GUARD_PAGES = 16
};
#define THP_SIZE (2ul << 20)

struct part {
  const char* name;
  char* start;
  size_t bytes;
};

static size_t page;

static char* anon(size_t bytes, int extra) {
  void* p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | extra, -1, 0);
  if (p == MAP_FAILED) {
    perror("census_target: mmap");
    exit(1);
  }
  /* No THP outside the thp part, whatever the system's THP mode. */
  madvise(p, bytes, MADV_NOHUGEPAGE);
  return p;
}

/* 1 when pagemap shows every page of [p, p + bytes) swapped (bit 62). */
static int all_swapped(const char* p, size_t bytes) {
  int fd = open("/proc/self/pagemap", O_RDONLY);
  int ok = fd >= 0;
  for (size_t off = 0; ok && off < bytes; off += page) {
    uint64_t entry = 0;
    off_t at = (off_t)(((uintptr_t)p + off) / page * 8);
    ok = pread(fd, &entry, 8, at) == 8 && (entry >> 62 & 1);
  }
  if (fd >= 0) close(fd);
  return ok;
}

int main(int argc, char** argv) {
  if (argc != 3 || (strcmp(argv[1], "parts") && strcmp(argv[1], "blank"))) {
    fprintf(stderr, "usage: census_target parts|blank FILE\n");
    return 2;
  }
  if (!(personality(0xffffffff) & ADDR_NO_RANDOMIZE)) {
    personality(ADDR_NO_RANDOMIZE);
    execv("/proc/self/exe", argv);
    perror("census_target: re-exec");
    return 1;
  }
  page = (size_t)sysconf(_SC_PAGESIZE);
  struct part parts[7];
  int n = 0;

  char* written = anon(WRITTEN_PAGES * page, 0);
  for (size_t i = 0; i < WRITTEN_PAGES; ++i) written[i * page] = 1;
  parts[n++] = (struct part){"written", written, WRITTEN_PAGES * page};

  char* zero = anon(ZERO_PAGES * page, 0);
  volatile char sink = 0;
  for (size_t i = 0; i < ZERO_PAGES; ++i) sink += ((volatile char*)zero)[i * page];
  parts[n++] = (struct part){"zero", zero, ZERO_PAGES * page};

  char* untouched = anon(UNTOUCHED_PAGES * page, MAP_NORESERVE);
  parts[n++] = (struct part){"untouched", untouched, UNTOUCHED_PAGES * page};

  /* Twice the size, then the unaligned head and tail given back: exactly one aligned block. */
  char* raw = mmap(NULL, 2 * THP_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return 1;
  char* thp = (char*)(((uintptr_t)raw + THP_SIZE - 1) & ~(THP_SIZE - 1));
  if (thp > raw) munmap(raw, (size_t)(thp - raw));
  if (raw + 2 * THP_SIZE > thp + THP_SIZE)
    munmap(thp + THP_SIZE, (size_t)(raw + 2 * THP_SIZE - (thp + THP_SIZE)));
  madvise(thp, THP_SIZE, MADV_HUGEPAGE);
  memset(thp, 1, THP_SIZE);
  parts[n++] = (struct part){"thp", thp, THP_SIZE};

  int fd = open(argv[2], O_RDONLY);
  if (fd < 0) {
    perror("census_target: open FILE");
    return 1;
  }
  char* file = mmap(NULL, FILE_PAGES * page, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (file == MAP_FAILED) return 1;
  for (size_t i = 0; i < FILE_PAGES; ++i) sink += ((volatile char*)file)[i * page];
  parts[n++] = (struct part){"file", file, FILE_PAGES * page};

  char* swapped = anon(SWAPPED_PAGES * page, 0);
  for (size_t i = 0; i < SWAPPED_PAGES; ++i) swapped[i * page] = 2;
  int swapped_ok = 0;
  /* MADV_PAGEOUT may skip a page it finds busy: a few tries. */
  for (int attempt = 0; attempt < 5 && !swapped_ok; ++attempt) {
    madvise(swapped, SWAPPED_PAGES * page, MADV_PAGEOUT);
    swapped_ok = all_swapped(swapped, SWAPPED_PAGES * page);
  }
  parts[n++] = (struct part){"swapped", swapped, SWAPPED_PAGES * page};

  char* guard = anon(GUARD_PAGES * page, 0);
  madvise(guard, GUARD_PAGES * page, MADV_GUARD_INSTALL);
  parts[n++] = (struct part){"guard", guard, GUARD_PAGES * page};

  if (strcmp(argv[1], "blank") == 0) {
    for (int i = 0; i < n; ++i) munmap(parts[i].start, parts[i].bytes);
  }
  for (int i = 0; i < n; ++i) {
    printf("part %s %p %p\n", parts[i].name, (void*)parts[i].start,
           (void*)(parts[i].start + parts[i].bytes));
  }
  printf("swapped_ok %d\nready %d\n", swapped_ok, (int)getpid());
  fflush(stdout);
  char buffer[64];
  while (read(0, buffer, sizeof buffer) > 0) {
  }
  return 0;
}
