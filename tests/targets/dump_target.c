/* A plain program for core dump tests (tests/test_core_dump*.cpp): it does not link
 * pagescan. Usage: dump_target <pages> <sleep_ms> [writer]
 * It sets up memory with known contents, starts three threads blocked in known
 * functions, prints "ready <pid>", then serves commands on stdin from serve_commands().
 *   global_pattern    an initialised global ("pagescan-global-pattern")
 *   heap              1 MiB of malloc'd bytes: byte i is (i * 7 + 3) & 0xff
 *   region            <pages> anonymous pages, page i filled with (i & 0xff) ^ 0x5a
 *   reservation       64 MiB MAP_NORESERVE, one page (index 100) written: 'R'
 *   untouched         16 MiB never touched (read-only, so that it stays a VMA of its own)
 *   dontdump          4 pages written ('D'), then MADV_DONTDUMP
 *   protnone          one page written ('P'), then PROT_NONE
 *   shared            4 pages MAP_SHARED|MAP_ANONYMOUS, written ('S')
 * Threads: blocked_in_read (read(2) on a pipe; "wake" writes to it), blocked_in_nanosleep
 * (nanosleep of <sleep_ms>, counting wake-ups), blocked_in_futex (FUTEX_WAIT; "wake"
 * wakes it). Each counts its returns; "status" prints "status <read> <sleep> <futex>".
 * With "writer", a fourth thread writes the region non-stop: page j gets (round + 1)
 * written at its start, in page order, then writer_progress (the count of page writes
 * done) is stored, so any moment's memory satisfies: page j holds
 * v(j, P) = P > j ? (P - 1 - j) / pages + 1 : 0, except that page P % pages may hold
 * v(j, P + 1) (stopped between the two stores).
 * Commands: "addrs" prints "addrs <global> <heap> <region> <reservation> <untouched>
 * <dontdump> <protnone> <shared> <progress>" (hex); "ping" prints "pong";
 * "fill <first> <count> <byte>" fills region pages; "map <pages> <byte>" maps and
 * fills a new mapping ("mapped <addr>"); "unmap <addr> <pages>"; "move <addr> <pages>"
 * (mremap elsewhere, "mapped <addr>"); "dontneed <first> <count>" (region); "wake";
 * "status"; "churn" starts a thread that creates and joins short-lived threads without
 * end (threads appear and exit while a dump stops them). Each command ends with "done". */
#define _GNU_SOURCE
#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

char global_pattern[64] = "pagescan-global-pattern";
volatile uint64_t writer_progress;
static volatile long read_count, sleep_count, futex_count;
static volatile int futex_word;
static int wake_pipe[2];
static long sleep_ms;
static char* region;
static long pages;
static long page;
unsigned char* heap;

__attribute__((noinline)) static void blocked_in_read(void) {
  char c;
  while (read(wake_pipe[0], &c, 1) == 1) ++read_count;
}

