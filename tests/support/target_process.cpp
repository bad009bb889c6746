// A plain program started with pipes (see target_process.hpp).
#include "support/target_process.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "support/cli_runner.hpp"

namespace pagescan::test {

TargetProcess::TargetProcess(const std::vector<std::string>& args) {
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
  const std::string path = std::string(PAGESCAN_TEST_TARGETS_DIR) + "/plain_target";
  CStringArray argv = argv_of(path, args);
  CStringArray envp = environment_with({});
  int err = ::posix_spawn(&pid_, path.c_str(), &actions, nullptr, argv.data(), envp.data());
  ::posix_spawn_file_actions_destroy(&actions);
  ::close(in[0]);
  ::close(out[1]);
  in_ = in[1];
  out_ = out[0];
  if (err != 0) {
    pid_ = -1;
    error_ = "posix_spawn " + path + ": " + std::strerror(err);
    return;
  }
  std::istringstream ready(read_line());
  std::string word;
  pid_t reported = 0;
  std::string region;
  ready >> word >> reported >> region >> pages_;
  if (word != "ready" || reported != pid_) {
    error_ = "plain_target did not say it was ready";
    return;
  }
  region_ = std::stoull(region, nullptr, 16);
}

TargetProcess::~TargetProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    wait_exit();
  }
  if (in_ >= 0) ::close(in_);
  if (out_ >= 0) ::close(out_);
}

bool TargetProcess::send(const std::string& line) {
  std::string text = line + "\n";
  return in_ >= 0 && ::write(in_, text.data(), text.size()) == static_cast<ssize_t>(text.size());
}

void TargetProcess::close_input() {
  if (in_ >= 0) ::close(in_);
  in_ = -1;
}

std::string TargetProcess::read_line(int timeout_ms) {
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

int TargetProcess::wait_exit() {
  if (pid_ <= 0) return -1;
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool wait_in_syscall(pid_t tid, long number, int timeout_ms) {
  for (int waited = 0; waited <= timeout_ms; waited += 5) {
    std::ifstream in("/proc/" + std::to_string(tid) + "/syscall");
    long current = -2;
    if (in >> current && current == number) return true;
    ::usleep(5'000);
  }
  return false;
}

std::vector<std::string> fd_table(pid_t pid) {
  std::vector<std::string> entries;
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] == '.') continue;
      char target[512] = {};
      ssize_t n = ::readlink((dir + "/" + e->d_name).c_str(), target, sizeof target - 1);
      entries.push_back(std::string(e->d_name) + " -> " +
                        (n > 0 ? std::string(target, static_cast<std::size_t>(n)) : "?"));
    }
    ::closedir(d);
  }
  std::sort(entries.begin(), entries.end());
  return entries;
}

std::string maps_text(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/maps");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace pagescan::test
