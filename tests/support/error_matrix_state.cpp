// The bad-input matrix's checks: outcomes, process state before and after a failing call,
// and children to run calls in (another uid, a zombie, a kernel thread's pid).
#include "support/error_matrix_state.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "pagescan/features.hpp"
#include "pagescan/scan.hpp"
#include "pagescan/snapshot.hpp"
#include "pagescan/watch.hpp"
#include "proc/maps.hpp"
#include "proc/proc_files.hpp"
#include "support/exit_events.hpp"
#include "support/io.hpp"
#include "support/scan_helpers.hpp"

namespace pagescan::test {

namespace {

// Open fds from /proc/self/fd, or by probing each number when that directory cannot be
// read (a process that changed uid is not dumpable, so its /proc files belong to root).
std::vector<int> open_fds() {
  std::vector<int> fds;
  if (DIR* dir = ::opendir("/proc/self/fd")) {
    const int own = ::dirfd(dir);
    while (dirent* entry = ::readdir(dir)) {
      if (entry->d_name[0] == '.') continue;
      int fd = std::atoi(entry->d_name);
      if (fd != own) fds.push_back(fd);
    }
    ::closedir(dir);
  } else {
    rlimit limit{};
    ::getrlimit(RLIMIT_NOFILE, &limit);
    const int top = static_cast<int>(std::min<rlim_t>(limit.rlim_cur, 65536));
    for (int fd = 0; fd < top; ++fd) {
      if (::fcntl(fd, F_GETFD) >= 0) fds.push_back(fd);
    }
  }
  std::sort(fds.begin(), fds.end());
  return fds;
}

std::string disposition(int signal) {
  struct sigaction action {};
  ::sigaction(signal, nullptr, &action);
  const void* handler = (action.sa_flags & SA_SIGINFO)
                            ? reinterpret_cast<const void*>(action.sa_sigaction)
                            : reinterpret_cast<const void*>(action.sa_handler);
  std::ostringstream text;
  text << "handler " << handler << " flags 0x" << std::hex << action.sa_flags << " mask";
  for (int s = 1; s < 65; ++s) {
    if (::sigismember(&action.sa_mask, s) == 1) text << ' ' << std::dec << s;
  }
  return text.str();
}

std::string describe_vma(const proc::Vma& v) {
  std::string text = hex_address(v.start) + "-" + hex_address(v.end) + " " + v.perms;
  for (const std::string& flag : v.vm_flags) text += " " + flag;
  return text;
}

std::string join(const std::vector<std::string>& lines) {
  std::string text;
  for (const std::string& line : lines) text += "\n    " + line;
  return text;
}

void write_text(int fd, const std::string& text) {
  std::uint64_t size = text.size();
  (void)write_all(fd, &size, sizeof size);
  (void)write_all(fd, text.data(), text.size());
}

bool read_text(int fd, std::string& text) {
  std::uint64_t size = 0;
  if (!read_all(fd, &size, sizeof size) || size > (1u << 20)) return false;
  text.resize(size);
  return read_all(fd, text.data(), size);
}

}  // namespace

std::string hex_address(std::uint64_t value) {
  char text[24];
  std::snprintf(text, sizeof text, "0x%" PRIx64, value);
  return text;
}

std::ostream& operator<<(std::ostream& out, const Outcome& o) {
  if (o.ok) return out << "success";
  return out << "errno " << o.errno_value << " (" << std::strerror(o.errno_value) << "), " << o.kind
             << ": \"" << o.message << "\"";
}

testing::AssertionResult failed_with(const Outcome& o, int errno_value, ErrorKind kind,
                                     const std::string& message) {
  if (o.ok)
    return testing::AssertionFailure() << "the call succeeded; expected \"" << message << '"';
  std::string wrong;
  if (o.errno_value != errno_value) {
    wrong +=
        "\n  errno " + std::to_string(o.errno_value) + ", expected " + std::to_string(errno_value);
  }
  if (o.kind != to_string(kind))
    wrong += "\n  kind " + o.kind + ", expected " + std::string(to_string(kind));
  if (o.message != message) {
    wrong += "\n  message  \"" + o.message + "\"\n  expected \"" + message + "\"";
  }
  if (!wrong.empty()) return testing::AssertionFailure() << "wrong error:" << wrong;
  return testing::AssertionSuccess();
}

ProcessState capture_state(std::uint64_t lo, std::uint64_t hi) {
  ProcessState state;
  state.fds = open_fds();
  state.segv = disposition(SIGSEGV);
  state.bus = disposition(SIGBUS);
  auto vmas = proc::read_vmas(0, true);
  if (!vmas) return state;
  state.vmas_read = true;
  for (const proc::Vma& v : *vmas) {
    if (v.uffd_wp()) state.uffd_vmas.push_back(describe_vma(v));
    if (v.start < hi && v.end > lo) {
      // Clipped to the range: a neighbour that grows or merges outside it (the allocator
      // mapping memory next door) is not the call's doing.
      proc::Vma clipped = v;
      clipped.start = std::max(v.start, lo);
      clipped.end = std::min(v.end, hi);
      state.range_vmas.push_back(describe_vma(clipped));
    }
  }
  return state;
}

testing::AssertionResult same_state(const ProcessState& before, const ProcessState& after) {
  std::string changes;
  if (before.fds != after.fds) {
    auto list = [](const std::vector<int>& fds) {
      std::string text;
      for (int fd : fds) text += " " + std::to_string(fd);
      return text;
    };
    changes += "\n  open fds before:" + list(before.fds) + "\n  open fds after: " + list(after.fds);
  }
  if (before.segv != after.segv) changes += "\n  SIGSEGV " + before.segv + " -> " + after.segv;
  if (before.bus != after.bus) changes += "\n  SIGBUS " + before.bus + " -> " + after.bus;
  if (before.uffd_vmas != after.uffd_vmas) {
    changes += "\n  userfaultfd-registered VMAs before:" + join(before.uffd_vmas) +
               "\n  after:" + join(after.uffd_vmas);
  }
  if (before.range_vmas != after.range_vmas) {
    changes += "\n  VMAs of the range before:" + join(before.range_vmas) +
               "\n  after:" + join(after.range_vmas);
  }
  if (!changes.empty()) return testing::AssertionFailure() << "the failed call changed:" << changes;
  return testing::AssertionSuccess();
}

Outcome run_checked(const std::function<Outcome()>& call, std::uint64_t lo, std::uint64_t hi,
                    std::string& changes) {
  ProcessState before = capture_state(lo, hi);
  Outcome outcome = call();
  ProcessState after = capture_state(lo, hi);
  auto same = same_state(before, after);
  changes = same ? "" : same.message();
  return outcome;
}

void warm_up_library() {
  (void)features();
  const std::size_t page = page_size();
  Mapping m = Mapping::anonymous(4);
  m.write_pages(0, 4);
  (void)scan(self_process(), ScanRequest::over(m.start(), m.end()));  // opens its pagemap fd
  for (WatchEngine e : {WatchEngine::uffd, WatchEngine::soft_dirty, WatchEngine::mprotect,
                        WatchEngine::everything}) {
    if (!watch_engine_available(e)) continue;
    WatchOptions options;
    options.engine = e;
    if (auto w = WriteWatch::create(m.data(), 2 * page, options)) {
      m.write_page(0);
      (void)w->collect(m.data(), 2 * page);
    }
    SnapshotOptions snapshot;
    snapshot.watch = options;
    if (auto s = RegionSnapshot::capture(m.page(2), 2 * page, snapshot)) {
      m.write_page(3);
      (void)s->restore();
    }
  }
}

std::vector<std::size_t> armed_pages(const Mapping& m) {
  std::vector<std::size_t> armed;
  for (std::size_t i = 0; i < m.pages(); ++i) {
    if (pagemap_entry(m.page(i)) >> 57 & 1) armed.push_back(i);
  }
  return armed;
}

ChildReport run_in_child(const std::function<Outcome()>& call, std::optional<uid_t> as_user) {
  ChildReport report;
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    report.why = std::string("pipe: ") + std::strerror(errno);
    return report;
  }
  pid_t pid = ::fork();
  if (pid < 0) {
    report.why = std::string("fork: ") + std::strerror(errno);
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    return report;
  }
  if (pid == 0) {
    ::close(pipe_fds[0]);
    const int out = pipe_fds[1];
    if (as_user) {
      const gid_t gid = static_cast<gid_t>(*as_user);
      if (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(*as_user) != 0) {
        write_text(out, "setup");
        write_text(out, std::string("dropping to uid ") + std::to_string(*as_user) + ": " +
                            std::strerror(errno));
        ::_exit(0);
      }
    }
    ProcessState before = capture_state();
    Outcome o = call();
    ProcessState after = capture_state();
    auto same = same_state(before, after);
    write_text(out, "ran");
    write_text(out, same ? "" : same.message());
    write_text(out, o.ok ? "1" : "0");
    write_text(out, std::to_string(o.errno_value));
    write_text(out, o.kind);
    write_text(out, o.message);
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  std::string tag, why, ok, err;
  bool read = read_text(pipe_fds[0], tag) && read_text(pipe_fds[0], why);
  if (read && tag == "ran") {
    read = read_text(pipe_fds[0], ok) && read_text(pipe_fds[0], err) &&
           read_text(pipe_fds[0], report.outcome.kind) &&
           read_text(pipe_fds[0], report.outcome.message);
  }
  ::close(pipe_fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!read) {
    report.why = "the child died before reporting (status " + std::to_string(status) + ")";
    return report;
  }
  if (tag != "ran") {
    report.why = why;
    return report;
  }
  report.ran = true;
  report.why = why;
  report.unchanged = why.empty();
  report.outcome.ok = ok == "1";
  report.outcome.errno_value = std::atoi(err.c_str());
  return report;
}

Zombie::Zombie() {
  pid_ = ::fork();
  if (pid_ < 0) return;
  if (pid_ == 0) ::_exit(0);
  // Exiting takes a moment: waitid() returns once the child is a zombie, and leaves it.
  siginfo_t info{};
  while (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOWAIT) < 0 && errno == EINTR) {
  }
  auto stat = proc::read_stat(pid_);
  ok_ = stat && stat->state == 'Z';
}

