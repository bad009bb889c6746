// Process handles: the pagemap fd of self (reopened after fork) or of another pid (with a
// pidfd to notice that the target exited while it was being read).
#include "pagescan/process.hpp"

#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <mutex>

#include "proc/proc_files.hpp"

namespace pagescan {

namespace {

// Counts fork()s in this process's lineage, so a self handle also notices a fork whose
// child got the parent's pid number back (a child that is pid 1 of a new pid namespace
// when the parent was pid 1 of its own): getpid() alone would not change.
std::atomic<std::uint64_t> forks{0};

void count_fork() {
  forks.fetch_add(1, std::memory_order_relaxed);
}

std::uint64_t fork_generation() {
  // Registered before the first self handle opens its fd, so every later fork counts.
  static const bool registered = ::pthread_atfork(nullptr, nullptr, count_fork) == 0;
  (void)registered;
  return forks.load(std::memory_order_relaxed);
}

// Runs user code: not a zombie or dead, not past the start of exit (PF_EXITING).
bool runs(const proc::ProcessStat& stat) {
  return stat.state != 'Z' && stat.state != 'X' && !(stat.flags & proc::PF_EXITING);
}

bool exited(const proc::ProcessStat& stat) {
  return stat.state == 'Z' || stat.state == 'X';
}

// A group exit (exit_group(), a fatal signal) queues SIGKILL on every thread before they
// set PF_EXITING, so a thread with SIGKILL pending is on its way out too.
bool sigkill_pending(pid_t pid, pid_t tid) {
  auto status = proc::read_text_file(proc::task_dir(pid, tid) + "/status", proc::FileRole::process);
  if (!status) return true;  // gone already
  std::uint64_t pending = std::strtoull(proc::status_field(*status, "SigPnd").c_str(), nullptr, 16);
  return pending & (std::uint64_t{1} << (SIGKILL - 1));
}

// The threads of `pid` other than its leader: one that still runs (0 if none), and
// whether any was on its way out. `prefer` is tried first, so a reader keeps its thread.
struct OtherThreads {
  pid_t running = 0;
  bool exiting = false;
};

OtherThreads other_threads(pid_t pid, pid_t prefer) {
  OtherThreads found;
  auto tids = proc::list_threads(pid);
  if (!tids) return found;
  auto check = [&](pid_t tid) {
    auto stat = proc::read_stat(pid, tid);
    if (!stat) return false;  // released already
    if (runs(*stat) && !sigkill_pending(pid, tid)) {
      found.running = tid;
      return true;
    }
    found.exiting = true;
    return false;
  };
  if (prefer != pid && prefer > 0) {
    for (pid_t tid : *tids) {
      if (tid == prefer && check(tid)) return found;
    }
  }
  for (pid_t tid : *tids) {
    if (tid != pid && tid != prefer && check(tid)) return found;
  }
  return found;
}

// CAP_SYS_PTRACE in the caller's effective set (capget, not /proc, which may be hidden).
bool caller_has_cap_sys_ptrace() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
  if (::syscall(SYS_capget, &header, data) != 0) return false;
  return data[CAP_TO_INDEX(CAP_SYS_PTRACE)].effective & CAP_TO_MASK(CAP_SYS_PTRACE);
}

// The initial user namespace has a fixed inode number (PROC_USER_INIT_INO); unknown counts
// as initial.
bool caller_in_initial_user_namespace() {
  struct stat st {};
  return ::stat("/proc/self/ns/user", &st) != 0 || st.st_ino == 0xEFFFFFFDu;
}

// "pid 1 (process_api)": the target's command name when /proc shows it (stat is readable
// where pagemap is not), so the person sees which process refuses.
std::string named(pid_t pid) {
  std::string name = "pid " + std::to_string(pid);
  auto comm =
      proc::read_text_file("/proc/" + std::to_string(pid) + "/comm", proc::FileRole::process);
  if (comm && !comm->empty()) {
    std::string text = *comm;
    if (text.back() == '\n') text.pop_back();
    name += " (" + text + ")";
  }
  return name;
}

// Why opening /proc/PID/pagemap was refused, as far as the caller can tell. The open
// passes the kernel's ptrace_may_access(PTRACE_MODE_READ_FSCREDS) when the caller is the
// same user as the target and the target is dumpable, and commoncap finds the target's
// permitted capabilities within the caller's; CAP_SYS_PTRACE in the target's user
// namespace passes all three. Yama's ptrace_scope applies only to attaching. So when the
// caller holds CAP_SYS_PTRACE in the initial user namespace, the refusal comes from
// beyond those rules. Seen on the CI machine: root with CAP_SYS_PTRACE reads every
// process, also non-dumpable ones and ones holding capabilities it lacks, but not PID 1
// (the sandbox's init), with no BPF LSM program loaded and a Landlock domain that
// refuses only attaching; the message says what is known and no more.
std::string permission_denied_reason(pid_t pid) {
  if (!caller_has_cap_sys_ptrace()) {
    return "permission denied (reading another process's page tables needs ptrace access: "
           "same user and ptrace_scope, or CAP_SYS_PTRACE)";
  }
  if (!caller_in_initial_user_namespace()) {
    return "permission denied although the caller has CAP_SYS_PTRACE: it counts only in the "
           "caller's user namespace, which " +
           named(pid) + " is probably outside of (or a security module refused)";
  }
  return "permission denied although the caller has CAP_SYS_PTRACE, which passes the "
         "kernel's ptrace capability rules: a security module or a kernel policy protects " +
         named(pid) + " from inspection";
}

// The pagemap (or stat) of target `pid` could not be opened: a missing /proc/PID entry
// or a missing mm (ESRCH) means the process is gone.
Error open_error(int err, const std::string& path, pid_t pid) {
  std::string what = "open " + path;
  if (err == ENOENT || err == ESRCH) {
    return Error(ESRCH, ErrorKind::no_such_process,
                 what + ": no process with pid " + std::to_string(pid));
  }
  if (err == EACCES || err == EPERM) {
    return Error(err, ErrorKind::permission, what + ": " + permission_denied_reason(pid));
  }
  return Error::from_errno(err, ErrorKind::kernel_failure, what);
}

// The caller's own pagemap could not be opened. It exists while the caller runs, so a
// missing one is a missing kernel interface (no /proc mounted, or a kernel built without
// CONFIG_PROC_PAGE_MONITOR), never "no such process".
Error open_self_error(int err) {
  return proc::file_error(err, proc::FileRole::kernel_interface, "open /proc/self/pagemap");
}

Error zombie_error(pid_t pid) {
  return Error(ESRCH, ErrorKind::no_such_process,
               "pid " + std::to_string(pid) +
                   " is a zombie (it exited and its parent has not reaped it): it has no "
                   "address space to scan");
}

// The calling process's pagemap. Once the main thread has exited its /proc/self/pagemap
// has no mm (ESRCH); the calling thread's own shares the address space.
int open_self_pagemap() {
  int fd = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (fd < 0 && (errno == ESRCH || errno == ENOENT))
    fd = ::open("/proc/thread-self/pagemap", O_RDONLY | O_CLOEXEC);
  return fd;
}

// Another process's pagemap: the leader's, or, when the leader has exited (its pagemap
// has no mm: ESRCH) while the group lives, a running thread's. The fd is bound to the mm,
// not to the thread, so it stays good when that thread exits later. Sets `reader` to the
// thread whose file was opened; returns -1 with errno set on failure.
int open_other_pagemap(pid_t pid, pid_t& reader) {
  std::string path = "/proc/" + std::to_string(pid) + "/pagemap";
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0 || (errno != ESRCH && errno != ENOENT)) {
    reader = pid;
    return fd;
  }
  // A thread found running may exit before its file opens: look again, a few times.
  for (int attempt = 0; attempt < 3; ++attempt) {
    pid_t tid = other_threads(pid, 0).running;
    if (tid == 0) break;
    fd = ::open((proc::task_dir(pid, tid) + "/pagemap").c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      reader = tid;
      return fd;
    }
  }
  errno = ESRCH;
  return -1;
}

}  // namespace

