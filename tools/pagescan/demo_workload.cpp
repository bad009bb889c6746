// The demo's child process: written pages, zero pages, untouched pages, a THP, a file
// mapping and guard pages, each in its own mapping, reported to the parent by a pipe.
#include "demo_workload.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "pagescan/features.hpp"

namespace pagescan::cli {

namespace {

constexpr int kMadvGuardInstall = 102;  // Linux 6.13
constexpr std::size_t kPages = 16;

// What the child sends: up to 8 (kind, start, end) triples.
struct Wire {
  std::uint64_t count = 0;
  std::uint64_t kind[8] = {};
  std::uint64_t start[8] = {};
  std::uint64_t end[8] = {};
};

enum Kind : std::uint64_t { kWritten, kZero, kUntouched, kThp, kFile, kGuard };

void add(Wire& w, Kind kind, void* p, std::size_t len) {
  w.kind[w.count] = kind;
  w.start[w.count] = reinterpret_cast<std::uint64_t>(p);
  w.end[w.count] = w.start[w.count] + len;
  ++w.count;
}

void* map_anon(std::size_t len, int prot) {
  return ::mmap(nullptr, len, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

// Runs in the child: only async-signal-safe calls and no allocation after fork.
[[noreturn]] void child_main(int report_fd, int control_fd, bool thp, bool guard) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  Wire w;
  auto* written = static_cast<char*>(map_anon(kPages * page, PROT_READ | PROT_WRITE));
  ::madvise(written, kPages * page, MADV_NOHUGEPAGE);
  for (std::size_t i = 0; i < kPages; ++i) written[i * page] = static_cast<char>(i + 1);
  add(w, kWritten, written, kPages * page);

  auto* zero = static_cast<char*>(map_anon(kPages * page, PROT_READ));
  for (std::size_t i = 0; i < kPages; ++i) (void)*static_cast<volatile char*>(zero + i * page);
  add(w, kZero, zero, kPages * page);

  void* untouched = map_anon(kPages * page, PROT_READ | PROT_WRITE);
  add(w, kUntouched, untouched, kPages * page);

  if (thp) {
    const std::size_t huge = 2u << 20;
    auto* raw = static_cast<char*>(map_anon(2 * huge, PROT_READ | PROT_WRITE));
    auto* aligned =
        reinterpret_cast<char*>((reinterpret_cast<std::uintptr_t>(raw) + huge - 1) & ~(huge - 1));
    ::madvise(aligned, huge, MADV_HUGEPAGE);
    for (std::size_t off = 0; off < huge; off += page) aligned[off] = 1;
    add(w, kThp, aligned, huge);
  }

  int fd = ::open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    auto* file = static_cast<char*>(::mmap(nullptr, kPages * page, PROT_READ, MAP_PRIVATE, fd, 0));
    ::close(fd);
    if (file != MAP_FAILED) {
      for (std::size_t i = 0; i < kPages / 2; ++i)
        (void)*static_cast<volatile char*>(file + i * page);
      add(w, kFile, file, kPages * page);
    }
  }

  if (guard) {
    auto* guarded = static_cast<char*>(map_anon(kPages * page, PROT_READ | PROT_WRITE));
    for (std::size_t i = 0; i < kPages; ++i) guarded[i * page] = 1;
    ::madvise(guarded + 4 * page, 4 * page, kMadvGuardInstall);
    add(w, kGuard, guarded, kPages * page);
  }

  (void)!::write(report_fd, &w, sizeof w);
  ::close(report_fd);
  char byte;
  while (::read(control_fd, &byte, 1) < 0 && errno == EINTR) {
  }
  ::_exit(0);
}

DemoPart describe(Kind kind, std::uint64_t start, std::uint64_t end) {
  switch (kind) {
    case kWritten:
      return {"written anonymous pages",
              "present, written (outside write tracking every populated page reads as written)",
              start, end};
    case kZero:
      return {"read-only anonymous pages", "present and pfnzero: they map the shared zero page",
              start, end};
    case kUntouched:
      return {"untouched anonymous pages",
              "nothing present; 'written' here only means not write-protected", start, end};
    case kThp:
      return {"a transparent huge page", "present and huge: one 2 MiB PMD entry", start, end};
    case kFile:
      return {"a private file mapping (half read)",
              "present and file (fault-around maps neighbours of the pages read)", start, end};
    case kGuard:
      return {"guard pages (MADV_GUARD_INSTALL)", "guard markers in the middle: guard, swapped",
              start, end};
  }
  return {};
}

}  // namespace

Result<DemoWorkload> DemoWorkload::start() {
  const Features& f = features();
  bool thp = f.thp_mode == "always" || f.thp_mode == "madvise";
  int report[2], control[2];
  if (::pipe2(report, O_CLOEXEC) != 0) return Error::from_errno(errno, "demo: pipe");
  if (::pipe2(control, O_CLOEXEC) != 0) {
    ::close(report[0]);
    ::close(report[1]);
    return Error::from_errno(errno, "demo: pipe");
  }
  pid_t pid = ::fork();
  if (pid < 0) return Error::from_errno(errno, "demo: fork");
  if (pid == 0) {
    ::close(report[0]);
    ::close(control[1]);
    child_main(report[1], control[0], thp, f.guard_regions);
  }
  ::close(report[1]);
  ::close(control[0]);
  DemoWorkload w;
  w.pid_ = pid;
  Wire wire;
  ssize_t got = ::read(report[0], &wire, sizeof wire);
  ::close(report[0]);
  w.control_ = control[1];  // closing it tells the child to exit
  if (got != static_cast<ssize_t>(sizeof wire)) {
    return Error(EIO, ErrorKind::kernel_failure, "demo: the workload did not report its layout");
  }
  for (std::uint64_t i = 0; i < wire.count && i < 8; ++i) {
    w.parts_.push_back(describe(static_cast<Kind>(wire.kind[i]), wire.start[i], wire.end[i]));
  }
  return w;
}

DemoWorkload::DemoWorkload(DemoWorkload&& other) noexcept
    : pid_(other.pid_), control_(other.control_), parts_(std::move(other.parts_)) {
  other.pid_ = -1;
  other.control_ = -1;
}

DemoWorkload::~DemoWorkload() {
  if (control_ >= 0) ::close(control_);
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

}  // namespace pagescan::cli