__attribute__((noinline)) static void blocked_in_nanosleep(void) {
  for (;;) {
    struct timespec t = {sleep_ms / 1000, (sleep_ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
    ++sleep_count;
  }
}

__attribute__((noinline)) static void blocked_in_futex(void) {
  for (;;) {
    syscall(SYS_futex, &futex_word, FUTEX_WAIT, 0, NULL, NULL, 0);
    if (futex_word) {
      futex_word = 0;
      ++futex_count;
    }
  }
}

static void* reader(void* arg) {
  (void)arg;
  blocked_in_read();
  return NULL;
}
static void* sleeper(void* arg) {
  (void)arg;
  blocked_in_nanosleep();
  return NULL;
}
static void* waiter(void* arg) {
  (void)arg;
  blocked_in_futex();
  return NULL;
}

__attribute__((noinline)) static void write_non_stop(void) {
  uint64_t p = 0;
  for (;;) {
    long j = (long)(p % (uint64_t)pages);
    *(volatile uint64_t*)(region + j * page) = p / (uint64_t)pages + 1;
    writer_progress = ++p;
  }
}
static void* writer(void* arg) {
  (void)arg;
  write_non_stop();
  return NULL;
}

static void* short_lived(void* arg) {
  return arg;
}

static void* churn(void* arg) {
  (void)arg;
  for (;;) {
    pthread_t t;
    if (pthread_create(&t, NULL, short_lived, NULL) == 0) pthread_join(t, NULL);
  }
  return NULL;
}

static void* map_filled(long n, int byte, int prot, int flags) {
  char* p = mmap(NULL, (size_t)(n * page), PROT_READ | PROT_WRITE, flags, -1, 0);
  if (p == MAP_FAILED) return NULL;
  memset(p, byte, (size_t)(n * page));
  if (prot != (PROT_READ | PROT_WRITE)) mprotect(p, (size_t)(n * page), prot);
  return p;
}

__attribute__((noinline)) static void serve_commands(void* addrs[9]) {
  char line[256];
  while (fgets(line, sizeof line, stdin)) {
    long a = 0, b = 0, c = 0;
    unsigned long addr = 0;
    if (strncmp(line, "addrs", 5) == 0) {
      printf("addrs");
      for (int i = 0; i < 9; ++i) printf(" %lx", (unsigned long)addrs[i]);
      printf("\n");
    } else if (strncmp(line, "ping", 4) == 0) {
      printf("pong\n");
    } else if (sscanf(line, "fill %ld %ld %ld", &a, &b, &c) == 3) {
      memset(region + a * page, (int)c, (size_t)(b * page));
    } else if (sscanf(line, "map %ld %ld", &a, &b) == 2) {
      printf("mapped %lx\n", (unsigned long)map_filled(a, (int)b, PROT_READ | PROT_WRITE,
                                                       MAP_PRIVATE | MAP_ANONYMOUS));
    } else if (sscanf(line, "unmap %lx %ld", &addr, &a) == 2) {
      munmap((void*)addr, (size_t)(a * page));
    } else if (sscanf(line, "move %lx %ld", &addr, &a) == 2) {
      /* Reserve a new place first so that the move really changes the address. */
      void* to = mmap(NULL, (size_t)(a * page), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      void* moved = mremap((void*)addr, (size_t)(a * page), (size_t)(a * page),
                           MREMAP_MAYMOVE | MREMAP_FIXED, to);
      printf("mapped %lx\n", (unsigned long)moved);
    } else if (sscanf(line, "dontneed %ld %ld", &a, &b) == 2) {
      madvise(region + a * page, (size_t)(b * page), MADV_DONTNEED);
    } else if (strncmp(line, "wake", 4) == 0) {
      if (write(wake_pipe[1], "w", 1) != 1) perror("wake");
      futex_word = 1;
      syscall(SYS_futex, &futex_word, FUTEX_WAKE, 1, NULL, NULL, 0);
    } else if (strncmp(line, "churn", 5) == 0) {
      pthread_t t;
      pthread_create(&t, NULL, churn, NULL);
    } else if (strncmp(line, "status", 6) == 0) {
      printf("status %ld %ld %ld\n", read_count, sleep_count, futex_count);
    }
    printf("done\n");
    fflush(stdout);
  }
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  page = sysconf(_SC_PAGESIZE);
  pages = argc > 1 ? atol(argv[1]) : 256;
  sleep_ms = argc > 2 ? atol(argv[2]) : 3600000;
  const int write_non_stop_mode = argc > 3 && strcmp(argv[3], "writer") == 0;
  heap = malloc(1 << 20);
  for (long i = 0; i < (1 << 20); ++i) heap[i] = (unsigned char)(i * 7 + 3);
  region = mmap(NULL, (size_t)(pages * page), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                -1, 0);
  for (long i = 0; i < pages; ++i)
    memset(region + i * page, (int)((i & 0xff) ^ 0x5a), (size_t)page);
  char* reservation = mmap(NULL, 64 << 20, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  memset(reservation + 100 * page, 'R', (size_t)page);
  void* untouched =
      mmap(NULL, 16 << 20, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  void* dontdump = map_filled(4, 'D', PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  madvise(dontdump, (size_t)(4 * page), MADV_DONTDUMP);
  void* protnone = map_filled(1, 'P', PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS);
  void* shared = map_filled(4, 'S', PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS);
  if (pipe(wake_pipe) != 0) return 1;
  pthread_t t;
  pthread_create(&t, NULL, reader, NULL);
  pthread_create(&t, NULL, sleeper, NULL);
  pthread_create(&t, NULL, waiter, NULL);
  if (write_non_stop_mode) pthread_create(&t, NULL, writer, NULL);
  void* addrs[9] = {global_pattern, heap,      region,
                    reservation,    untouched, dontdump,
                    protnone,       shared,    (void*)&writer_progress};
  printf("ready %d\n", getpid());
  serve_commands(addrs);
  return 0;
}