struct Process::State {
  bool self = false;
  pid_t target = 0;  // for another process
  int pidfd = -1;    // for another process; -1 where pidfd_open is missing
  // The thread last found running once the leader has exited (another process only).
  std::atomic<pid_t> reader{0};
  mutable std::mutex mutex;
  mutable int pagemap = -1;
  mutable pid_t opened_in = 0;             // self: getpid() when `pagemap` was opened
  mutable std::uint64_t opened_after = 0;  // self: fork_generation() then

  ~State() {
    if (pagemap >= 0) ::close(pagemap);
    if (pidfd >= 0) ::close(pidfd);
  }
};

Process::Process(std::unique_ptr<State> state) : state_(std::move(state)) {}
Process::Process(Process&&) noexcept = default;
Process& Process::operator=(Process&&) noexcept = default;
Process::~Process() = default;

Result<Process> Process::self() {
  auto state = std::make_unique<State>();
  state->self = true;
  state->opened_after = fork_generation();
  state->pagemap = open_self_pagemap();
  if (state->pagemap < 0) return open_self_error(errno);
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
  const std::string path = "/proc/" + std::to_string(pid) + "/pagemap";
  // The pidfd is taken before the pagemap fd and checked after it: if the pid was reused
  // in between, the pidfd already reports the old process's exit.
  long pidfd = ::syscall(SYS_pidfd_open, pid, 0);
  if (pidfd < 0 && errno == ESRCH) return open_error(ESRCH, path, pid);
  state->pidfd = pidfd >= 0 ? static_cast<int>(pidfd) : -1;

  auto stat = proc::read_stat(pid);
  if (!stat) return open_error(stat.error().errno_value(), path, pid);
  if (stat->flags & proc::PF_KTHREAD) {
    return Error(
        EINVAL, ErrorKind::invalid_argument,
        "pid " + std::to_string(pid) + " is a kernel thread: it has no user address space to scan");
  }
  pid_t reader = pid;
  state->pagemap = open_other_pagemap(pid, reader);
  if (state->pagemap < 0) {
    int err = errno;
    // No mm and no running thread: a zombie exists and is named as one.
    if (err == ESRCH || err == ENOENT) {
      auto now = proc::read_stat(pid);
      if (now && now->state == 'Z') return zombie_error(pid);
    }
    return open_error(err, path, pid);
  }
  state->reader = reader;
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
  // Another process's fd is bound to that process's mm whoever holds it: a fork()ed child
  // keeps using it. A self handle in a child holds the parent's mm: reopen.
  if (!state_->self) return state_->pagemap;
  pid_t now = ::getpid();
  std::uint64_t generation = fork_generation();
  if (state_->opened_in != now || state_->opened_after != generation) {
    int fd = open_self_pagemap();
    if (fd < 0) return open_self_error(errno);
    ::close(state_->pagemap);
    state_->pagemap = fd;
    state_->opened_in = now;
    state_->opened_after = generation;
  }
  return state_->pagemap;
}

