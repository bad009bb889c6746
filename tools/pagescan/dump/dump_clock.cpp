#include "dump/dump_clock.hpp"

#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace pagescan::cli {

DumpClock::DumpClock(pid_t pid, double seconds) : seconds_(seconds), start_ns_(monotonic_ns()) {
  // Without a pidfd (a kernel before 5.3) an exit shows as the next dump's failure.
  pid_fd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}

DumpClock::~DumpClock() {
  if (pid_fd_ >= 0) ::close(pid_fd_);
}

bool DumpClock::signalled() {
  return signals_.take() != 0;
}

DumpWake DumpClock::wait_for(std::uint64_t number) {
  for (;;) {
    const auto interval_ns = static_cast<std::uint64_t>(seconds_ * 1e9);
    const std::uint64_t due = start_ns_ + (number - 1 + skipped_) * interval_ns;
    const std::uint64_t now = monotonic_ns();
    if (now >= due) {
      // Late: the intervals that passed during a slow dump are skipped, not caught up.
      skipped_ += (now - due) / std::max<std::uint64_t>(interval_ns, 1);
      return DumpWake::due;
    }
    const int timeout = poll_timeout_until(due, now);
    pollfd fds[2] = {{signals_.fd(), POLLIN, 0}, {pid_fd_, POLLIN, 0}};
    const int ready = ::poll(fds, pid_fd_ >= 0 ? 2 : 1, timeout);
    if (ready < 0 && errno != EINTR) return DumpWake::signal;  // cannot wait: end as if asked
    if (ready <= 0) continue;
    if ((fds[0].revents & POLLIN) && signalled()) return DumpWake::signal;
    if (pid_fd_ >= 0 && fds[1].revents) return DumpWake::exited;
  }
}

}  // namespace pagescan::cli
