/* The process bench_dump dumps: a plain program that does not link pagescan, shaped as
 * issue 15 describes the case gcore is slow on. Four threads (three blocked in
 * nanosleep), 2 GiB of anonymous memory written (4 KiB pages, MADV_NOHUGEPAGE, each
 * page a distinct pattern), and an 8 GiB MAP_NORESERVE reservation of which 128 MiB is
 * written in 1 MiB runs spread over it. It prints "ready <pid> <written bytes>", then
 * for each line on stdin:
 *   change <permille>  rewrites that share of the 2 GiB's pages (every 1000/permille-th
 *                      page, from an offset that moves each time); prints "changed <n>"
 * End of input ends it. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static const size_t written_bytes = (size_t)2 << 30;
static const size_t reserved_bytes = (size_t)8 << 30;
static const size_t touched_bytes = (size_t)128 << 20;

static void* sleeper(void* arg) {
  (void)arg;
  for (;;) {
    struct timespec t = {3600, 0};
    nanosleep(&t, NULL);
  }
  return NULL;
}

static void fill(char* page, size_t size, uint64_t seed) {
  for (size_t i = 0; i < size; i += sizeof(uint64_t)) {
    *(uint64_t*)(page + i) = seed * 0x9e3779b97f4a7c15ull + i;
  }
}

int main(void) {
  const size_t page = (size_t)sysconf(_SC_PAGESIZE);
  char* data =
      mmap(NULL, written_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  char* reserve = mmap(NULL, reserved_bytes, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (data == MAP_FAILED || reserve == MAP_FAILED) return 1;
  madvise(data, written_bytes, MADV_NOHUGEPAGE);
  madvise(reserve, reserved_bytes, MADV_NOHUGEPAGE);
  for (size_t at = 0; at < written_bytes; at += page) fill(data + at, page, at);
  const size_t runs = touched_bytes >> 20, stride = reserved_bytes / runs;
  for (size_t r = 0; r < runs; ++r) {
    for (size_t at = 0; at < ((size_t)1 << 20); at += page)
      fill(reserve + r * stride + at, page, r);
  }
  for (int t = 0; t < 3; ++t) {
    pthread_t thread;
    pthread_create(&thread, NULL, sleeper, NULL);
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  printf("ready %d %zu\n", getpid(), written_bytes + touched_bytes);
  char line[128];
  uint64_t generation = 0;
  while (fgets(line, sizeof line, stdin)) {
    long permille = 0;
    if (sscanf(line, "change %ld", &permille) == 1 && permille > 0 && permille <= 1000) {
      const size_t pages = written_bytes / page, step = (size_t)(1000 / permille);
      size_t n = 0;
      ++generation;
      for (size_t i = generation % step; i < pages; i += step, ++n) {
        fill(data + i * page, page, generation << 40 | i);
      }
      printf("changed %zu\n", n);
    }
  }
  return 0;
}