Zombie::~Zombie() {
  if (pid_ > 0) ::waitpid(pid_, nullptr, 0);
}

ExitedLeader::ExitedLeader(const std::function<void(pid_t)>& before_exit) {
  int go[2], zombie[2];
  if (::pipe2(go, O_CLOEXEC) != 0) return;
  if (::pipe2(zombie, O_CLOEXEC) != 0) {
    ::close(go[0]);
    ::close(go[1]);
    return;
  }
  pid_ = ::fork();
  if (pid_ < 0) {
    for (int fd : {go[0], go[1], zombie[0], zombie[1]}) ::close(fd);
    return;
  }
  if (pid_ == 0) {
    ::close(go[1]);
    // The second thread only waits to be killed: raw clone() would do, std::thread is
    // simpler and the child never returns into the test.
    std::thread([] {
      for (;;) ::pause();
    }).detach();
    char byte;
    while (::read(go[0], &byte, 1) < 0 && errno == EINTR) {
    }
    if (!witness_leader_exit(zombie[1])) ::_exit(2);
    ::syscall(SYS_exit, 0);  // this thread only
    ::_exit(1);
  }
  ::close(go[0]);
  ::close(zombie[1]);
  before_exit(pid_);
  ::close(go[1]);  // the leader exits
  const bool exited = wait_for_byte(zombie[0]);
  ::close(zombie[0]);
  if (!exited) return;
  // The witness says the leader is a zombie now; the other thread lives on (a sanitizer's
  // runtime may add a thread of its own).
  auto stat = proc::read_stat(pid_);
  auto status = proc::read_text_file("/proc/" + std::to_string(pid_) + "/status");
  std::size_t at = status ? status->find("\nThreads:\t") : std::string::npos;
  ok_ = stat && stat->state == 'Z' && at != std::string::npos &&
        std::atoi(status->c_str() + at + 10) >= 2;
}

