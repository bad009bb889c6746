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

#include "proc/maps.hpp"
#include "support/cli_runner.hpp"

namespace pagescan::test {

TargetProcess::TargetProcess(const std::vector<std::string>& args)
    : PipedProgram(std::string(PAGESCAN_TEST_TARGETS_DIR) + "/plain_target", args) {
  if (pid_ <= 0) return;
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

bool wait_in_syscall(pid_t tid, long number, int timeout_ms) {
  for (int waited = 0; waited <= timeout_ms; waited += 5) {
    std::ifstream in("/proc/" + std::to_string(tid) + "/syscall");
    long current = -2;
    if (in >> current && current == number) return true;
    ::usleep(5'000);
  }
  return false;
}

bool any_uffd_wp_registered(pid_t pid) {
  auto vmas = proc::read_vmas(pid, true);
  if (!vmas) return false;
  for (const proc::Vma& vma : *vmas) {
    if (vma.uffd_wp()) return true;
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
