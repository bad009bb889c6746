// Background server programs for tests (background_program.hpp).
#include "support/background_program.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "support/cli_runner.hpp"

namespace pagescan::test {

BackgroundProgram::BackgroundProgram(const std::string& path, const std::vector<std::string>& args,
                                     std::string log_path)
    : log_path_(std::move(log_path)) {
  CStringArray argv = argv_of(path, args);
  CStringArray envp = environment_with({});
  const pid_t parent = ::getpid();
  // fork + exec rather than posix_spawn, for PR_SET_PDEATHSIG: a server must not outlive
  // a test that is killed (a ctest timeout sends SIGKILL, and no destructor runs), where
  // it would go on holding its port and every descriptor it inherited (the test lock's).
  // Only async-signal-safe calls between fork and exec.
  pid_ = ::fork();
  if (pid_ == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the test died before the prctl
    const int in = ::open("/dev/null", O_RDONLY);
    const int out = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
    if (in < 0 || out < 0 || ::dup2(in, 0) < 0 || ::dup2(out, 1) < 0 || ::dup2(out, 2) < 0) {
      ::_exit(127);
    }
    ::execve(path.c_str(), argv.data(), envp.data());
    ::_exit(127);
  }
}

BackgroundProgram::~BackgroundProgram() {
  stop();
}

std::string BackgroundProgram::log() const {
  std::ifstream in(log_path_);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

int BackgroundProgram::poll_exit() {
  if (pid_ <= 0) return status_;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) {
    status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    pid_ = -1;
  }
  return status_;
}

bool BackgroundProgram::wait_for_log(const std::string& text, int timeout_ms) const {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (log().find(text) != std::string::npos) return true;
    siginfo_t info{};
    if (pid_ > 0 &&
        ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
        info.si_pid != 0) {
      // Exited (or not our child): one last look.
      return log().find(text) != std::string::npos;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

int BackgroundProgram::stop(int timeout_ms) {
  if (pid_ <= 0) return status_;
  ::kill(pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (poll_exit() != -3) return status_;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
  status_ = -2;
  return status_;
}

int free_loopback_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof a;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &length) == 0) {
    port = ntohs(a.sin_port);
  }
  ::close(fd);
  return port;
}

int served_port(const std::string& log) {
  const std::string marker = "serving http://127.0.0.1:";
  const std::size_t at = log.find(marker);
  if (at == std::string::npos) return 0;
  return std::atoi(log.c_str() + at + marker.size());
}

}  // namespace pagescan::test
