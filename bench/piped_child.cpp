#include "piped_child.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

extern char** environ;

namespace pagescan::bench {

PipedChild::PipedChild(const std::string& path, const std::vector<std::string>& args) {
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0) {
    error_ = std::string("pipe2: ") + std::strerror(errno);
    return;
  }
  if (::pipe2(out, O_CLOEXEC) != 0) {
    error_ = std::string("pipe2: ") + std::strerror(errno);
    ::close(in[0]);
    ::close(in[1]);
    return;
  }
  posix_spawn_file_actions_t actions;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
  ::posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(path.c_str()));
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const int err = ::posix_spawn(&pid_, path.c_str(), &actions, nullptr, argv.data(), environ);
  ::posix_spawn_file_actions_destroy(&actions);
  ::close(in[0]);
  ::close(out[1]);
  to_ = in[1];
  from_ = out[0];
  if (err != 0) {
    pid_ = -1;
    error_ = "posix_spawn " + path + ": " + std::strerror(err);
  }
}

PipedChild::PipedChild(PipedChild&& other) noexcept
    : pid_(other.pid_), to_(other.to_), from_(other.from_), error_(std::move(other.error_)) {
  other.pid_ = -1;
  other.to_ = other.from_ = -1;
}

PipedChild::~PipedChild() {
  if (to_ >= 0) ::close(to_);
  if (pid_ > 0) {
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  if (from_ >= 0) ::close(from_);
}

std::string PipedChild::read_line() {
  std::string line;
  char c = 0;
  while (true) {
    const ssize_t n = ::read(from_, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || c == '\n') break;
    line += c;
  }
  return line;
}

bool PipedChild::read_exactly(void* data, std::size_t bytes) {
  auto* p = static_cast<char*>(data);
  for (std::size_t got = 0; got < bytes;) {
    const ssize_t n = ::read(from_, p + got, bytes - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    got += static_cast<std::size_t>(n);
  }
  return true;
}

bool PipedChild::write_all(const void* data, std::size_t bytes) {
  const auto* p = static_cast<const char*>(data);
  for (std::size_t sent = 0; sent < bytes;) {
    const ssize_t n = ::write(to_, p + sent, bytes - sent);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace pagescan::bench
