// Process handles: the pagemap fd of self (reopened after fork) or of another pid (with a
// pidfd to notice that the target exited while it was being read).
#include "pagescan/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>

#include "proc/proc_files.hpp"

namespace pagescan {

struct Process::State {
  bool self = false;
  pid_t target = 0;  // for another process
  int pidfd = -1;    // for another process; -1 where pidfd_open is missing
  mutable std::mutex mutex;
  mutable int pagemap = -1;
  mutable pid_t opened_in = 0;  // getpid() when `pagemap` was opened

  ~State() {
    if (pagemap >= 0) ::close(pagemap);
    if (pidfd >= 0) ::close(pidfd);
  }
};

static Error open_error(int err, pid_t pid, bool self) {
  std::string what = self ? std::string("open /proc/self/pagemap")
                          : "open /proc/" + std::to_string(pid) + "/pagemap";
  if (err == ENOENT || err == ESRCH) {
    return Error(ESRCH, ErrorKind::no_such_process,
                 what + ": no process with pid " + std::to_string(pid));
  }
  if (err == EACCES || err == EPERM) {
    return Error(err, ErrorKind::permission,
                 what +
                     ": permission denied (reading another process's page tables needs "
                     "ptrace access: same user and ptrace_scope, or CAP_SYS_PTRACE)");
  }
  return Error::from_errno(err, what);
}

Process::Process(std::unique_ptr<State> state) : state_(std::move(state)) {}
Process::Process(Process&&) noexcept = default;
Process& Process::operator=(Process&&) noexcept = default;
Process::~Process() = default;

Result<Process> Process::self() {
  auto state = std::make_unique<State>();
  state->self = true;
  state->pagemap = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (state->pagemap < 0) return open_error(errno, ::getpid(), true);
  state->opened_in = ::getpid();
  return Process(std::move(state));
}

Result<Process> Process::attach(pid_t pid) {
  if (pid <= 0) {
    return Error(EINVAL, ErrorKind::invalid_argument,
                 "pid " + std::to_string(pid) + " is not a process id (expected a pid > 0)");
  }
  auto state = std::make_unique<State>();
  state->target = pid;
  // The pidfd is taken before the pagemap fd and checked after it: if the pid was reused
  // in between, the pidfd already reports the old process's exit.
  long pidfd = ::syscall(SYS_pidfd_open, pid, 0);
  if (pidfd < 0 && errno == ESRCH) return open_error(ESRCH, pid, false);
  state->pidfd = pidfd >= 0 ? static_cast<int>(pidfd) : -1;

  auto stat = proc::read_stat(pid);
  if (!stat) return open_error(stat.error().errno_value(), pid, false);
  if (stat->flags & proc::PF_KTHREAD) {
    return Error(
        EINVAL, ErrorKind::invalid_argument,
        "pid " + std::to_string(pid) + " is a kernel thread: it has no user address space to scan");
  }
  std::string path = "/proc/" + std::to_string(pid) + "/pagemap";
  state->pagemap = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (state->pagemap < 0) return open_error(errno, pid, false);
  state->opened_in = ::getpid();
  Process process(std::move(state));
  if (auto alive = process.check_alive(); !alive) return alive.error();
  return process;
}

bool Process::is_self() const {
  return state_->self;
}

pid_t Process::pid() const {
  return state_->self ? ::getpid() : state_->target;
}

std::string Process::describe() const {
  if (state_->self) return "self (pid " + std::to_string(::getpid()) + ")";
  return "pid " + std::to_string(state_->target);
}

Result<int> Process::pagemap_fd() const {
  std::lock_guard lock(state_->mutex);
  pid_t now = ::getpid();
  if (state_->opened_in != now) {
    // We are a fork()ed child holding the parent's fd (bound to the parent's mm). Only
    // self handles are reopened: a handle on another pid means the same pid in the child.
    int fd = state_->self ? ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC)
                          : ::open(("/proc/" + std::to_string(state_->target) + "/pagemap").c_str(),
                                   O_RDONLY | O_CLOEXEC);
    if (fd < 0) return open_error(errno, pid(), state_->self);
    ::close(state_->pagemap);
    state_->pagemap = fd;
    state_->opened_in = now;
  }
  return state_->pagemap;
}

Result<void> Process::check_alive() const {
  if (state_->self) return {};
  pid_t pid = state_->target;
  auto gone = [pid](const char* how) {
    return Error(ESRCH, ErrorKind::no_such_process,
                 "pid " + std::to_string(pid) + " " + how + " while it was being read");
  };
  if (state_->pidfd >= 0) {
    pollfd p{state_->pidfd, POLLIN, 0};
    if (::poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP))) return gone("exited");
  }
  // PF_EXITING is set before exit_mm() tears the address space down, so a scan that
  // finished before this check saw a live mm if the flag is still clear.
  auto stat = proc::read_stat(pid);
  if (!stat) return gone("exited");
  if (stat->state == 'Z' || stat->state == 'X') return gone("exited");
  if (stat->flags & proc::PF_EXITING) return gone("started exiting");
  return {};
}

}  // namespace pagescan
