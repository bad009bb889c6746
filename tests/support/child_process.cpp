// A forked child with a known memory layout, for scanning another process.
#include "support/child_process.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

namespace pagescan::test {

ChildProcess::ChildProcess(const Setup& setup) {
  int report[2], control[2];
  if (::pipe(report) != 0 || ::pipe(control) != 0) {
    ADD_FAILURE() << "pipe failed";
    return;
  }
  pid_ = ::fork();
  if (pid_ < 0) {
    ADD_FAILURE() << "fork failed";
    return;
  }
  if (pid_ == 0) {
    ::close(report[0]);
    ::close(control[1]);
    std::vector<std::uint64_t> addrs = setup();
    std::uint64_t n = addrs.size();
    (void)!::write(report[1], &n, sizeof n);
    (void)!::write(report[1], addrs.data(), n * sizeof(std::uint64_t));
    ::close(report[1]);
    char byte;
    while (::read(control[0], &byte, 1) < 0 && errno == EINTR) {
    }
    ::_exit(0);
  }
  ::close(report[1]);
  ::close(control[0]);
  control_ = control[1];
  std::uint64_t n = 0;
  if (::read(report[0], &n, sizeof n) == sizeof n) {
    addresses_.resize(n);
    std::size_t want = n * sizeof(std::uint64_t), got = 0;
    auto* dst = reinterpret_cast<char*>(addresses_.data());
    while (got < want) {
      ssize_t r = ::read(report[0], dst + got, want - got);
      if (r <= 0) break;
      got += static_cast<std::size_t>(r);
    }
  } else {
    ADD_FAILURE() << "child did not report its layout";
  }
  ::close(report[0]);
}

void ChildProcess::kill_and_reap() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

void ChildProcess::finish() {
  if (pid_ <= 0) return;
  ::close(control_);
  control_ = -1;
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

ChildProcess::~ChildProcess() {
  kill_and_reap();
  if (control_ >= 0) ::close(control_);
}

}  // namespace pagescan::test
