// Processes whose main thread has exited while other threads run (pthread_exit() in main):
// alive, scanned through a thread that still runs, and reported exited with the last one.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <algorithm>
#include <thread>
#include <vector>

#include "pagescan/features.hpp"
#include "pagescan/memory_map.hpp"
#include "pagescan/scan.hpp"
#include "proc/proc_files.hpp"
#include "support/exit_events.hpp"
#include "support/memory.hpp"
#include "support/scan_helpers.hpp"

using namespace pagescan;
using namespace pagescan::test;

namespace {

bool leader_is_zombie(pid_t pid) {
  auto stat = proc::read_stat(pid);
  return stat && stat->state == 'Z';
}

// A forked child whose main thread exits once `threads` other threads run. Each thread
// reports its index and exits (that thread only) when the parent writes to its pipe; the
// process exits when the last one does. Every wait is on an event (exit_events.hpp): the
// threads' reports, the leader's exit witness, a thread's exit word, the process's exit.
class Leaderless {
 public:
  explicit Leaderless(int threads) : words_(static_cast<std::size_t>(threads)) {
    int report[2], zombie[2];
    if (!words_.ok() || ::pipe2(report, O_CLOEXEC) != 0) return;
    if (::pipe2(zombie, O_CLOEXEC) != 0) return;
    std::vector<int> reads;
    for (int i = 0; i < threads; ++i) {
      int p[2];
      if (::pipe2(p, O_CLOEXEC) != 0) return;
      reads.push_back(p[0]);
      ends_.push_back(p[1]);
    }
    pid_ = ::fork();
    if (pid_ < 0) return;
    if (pid_ == 0) {
      for (int i = 0; i < threads; ++i) {
        const auto at = static_cast<std::size_t>(i);
        std::thread([i, fd = reads[at], out = report[1], &word = words_[at]] {
          clear_at_exit(word);  // holds the tid until the thread exits
          if (::write(out, &i, sizeof i) != sizeof i) ::_exit(3);
          char byte;
          while (::read(fd, &byte, 1) < 0 && errno == EINTR) {
          }
          ::syscall(SYS_exit, 0);  // this thread only
        }).detach();
      }
      if (!witness_leader_exit(zombie[1])) ::_exit(4);
      ::syscall(SYS_exit, 0);  // the main thread only
      ::_exit(1);
    }
    ::close(report[1]);
    ::close(zombie[1]);
    for (int fd : reads) ::close(fd);
    // The threads report in whatever order they run: the index, not the order, says
    // which pipe ends which thread.
    tids_.assign(static_cast<std::size_t>(threads), 0);
    int reported = 0;
    for (int i = 0; i < threads; ++i) {
      int index = -1;
      if (::read(report[0], &index, sizeof index) != sizeof index) break;
      if (index < 0 || index >= threads) break;
      tids_[static_cast<std::size_t>(index)] =
          static_cast<pid_t>(words_[static_cast<std::size_t>(index)].load());
      ++reported;
    }
    ::close(report[0]);
    live_ = reported;
    ok_ = reported == threads && wait_for_byte(zombie[0]) && leader_is_zombie(pid_);
    ::close(zombie[0]);
  }
  ~Leaderless() {
    for (int fd : ends_) ::close(fd);
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  Leaderless(const Leaderless&) = delete;
  Leaderless& operator=(const Leaderless&) = delete;

  bool ok() const { return ok_; }
  pid_t pid() const { return pid_; }
  const std::vector<pid_t>& tids() const { return tids_; }

  // Ends thread `tid` and waits until it has begun to exit: it no longer runs
  // (PF_EXITING) and has let go of the address space, though /proc may list it a moment
  // longer. The last thread's exit is the process's: that one is waited for (not reaped).
  bool end_thread(pid_t tid) {
    for (std::size_t i = 0; i < tids_.size(); ++i) {
      if (tids_[i] != tid) continue;
      if (::write(ends_[i], "x", 1) != 1) return false;
      if (--live_ > 0) return wait_cleared(words_[i]);
      siginfo_t info{};
      return ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOWAIT) == 0;
    }
    return false;
  }

 private:
  SharedExitWords words_;
  pid_t pid_ = -1;
  bool ok_ = false;
  int live_ = 0;  // threads not yet ended
  std::vector<int> ends_;
  std::vector<pid_t> tids_;
};

// The thread id at the end of a /proc/PID/task/TID directory, or 0.
pid_t tid_of(const std::string& dir) {
  std::size_t slash = dir.rfind("/task/");
  return slash == std::string::npos ? 0 : static_cast<pid_t>(std::atoi(dir.c_str() + slash + 6));
}

std::string hex(std::uint64_t v) {
  char text[32];
  std::snprintf(text, sizeof text, "0x%llx", static_cast<unsigned long long>(v));
  return text;
}

}  // namespace

