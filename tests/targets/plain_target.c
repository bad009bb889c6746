/* A plain program for tests that act on another process (injected write tracking): it
 * does not link pagescan. It maps a region, prints "ready <pid> <region> <pages>", then
 * does what its mode says, reporting on stdout:
 *   read    blocks in read(2) on stdin; prints "read <n> <errno> <text>" for each line
 *   sleep   nanosleep(2) for the milliseconds on argv[2]; prints "slept <ms> <rc> <errno>"
 *   futex   waits on a futex nobody wakes for the milliseconds on argv[2] (FUTEX_WAIT
 *           with a relative timeout); prints "futex <ms> <rc> <errno>"
 *   writer  for each line "<first> <count>" on stdin, writes those pages of the region
 *           (user writes); "pread <first> <count>" has the kernel write them (pread from
 *           /dev/zero); "read <first> <count>" only reads them; "threads <n> <first>
 *           <count>" writes them from n threads; "spin <first> <count>" starts a thread
 *           that writes them every 20 ms until the end; prints "done" after each line.
 *           Changing the address space: "map <pages>" maps a second region ("mapped
 *           <addr>" before "done"), "w2 <first> <count>" writes it, "unmap2" unmaps it,
 *           "remap <pages>" moves it (mremap, "mapped <addr>"), "fixed <first> <count>"
 *           maps fresh memory over pages of the first region (MAP_FIXED); "fork" forks a
 *           child that writes page 1 and exits; "exec" prints "done" and executes /bin/cat
 *           (which goes on reading stdin, in a new address space); "ownuffd <first>
 *           <count>" registers pages with its own userfaultfd; "reserve <GiB>" maps a
 *           sparse MAP_NORESERVE reservation ("mapped <addr>"), as sanitizers do;
 *           "thp" maps a 2 MiB-aligned MADV_HUGEPAGE block as the second region and
 *           writes all of it, so that it is one transparent huge page where THP works
 *           ("mapped <addr>"); "idle <n>" starts n threads that block in pause() forever
 *   storm   argv[2] pages (default 4096), then for each line "<ms>" writes a counter into
 *           every page three times, in random orders, paced over that long, then prints
 *           "stopped <writes>"
 * A SIGUSR1 handler counts signals; "signals" on stdin (read and writer modes) prints
 * "signals <n>". */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t usr1_count;
static char* region;
static char* region2;
static long region2_pages;
static long page;

static void on_usr1(int sig) {
  (void)sig;
  ++usr1_count;
}

struct span {
  long first, count;
};

static void* write_span(void* arg) {
  struct span* s = arg;
  for (long i = s->first; i < s->first + s->count; ++i) region[i * page] += 1;
  return NULL;
}

static void* spin_span(void* arg) {
  struct timespec pause = {0, 20 * 1000000L};
  for (;;) {
    write_span(arg);
    nanosleep(&pause, NULL);
  }
  return NULL;
}

static void* idle_forever(void* arg) {
  (void)arg;
  for (;;) pause();
  return NULL;
}

/* A 2 MiB-aligned block advised MADV_HUGEPAGE and written whole: one PMD-mapped THP
 * wherever the kernel has THP (enabled "madvise" or "always") and memory to spare. */
