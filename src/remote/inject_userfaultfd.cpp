// A userfaultfd created inside another process and handed to the caller (see
// inject_userfaultfd.hpp).
#include "remote/inject_userfaultfd.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <sstream>
#include <string>

#include "kernel/uapi.hpp"
#include "proc/maps.hpp"
#include "proc/proc_files.hpp"
#include "remote/ptrace_stop.hpp"
#include "remote/target_checks.hpp"

namespace pagescan::remote {

namespace {

std::uint64_t now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

// The address of a `syscall` instruction (0f 05) in the target's [vdso], read through
// /proc/PID/mem (allowed while we trace it).
Result<std::uint64_t> vdso_syscall_instruction(pid_t pid) {
  auto vmas = proc::read_vmas(pid, false);
  if (!vmas) return vmas.error();
  for (const proc::Vma& vma : *vmas) {
    if (vma.path != "[vdso]") continue;
    std::string bytes(vma.end - vma.start, '\0');
    int fd = ::open(("/proc/" + std::to_string(pid) + "/mem").c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      return Error(errno, ErrorKind::kernel_failure,
                   "open /proc/" + std::to_string(pid) + "/mem: " + std::strerror(errno));
    }
    ssize_t n = ::pread(fd, bytes.data(), bytes.size(), static_cast<off_t>(vma.start));
    int err = errno;
    ::close(fd);
    if (n < 0) {
      return Error(err, ErrorKind::kernel_failure,
                   "reading the [vdso] of " + named(pid) + ": " + std::strerror(err));
    }
    std::size_t at = std::string_view(bytes.data(), static_cast<std::size_t>(n)).find("\x0f\x05");
    if (at != std::string::npos) return vma.start + at;
    break;
  }
  return Error(EOPNOTSUPP, ErrorKind::unsupported,
               named(pid) +
                   " has no syscall instruction in a [vdso] mapping to run "
                   "userfaultfd() through (booted with vdso=0?)");
}

}  // namespace

Result<Injection> inject_userfaultfd(pid_t pid, const InjectOptions& options) {
#if !defined(__x86_64__)
  (void)pid;
  (void)options;
  return Error(EOPNOTSUPP, ErrorKind::unsupported,
               "injecting userfaultfd into another process is implemented for x86-64 only");
#else
  auto tid = pick_thread(pid);
  if (!tid) return tid.error();
  if (auto untraced = check_not_traced(pid); !untraced) return untraced.error();
  // pidfd first: it pins the process, so the fd taken below is this process's.
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) {
    int err = errno;
    return Error(err, err == ESRCH ? ErrorKind::no_such_process : ErrorKind::kernel_failure,
                 "pidfd_open of " + named(pid) + ": " + std::strerror(err));
  }
  struct ClosePidfd {
    int fd;
    ~ClosePidfd() { ::close(fd); }
  } close_pidfd{pidfd};

  const std::uint64_t started = now_ns();
  auto stop = PtraceStop::seize(pid, *tid);
  if (!stop) {
    if (stop.error().errno_value() == EPERM) {
      return Error(EPERM, ErrorKind::permission, why_ptrace_denied(pid));
    }
    return stop.error();
  }
  auto syscall_at = vdso_syscall_instruction(pid);
  if (!syscall_at) return syscall_at.error();
  if (options.while_stopped) options.while_stopped(*tid);

  auto target_fd =
      stop->call(*syscall_at, SYS_userfaultfd, {O_CLOEXEC | O_NONBLOCK | uapi::kUffdUserModeOnly});
  if (!target_fd) return target_fd.error();
  if (*target_fd < 0) {
    return Error(static_cast<int>(-*target_fd), ErrorKind::kernel_failure,
                 "userfaultfd() in " + named(pid) +
                     " failed: " + std::strerror(static_cast<int>(-*target_fd)));
  }
  int fd = static_cast<int>(::syscall(SYS_pidfd_getfd, pidfd, static_cast<int>(*target_fd), 0));
  int getfd_errno = errno;
  // The target's copy goes whatever pidfd_getfd said: nothing of ours stays in it.
  auto closed = stop->call(*syscall_at, SYS_close, {*target_fd});
  auto detached = stop->detach();
  Injection injection;
  injection.stopped_ns = now_ns() - started;
  injection.deferred_signals = stop->deferred_signals();
  if (fd < 0) {
    return Error(
        getfd_errno, getfd_errno == ENOSYS ? ErrorKind::unsupported : ErrorKind::kernel_failure,
        "pidfd_getfd of the userfaultfd made in " + named(pid) + ": " + std::strerror(getfd_errno));
  }
  injection.fd = fd;
  const char* failed = !closed ? "closing its copy" : !detached ? "resuming it" : nullptr;
  if (failed) {
    ::close(fd);
    const Error& error = !closed ? closed.error() : detached.error();
    return Error(error.errno_value(), error.kind(),
                 "attaching to " + named(pid) + ": " + failed + ": " + error.message());
  }
  if (*closed < 0) {
    ::close(fd);
    return Error(static_cast<int>(-*closed), ErrorKind::kernel_failure,
                 "close() of the userfaultfd copy in " + named(pid) + " failed");
  }
  return injection;
#endif
}

}  // namespace pagescan::remote
