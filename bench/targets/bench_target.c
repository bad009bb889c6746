/* The other process of bench_remote_watch: a plain program that does not link pagescan.
 * It maps 1 GiB of anonymous memory with 4 KiB pages (MADV_NOHUGEPAGE, every page
 * written once), prints "ready <pid> <address> <bytes>" on stdout, then obeys binary
 * commands on stdin, each a struct command (native byte order; the tracker is its
 * parent on the same machine), answering each with a struct reply:
 *   WRITE  count page indexes (uint32) follow; writes `arg` into the first 8 bytes of
 *          each page. The reply times the writes alone (this thread's CPU and wall
 *          time), not the reading of the indexes.
 *   RATE   writes `count` pages per second for `arg` milliseconds, spread over 100 ticks
 *          a second (pages picked by a fixed-seed generator; repeats possible), sleeping
 *          between ticks: the steady writer `pagescan top` would watch.
 *   SPIN   busy for `arg` milliseconds without a system call or a write to the region:
 *          its address space stays live on another CPU (a busy target).
 * End of input ends it. Kept in C and free of pagescan on purpose: what the tracker
 * measures is what any unmodified program would cost it. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

enum { op_write = 1, op_rate = 2, op_spin = 3 };

struct command {
  uint32_t op;
  uint32_t count;
  uint64_t arg;
};

struct reply {
  uint64_t cpu_ns;
  uint64_t wall_ns;
  uint64_t pages;
};

static const size_t region_bytes = (size_t)1 << 30;

static uint64_t now_ns(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void touch(char* page, uint64_t value) {
  *(volatile uint64_t*)page = value;
}

static int read_all(void* buffer, size_t bytes) {
  return fread(buffer, 1, bytes, stdin) == bytes;
}

static void answer(const struct reply* r) {
  fwrite(r, sizeof *r, 1, stdout);
  fflush(stdout);
}

static void write_pages(char* region, size_t page, uint32_t count, uint64_t value,
                        struct reply* r) {
  static uint32_t* indexes;
  static uint32_t capacity;
  if (count > capacity) {
    free(indexes);
    indexes = malloc(sizeof *indexes * count);
    if (!indexes) exit(1);
    capacity = count;
  }
  if (!read_all(indexes, sizeof *indexes * count)) exit(0);
  const uint64_t cpu0 = now_ns(CLOCK_THREAD_CPUTIME_ID), wall0 = now_ns(CLOCK_MONOTONIC);
  for (uint32_t i = 0; i < count; ++i) touch(region + (size_t)indexes[i] * page, value);
  r->cpu_ns = now_ns(CLOCK_THREAD_CPUTIME_ID) - cpu0;
  r->wall_ns = now_ns(CLOCK_MONOTONIC) - wall0;
  r->pages = count;
}

static void write_at_rate(char* region, size_t page, uint32_t per_second, uint64_t ms,
                          struct reply* r) {
  const uint64_t pages = region_bytes / page, tick_ns = 10000000u;
  const uint64_t ticks = ms / 10;
  uint64_t state = 88172645463325252u, written = 0;
  const uint64_t cpu0 = now_ns(CLOCK_THREAD_CPUTIME_ID), wall0 = now_ns(CLOCK_MONOTONIC);
  for (uint64_t tick = 1; tick <= ticks; ++tick) {
    /* Pages due by the end of this tick, so the rate holds without rounding drift. */
    const uint64_t due = per_second * tick / 100;
    for (; written < due; ++written) {
      state ^= state << 13; /* xorshift64: any fixed sequence will do */
      state ^= state >> 7;
      state ^= state << 17;
      touch(region + (size_t)(state % pages) * page, written);
    }
    const uint64_t wake = wall0 + tick * tick_ns;
    struct timespec at = {(time_t)(wake / 1000000000u), (long)(wake % 1000000000u)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL) != 0) {
    }
  }
  r->cpu_ns = now_ns(CLOCK_THREAD_CPUTIME_ID) - cpu0;
  r->wall_ns = now_ns(CLOCK_MONOTONIC) - wall0;
  r->pages = written;
}

static void spin(uint64_t ms, struct reply* r) {
  const uint64_t cpu0 = now_ns(CLOCK_THREAD_CPUTIME_ID), wall0 = now_ns(CLOCK_MONOTONIC);
  volatile uint64_t sum = 0;
  /* clock_gettime is served by the vDSO here: no system call, the thread stays in user
   * mode on its CPU. */
  while (now_ns(CLOCK_MONOTONIC) - wall0 < ms * 1000000u) {
    for (int i = 0; i < 1000; ++i) sum += (uint64_t)i;
  }
  r->cpu_ns = now_ns(CLOCK_THREAD_CPUTIME_ID) - cpu0;
  r->wall_ns = now_ns(CLOCK_MONOTONIC) - wall0;
  r->pages = 0;
}

int main(void) {
  const size_t page = (size_t)sysconf(_SC_PAGESIZE);
  char* region =
      mmap(NULL, region_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (region == MAP_FAILED) {
    perror("bench_target: mmap");
    return 1;
  }
  madvise(region, region_bytes, MADV_NOHUGEPAGE);
  memset(region, 1, region_bytes);
  printf("ready %d %p %zu\n", getpid(), (void*)region, region_bytes);
  fflush(stdout);

  struct command c;
  while (read_all(&c, sizeof c)) {
    struct reply r = {0, 0, 0};
    if (c.op == op_write) {
      write_pages(region, page, c.count, c.arg, &r);
    } else if (c.op == op_rate) {
      write_at_rate(region, page, c.count, c.arg, &r);
    } else if (c.op == op_spin) {
      spin(c.arg, &r);
    } else {
      return 2;
    }
    answer(&r);
  }
  return 0;
}
