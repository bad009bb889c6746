// A program started with pipes (see piped_program.hpp).
#include "support/piped_program.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "support/cli_runner.hpp"

namespace pagescan::test {

PipedProgram::PipedProgram(const std::string& path, const std::vector<std::string>& args,
                           const std::vector<std::string>& env) {
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0) return;
  if (::pipe2(out, O_CLOEXEC) != 0) {
    ::close(in[0]);
    ::close(in[1]);
    return;
  }
  posix_spawn_file_actions_t actions;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
  ::posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  CStringArray argv = argv_of(path, args);
  CStringArray envp = environment_with(env);
  int err = ::posix_spawn(&pid_, path.c_str(), &actions, nullptr, argv.data(), envp.data());
  ::posix_spawn_file_actions_destroy(&actions);
  ::close(in[0]);
  ::close(out[1]);
  in_ = in[1];
  out_ = out[0];
  if (err != 0) {
    pid_ = -1;
    error_ = "posix_spawn " + path + ": " + std::strerror(err);
  }
}

PipedProgram::~PipedProgram() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    wait_exit();
  }
  if (in_ >= 0) ::close(in_);
  if (out_ >= 0) ::close(out_);
}

bool PipedProgram::send(const std::string& line) {
  std::string text = line + "\n";
  return in_ >= 0 && ::write(in_, text.data(), text.size()) == static_cast<ssize_t>(text.size());
}

void PipedProgram::close_input() {
  if (in_ >= 0) ::close(in_);
  in_ = -1;
}

std::string PipedProgram::read_line(int timeout_ms) {
  for (;;) {
    std::size_t nl = buffered_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buffered_.substr(0, nl);
      buffered_.erase(0, nl + 1);
      return line;
    }
    pollfd fd{out_, POLLIN, 0};
    int ready = ::poll(&fd, 1, timeout_ms);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return "";
    char chunk[4096];
    ssize_t n = ::read(out_, chunk, sizeof chunk);
    if (n <= 0) return "";
    buffered_.append(chunk, static_cast<std::size_t>(n));
  }
}

int PipedProgram::wait_exit() {
  if (pid_ <= 0) return -1;
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace pagescan::test