ExitedLeader::~ExitedLeader() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
}

pid_t find_kernel_thread() {
  auto is_kthread = [](pid_t pid) {
    auto stat = proc::read_stat(pid);
    return stat && (stat->flags & proc::PF_KTHREAD);
  };
  if (is_kthread(2)) return 2;
  pid_t found = 0;
  if (DIR* dir = ::opendir("/proc")) {
    while (dirent* entry = ::readdir(dir)) {
      pid_t pid = static_cast<pid_t>(std::atoi(entry->d_name));
      if (pid > 0 && is_kthread(pid)) {
        found = pid;
        break;
      }
    }
    ::closedir(dir);
  }
  return found;
}

std::string expected_permission_reason(pid_t pid) {
  std::ifstream status("/proc/self/status");
  std::string line;
  std::uint64_t effective = 0;
  while (std::getline(status, line)) {
    if (line.rfind("CapEff:", 0) == 0) effective = std::stoull(line.substr(7), nullptr, 16);
  }
  constexpr int kCapSysPtrace = 19;
  if (!(effective & (std::uint64_t{1} << kCapSysPtrace))) {
    return ": permission denied (reading another process's page tables needs ptrace access: "
           "same user and ptrace_scope, or CAP_SYS_PTRACE)";
  }
  std::string comm;
  std::getline(std::ifstream("/proc/" + std::to_string(pid) + "/comm"), comm);
  const std::string target = "pid " + std::to_string(pid) + (comm.empty() ? "" : " (" + comm + ")");
  struct stat ns {};
  const bool initial = ::stat("/proc/self/ns/user", &ns) != 0 || ns.st_ino == 0xEFFFFFFDu;
  if (!initial) {
    return ": permission denied although the caller has CAP_SYS_PTRACE: it counts only in the "
           "caller's user namespace, which " +
           target + " is probably outside of (or a security module refused)";
  }
  return ": permission denied although the caller has CAP_SYS_PTRACE, which passes the "
         "kernel's ptrace capability rules: a security module or a kernel policy protects " +
         target + " from inspection";
}

}  // namespace pagescan::test