// The handle follows the thread group: when the thread it reads through exits, the next
// scan goes on through another; when the last exits, the exit is reported as such.
TEST(LeaderlessProcess, IsScannedThroughEachRemainingThreadThenReportedExited) {
  PAGESCAN_SKIP_WITHOUT_SCAN();
  Mapping m = Mapping::anonymous(4);
  m.write_pages(0, 4);
  Leaderless target(2);
  ASSERT_TRUE(target.ok()) << "the leader did not exit alone";
  const pid_t pid = target.pid();
  auto threads = proc::list_threads(pid);
  ASSERT_TRUE(threads);
  if (threads->size() != target.tids().size() + 1) {
    GTEST_SKIP() << "the child has a thread of its own (a sanitizer's runtime): the test "
                    "cannot end every thread";
  }
  const auto request = ScanRequest::over(m.start(), m.end()).all_of(Category::present);

  auto p = Process::attach(pid);
  ASSERT_TRUE(p) << p.error().message();
  auto first = scan(*p, request);
  ASSERT_TRUE(first) << first.error().message();
  EXPECT_EQ(first->pages, 4u);
  auto dir = p->proc_dir();
  ASSERT_TRUE(dir) << dir.error().message();
  const pid_t reader = tid_of(*dir);
  ASSERT_NE(reader, 0) << *dir;

  ASSERT_TRUE(target.end_thread(reader));
  auto second = scan(*p, request);
  ASSERT_TRUE(second) << second.error().message();
  EXPECT_EQ(second->pages, 4u);
  auto next_dir = p->proc_dir();
  ASSERT_TRUE(next_dir) << next_dir.error().message();
  const pid_t next = tid_of(*next_dir);
  EXPECT_NE(next, 0) << *next_dir;
  EXPECT_NE(next, reader);
  auto again = Process::attach(pid);
  ASSERT_TRUE(again) << again.error().message();
  auto third = scan(*again, request);
  ASSERT_TRUE(third) << third.error().message();
  EXPECT_EQ(third->pages, 4u);

  ASSERT_TRUE(target.end_thread(next));
  siginfo_t info{};  // WNOWAIT: the zombie stays until the destructor reaps it
  ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT), 0);
  const std::string who = "pid " + std::to_string(pid);
  auto gone = scan(*p, request);
  ASSERT_FALSE(gone) << "an exited process must not read as an empty address space";
  EXPECT_EQ(gone.error().kind(), ErrorKind::no_such_process);
  EXPECT_EQ(gone.error().message(), "scan of " + who + " [" + hex(m.start()) + "-" + hex(m.end()) +
                                        "): PAGEMAP_SCAN: No such process (" + who +
                                        " exited while it was being read)");
  auto no_dir = p->proc_dir();
  ASSERT_FALSE(no_dir);
  EXPECT_EQ(no_dir.error().kind(), ErrorKind::no_such_process);
  auto zombie = Process::attach(pid);
  ASSERT_FALSE(zombie);
  EXPECT_EQ(zombie.error().message(),
            who +
                " is a zombie (it exited and its parent has not reaped it): it has no "
                "address space to scan");
}

// The emulator reads /proc/PID/smaps, which lists nothing once the leader has exited:
// rather than an empty answer, it refuses (until it reads Process::proc_dir()).
TEST(LeaderlessProcess, EmulatedBackendReadsALiveThreadsMaps) {
  Mapping m = Mapping::anonymous(4);
  m.write_pages(0, 4);
  Leaderless target(1);
  ASSERT_TRUE(target.ok()) << "the leader did not exit alone";
  auto p = Process::attach(target.pid());
  ASSERT_TRUE(p) << p.error().message();
  ScanOptions emulated;
  emulated.backend = BackendChoice::emulated;
  auto r = scan(*p, ScanRequest::over(m.start(), m.end()).all_of(Category::present), emulated);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->backend, Backend::emulated);
  EXPECT_EQ(r->pages, 4u) << "/proc/PID/smaps of a leaderless process lists no mappings";
}

// `pagescan map` reads the memory map: /proc/PID/smaps lists nothing once the main thread
// has exited, a live thread's does.
TEST(LeaderlessProcess, MemoryMapListsTheMappings) {
  Mapping m = Mapping::anonymous(4);
  m.write_pages(0, 4);
  Leaderless target(1);
  ASSERT_TRUE(target.ok()) << "the leader did not exit alone";
  auto p = Process::attach(target.pid());
  ASSERT_TRUE(p) << p.error().message();
  auto map = read_memory_map(*p);
  ASSERT_TRUE(map) << map.error().message();
  const bool listed = std::any_of(map->begin(), map->end(), [&](const MappedRegion& r) {
    return r.start <= m.start() && m.end() <= r.end;
  });
  EXPECT_TRUE(listed) << "the map of " << map->size() << " regions misses the mapping";
}

// Process::self() from a thread of a process whose main thread has exited: /proc/self/
// pagemap has no mm then, the thread's own does. Runs in a child, which reports by exit
// status.
TEST(LeaderlessProcess, SelfIsScannedFromARemainingThread) {
  PAGESCAN_SKIP_WITHOUT_SCAN();
  Mapping m = Mapping::anonymous(4);
  m.write_pages(0, 4);
  int zombie[2];
  ASSERT_EQ(::pipe2(zombie, O_CLOEXEC), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto before = Process::self();  // opened while the leader runs
    if (!before) ::_exit(10);
    // Nothing on the main thread's stack is used once it has exited.
    std::thread([first = std::move(*before), lo = m.start(), hi = m.end(), fd = zombie[0]] {
      if (!wait_for_byte(fd) || !leader_is_zombie(::getpid())) ::_exit(11);
      const auto request = ScanRequest::over(lo, hi).all_of(Category::present);
      auto after = Process::self();
      if (!after) ::_exit(12);
      auto r1 = scan(first, request);
      auto r2 = scan(*after, request);
      if (!r1 || !r2) ::_exit(13);
      if (r1->pages != 4 || r2->pages != 4) ::_exit(14);
      auto dir = after->proc_dir();
      if (!dir || *dir != "/proc/thread-self") ::_exit(15);
      ::_exit(0);
    }).detach();
    if (!witness_leader_exit(zombie[1])) ::_exit(16);
    ::syscall(SYS_exit, 0);  // the main thread only
    ::_exit(1);
  }
  ::close(zombie[0]);
  ::close(zombie[1]);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0)
      << "10/12: self failed; 11: the leader did not exit; 13: a scan failed; 14: wrong "
         "pages; 15: proc_dir is not /proc/thread-self; 16: no exit witness";
}