static char* map_thp_block(void) {
  const size_t huge = 2u << 20;
  char* raw = mmap(NULL, 2 * huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return NULL;
  char* block = (char*)(((unsigned long)raw + huge - 1) & ~(unsigned long)(huge - 1));
  madvise(block, huge, MADV_HUGEPAGE);
  memset(block, 1, huge);
  return block;
}

static void writer_line(const char* line) {
  long first = 0, count = 0, n = 0;
  if (sscanf(line, "reserve %ld", &n) == 1) {
    void* reserved = mmap(NULL, (size_t)n << 30, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    printf("mapped %p\n", reserved);
  } else if (strcmp(line, "thp") == 0) {
    region2 = map_thp_block();
    region2_pages = (2l << 20) / page;
    printf("mapped %p\n", (void*)region2);
  } else if (sscanf(line, "idle %ld", &n) == 1) {
    for (long t = 0; t < n; ++t) {
      pthread_t thread;
      pthread_create(&thread, NULL, idle_forever, NULL);
      pthread_detach(thread);
    }
  } else if (sscanf(line, "map %ld", &n) == 1) {
    region2 =
        mmap(NULL, (size_t)(n * page), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    region2_pages = n;
    printf("mapped %p\n", (void*)region2);
  } else if (sscanf(line, "w2 %ld %ld", &first, &count) == 2) {
    for (long i = first; i < first + count; ++i) region2[i * page] += 1;
  } else if (strcmp(line, "unmap2") == 0) {
    munmap(region2, (size_t)(region2_pages * page));
  } else if (sscanf(line, "remap %ld", &n) == 1) {
    region2 = mremap(region2, (size_t)(region2_pages * page), (size_t)(n * page), MREMAP_MAYMOVE);
    region2_pages = n;
    printf("mapped %p\n", (void*)region2);
  } else if (sscanf(line, "fixed %ld %ld", &first, &count) == 2) {
    mmap(region + first * page, (size_t)(count * page), PROT_READ | PROT_WRITE,
         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  } else if (strcmp(line, "fork") == 0) {
    pid_t child = fork();
    if (child == 0) {
      region[page] += 1;
      _exit(0);
    }
    waitpid(child, NULL, 0);
  } else if (strcmp(line, "exec") == 0) {
    printf("done\n");
    execl("/bin/cat", "cat", (char*)NULL);
    perror("execl");
  } else if (sscanf(line, "ownuffd %ld %ld", &first, &count) == 2) {
    long uffd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | 1 /* UFFD_USER_MODE_ONLY */);
    struct uffdio_api api = {.api = UFFD_API};
    struct uffdio_register reg = {
        .range = {(unsigned long)(region + first * page), (unsigned long)(count * page)},
        .mode = UFFDIO_REGISTER_MODE_WP};
    if (uffd < 0 || ioctl((int)uffd, UFFDIO_API, &api) || ioctl((int)uffd, UFFDIO_REGISTER, &reg)) {
      perror("ownuffd");
    }
  } else if (sscanf(line, "pread %ld %ld", &first, &count) == 2) {
    int zero = open("/dev/zero", O_RDONLY);
    for (long i = first; i < first + count; ++i) {
      if (pread(zero, region + i * page, 1, 0) != 1) perror("pread");
    }
    close(zero);
  } else if (sscanf(line, "read %ld %ld", &first, &count) == 2) {
    volatile char sum = 0;
    for (long i = first; i < first + count; ++i) sum += region[i * page];
    (void)sum;
  } else if (sscanf(line, "threads %ld %ld %ld", &n, &first, &count) == 3) {
    pthread_t threads[16];
    struct span spans[16];
    long each = count / n;
    for (long t = 0; t < n && t < 16; ++t) {
      spans[t].first = first + t * each;
      spans[t].count = t == n - 1 ? count - t * each : each;
      pthread_create(&threads[t], NULL, write_span, &spans[t]);
    }
    for (long t = 0; t < n && t < 16; ++t) pthread_join(threads[t], NULL);
  } else if (sscanf(line, "spin %ld %ld", &first, &count) == 2) {
    static struct span spun;
    pthread_t thread;
    spun.first = first;
    spun.count = count;
    pthread_create(&thread, NULL, spin_span, &spun);
    pthread_detach(thread);
  } else if (sscanf(line, "%ld %ld", &first, &count) == 2) {
    struct span s = {first, count};
    write_span(&s);
  }
  printf("done\n");
}

/* Writes a counter into every page three times over `ms` milliseconds, each pass in a
 * fresh pseudo-random order, paced evenly (busy-waiting, no system calls): a non-stop
 * writer whose pages are each written only a few times, so that a harvest skipped by a
 * test's negative control leaves pages behind. Returns the number of writes. */
static long storm(long pages, long ms) {
  struct timespec start, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  unsigned long x = (unsigned long)start.tv_nsec | 1, writes = 0;
  long* order = malloc((size_t)pages * sizeof *order);
  const long passes = 3, total = passes * pages;
  for (long pass = 0; pass < passes; ++pass) {
    for (long i = 0; i < pages; ++i) order[i] = i;
    for (long i = pages - 1; i > 0; --i) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      long j = (long)(x % (unsigned long)(i + 1)), t = order[i];
      order[i] = order[j];
      order[j] = t;
    }
    for (long i = 0; i < pages; ++i) {
      ++writes;
      memcpy(region + order[i] * page + (long)(writes % 64) * 8, &writes, sizeof writes);
      long due_ns = (long)((double)writes / (double)total * (double)ms * 1e6);
      do {
        clock_gettime(CLOCK_MONOTONIC, &now);
      } while ((now.tv_sec - start.tv_sec) * 1000000000L + (now.tv_nsec - start.tv_nsec) < due_ns);
    }
  }
  free(order);
  return (long)writes;
}

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "read";
  long pages = 64;
  if (strcmp(mode, "storm") == 0) pages = argc > 2 ? atol(argv[2]) : 4096;
  page = sysconf(_SC_PAGESIZE);
  setvbuf(stdout, NULL, _IOLBF, 0);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr1;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &sa, NULL);
  /* The region is a VMA of its own: a PROT_NONE page on each side keeps it from merging
   * with neighbouring anonymous memory (a sanitizer's allocations, say), so what tests see
   * of "the region's mapping" is the region. */
  char* space =
      mmap(NULL, (size_t)((pages + 2) * page), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (space == MAP_FAILED) return 1;
  region = space + page;
  if (mprotect(region, (size_t)(pages * page), PROT_READ | PROT_WRITE) != 0) return 1;
  printf("ready %d %p %ld\n", getpid(), (void*)region, pages);

  if (strcmp(mode, "sleep") == 0) {
    long ms = argc > 2 ? atol(argv[2]) : 500;
    struct timespec start, end, want = {ms / 1000, (ms % 1000) * 1000000L};
    clock_gettime(CLOCK_MONOTONIC, &start);
    int rc = nanosleep(&want, NULL);
    int err = rc ? errno : 0;
    clock_gettime(CLOCK_MONOTONIC, &end);
    long elapsed = (end.tv_sec - start.tv_sec) * 1000 + (end.tv_nsec - start.tv_nsec) / 1000000;
    printf("slept %ld %d %d\n", elapsed, rc, err);
    return 0;
  }
  if (strcmp(mode, "futex") == 0) {
    long ms = argc > 2 ? atol(argv[2]) : 500;
    static int word;
    struct timespec start, end, timeout = {ms / 1000, (ms % 1000) * 1000000L};
    clock_gettime(CLOCK_MONOTONIC, &start);
    long rc = syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 0, &timeout, NULL, 0);
    int err = rc ? errno : 0;
    clock_gettime(CLOCK_MONOTONIC, &end);
    long elapsed = (end.tv_sec - start.tv_sec) * 1000 + (end.tv_nsec - start.tv_nsec) / 1000000;
    printf("futex %ld %ld %d\n", elapsed, rc, err);
    return 0;
  }
  char line[256];
  for (;;) {
    /* read(2) directly, not stdio: the test wants the target blocked in this call. */
    ssize_t n = read(STDIN_FILENO, line, sizeof line - 1);
    int err = n < 0 ? errno : 0;
    if (n == 0) return 0;
    if (n < 0) {
      printf("read -1 %d\n", err);
      continue;
    }
    line[n] = '\0';
    if (n > 0 && line[n - 1] == '\n') line[n - 1] = '\0';
    if (strcmp(mode, "storm") == 0) {
      printf("stopped %ld\n", storm(pages, atol(line)));
    } else if (strcmp(line, "signals") == 0) {
      printf("signals %d\n", (int)usr1_count);
    } else if (strcmp(mode, "writer") == 0) {
      writer_line(line);
    } else {
      printf("read %zd %d %s\n", n, err, line);
    }
  }
}