Result<std::string> Process::proc_dir() const {
  if (state_->self) {
    pid_t leader = ::getpid();
    if (::gettid() == leader) return std::string("/proc/self");  // the caller is the leader
    auto stat = proc::read_stat(leader);
    return std::string(stat && exited(*stat) ? "/proc/thread-self" : "/proc/self");
  }
  pid_t pid = state_->target;
  auto stat = proc::read_stat(pid);
  if (stat && runs(*stat)) return proc::task_dir(pid, pid);
  pid_t tid = other_threads(pid, state_->reader.load()).running;
  if (tid == 0) {
    return Error(ESRCH, ErrorKind::no_such_process,
                 "pid " + std::to_string(pid) + " exited while it was being read");
  }
  state_->reader.store(tid);
  return proc::task_dir(pid, tid);
}

Result<void> Process::check_alive() const {
  if (state_->self) return {};
  pid_t pid = state_->target;
  auto gone = [pid](const char* how) {
    return Error(ESRCH, ErrorKind::no_such_process,
                 "pid " + std::to_string(pid) + " " + how + " while it was being read");
  };
  // The pidfd turns readable once the whole thread group has exited (or the pid was
  // reused: the pidfd names the process attached).
  if (state_->pidfd >= 0) {
    pollfd p{state_->pidfd, POLLIN, 0};
    if (::poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP))) return gone("exited");
  }
  // PF_EXITING is set before exit_mm() tears the address space down, so a scan that
  // finished before this check saw a live mm if the flag is still clear.
  auto stat = proc::read_stat(pid);
  if (!stat) return gone("exited");
  if (runs(*stat)) return {};
  // The leader has exited or is exiting. After pthread_exit() in main the process runs
  // on in its other threads, and the mm lives while one of them does.
  OtherThreads others = other_threads(pid, state_->reader.load());
  if (others.running) {
    state_->reader.store(others.running);
    return {};
  }
  return gone(exited(*stat) && !others.exiting ? "exited" : "started exiting");
}

}  // namespace pagescan
