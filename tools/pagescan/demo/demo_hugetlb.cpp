// One free hugetlb page for the demo, borrowed from vm.nr_hugepages and given back.
//
// Only a pool of 0 is raised, to 1, so the demo never changes a machine whose
// administrator configured huge pages. The setting is put back as soon as the workload
// holds its page (cmd_demo.cpp), by the destructor on error paths, and by a signal
// handler when the demo is interrupted while the pool is raised. The handler uses only
// open, read, write, close, sigaction and raise (async-signal-safe) and runs in this
// process only: the forked workload inherits it but must not touch the setting.
#include "demo/demo_hugetlb.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "cli/output.hpp"

namespace pagescan::cli {

namespace {

constexpr const char* kNrHugepages = "/proc/sys/vm/nr_hugepages";
constexpr int kFatalSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE};
constexpr std::size_t kSignalCount = sizeof kFatalSignals / sizeof kFatalSignals[0];

volatile sig_atomic_t g_raised = 0;
volatile pid_t g_owner = 0;
struct sigaction g_previous[kSignalCount];
bool g_installed[kSignalCount];

// Reads a small unsigned number from a file; -1 on failure. Async-signal-safe.
long read_number(const char* path) {
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char text[32];
  ssize_t n = ::read(fd, text, sizeof text - 1);
  ::close(fd);
  if (n <= 0) return -1;
  long value = 0;
  for (ssize_t i = 0; i < n && text[i] >= '0' && text[i] <= '9'; ++i)
    value = value * 10 + (text[i] - '0');
  return value;
}

// Writes a number; the errno on failure, 0 on success. Async-signal-safe.
int write_number(const char* path, char digit) {
  int fd = ::open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  int err = ::write(fd, &digit, 1) == 1 ? 0 : errno;
  ::close(fd);
  return err;
}

// Put back 0 if we raised it and it still reads 1. Async-signal-safe.
void give_back() {
  if (g_raised && read_number(kNrHugepages) == 1) write_number(kNrHugepages, '0');
  g_raised = 0;
}

void on_fatal_signal(int sig) {
  if (::getpid() == g_owner) give_back();
  // Die of the same signal, as if we had not caught it.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  ::sigaction(sig, &dfl, nullptr);
  ::raise(sig);
}

long meminfo(const char* field) {
  std::ifstream in("/proc/meminfo");
  std::string name;
  long value = -1;
  while (in >> name) {
    if (name == field) {
      in >> value;
      return value;
    }
    in.ignore(4096, '\n');
  }
  return -1;
}

}  // namespace

HugetlbLease::HugetlbLease(std::uint64_t page_size) {
  if (page_size == 0) {
    why_not_ = "the kernel has no hugetlb pages";
    return;
  }
  // Reserved pages are promised to mappings already made: only the rest can be had.
  if (meminfo("HugePages_Free:") - std::max(meminfo("HugePages_Rsvd:"), 0L) > 0) {
    available_ = true;
    return;
  }
  const long pool = read_number(kNrHugepages);
  if (pool != 0) {
    why_not_ = pool < 0 ? std::string("cannot read ") + kNrHugepages
                        : "all " + std::to_string(pool) +
                              " huge pages are in use or reserved (vm.nr_hugepages = " +
                              std::to_string(pool) + "; the demo only raises it from 0)";
    return;
  }
  // Handlers first, so no moment passes with the pool raised and nobody to put it back.
  // Only for signals that would kill us now: an ignored one (nohup's SIGHUP) stays so.
  g_owner = ::getpid();
  struct sigaction handler {};
  handler.sa_handler = on_fatal_signal;
  ::sigemptyset(&handler.sa_mask);
  for (std::size_t i = 0; i < kSignalCount; ++i) {
    g_installed[i] = ::sigaction(kFatalSignals[i], nullptr, &g_previous[i]) == 0 &&
                     g_previous[i].sa_handler == SIG_DFL &&
                     ::sigaction(kFatalSignals[i], &handler, nullptr) == 0;
  }
  g_raised = 1;
  raised_ = true;
  if (int err = write_number(kNrHugepages, '1'); err != 0) {
    g_raised = 0;
    raised_ = false;
    why_not_ = std::string("vm.nr_hugepages is 0 and raising it failed: ") + std::strerror(err) +
               (err == EACCES || err == EPERM ? " (run as root to see a hugetlb page)" : "");
  } else if (read_number(kNrHugepages) != 1) {
    // The kernel found no free 2 MiB of contiguous memory: the pool stayed at 0.
    g_raised = 0;
    raised_ = false;
    why_not_ = "vm.nr_hugepages was raised to 1 but the kernel found no free " +
               human_size(page_size) + " of contiguous memory";
  } else {
    available_ = true;
  }
  if (!raised_) restore();
}

void HugetlbLease::restore() {
  if (g_owner == 0) return;
  give_back();
  raised_ = false;
  for (std::size_t i = 0; i < kSignalCount; ++i) {
    if (g_installed[i]) ::sigaction(kFatalSignals[i], &g_previous[i], nullptr);
    g_installed[i] = false;
  }
  g_owner = 0;
}

HugetlbLease::~HugetlbLease() {
  restore();
}

}  // namespace pagescan::cli
