// Runs a program on a pseudo-terminal (see pty_runner.hpp).
#include "support/pty_runner.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string_view>

#include "support/cli_runner.hpp"
#include "support/exit_events.hpp"

namespace pagescan::test {

std::vector<std::string> PtyRun::lines() const {
  std::vector<std::string> result;
  std::size_t begin = 0;
  while (begin < out.size()) {
    std::size_t nl = out.find('\n', begin);
    if (nl == std::string::npos) nl = out.size();
    std::size_t end = nl > begin && out[nl - 1] == '\r' ? nl - 1 : nl;
    result.push_back(out.substr(begin, end - begin));
    begin = nl + 1;
  }
  return result;
}

PtyRun run_in_pty(const std::string& path, const std::vector<std::string>& args,
                  const std::vector<std::string>& env, int timeout_seconds, TerminalSize size) {
  return run_in_pty(path, args, env, timeout_seconds, size, {});
}

PtyRun run_in_pty(const std::string& path, const std::vector<std::string>& args,
                  const std::vector<std::string>& env, int timeout_seconds, TerminalSize size,
                  const std::vector<PtyInput>& input) {
  PtyRun run;
  int master = -1, slave = -1;
  winsize window{};
  window.ws_col = size.columns;
  window.ws_row = size.rows;
  if (::openpty(&master, &slave, nullptr, nullptr, &window) != 0) {
    run.out = std::string("openpty: ") + std::strerror(errno);
    return run;
  }
  ::fcntl(master, F_SETFD, FD_CLOEXEC);
  ::fcntl(slave, F_SETFD, FD_CLOEXEC);
  posix_spawn_file_actions_t actions;
  ::posix_spawn_file_actions_init(&actions);
  if (input.empty()) {
    ::posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  } else {
    ::posix_spawn_file_actions_adddup2(&actions, slave, STDIN_FILENO);
    termios attributes{};
    if (::tcgetattr(master, &attributes) == 0) run.before = attributes;
  }
  ::posix_spawn_file_actions_adddup2(&actions, slave, STDOUT_FILENO);
  ::posix_spawn_file_actions_adddup2(&actions, slave, STDERR_FILENO);
  CStringArray argv = argv_of(path, args);
  CStringArray envp = environment_with(env, {"NO_COLOR", "TERM", "COLUMNS", "LINES"});
  pid_t pid = -1;
  int error = ::posix_spawn(&pid, path.c_str(), &actions, nullptr, argv.data(), envp.data());
  ::posix_spawn_file_actions_destroy(&actions);
  ::close(slave);
  if (error != 0) {
    ::close(master);
    run.out = "posix_spawn " + path + ": " + std::strerror(error);
    return run;
  }
  // Read until the last holder of the terminal's other side closes it (EIO). The
  // timeout only turns a hang into a failure.
  const timespec end = monotonic_after(std::chrono::seconds(timeout_seconds));
  std::size_t step = 0;
  std::size_t seen = 0;  // where the next step's `after` is looked for
  for (;;) {
    while (step < input.size() && run.out.find(input[step].after, seen) != std::string::npos) {
      seen = run.out.size();
      // Before the step: the attributes the program set while running.
      termios attributes{};
      if (::tcgetattr(master, &attributes) == 0) run.during = attributes;
      if (input[step].signal) {
        ::kill(pid, input[step].signal);
      } else if (::write(master, input[step].text.data(), input[step].text.size()) < 0) {
        break;
      }
      ++step;
    }
    pollfd fd{master, POLLIN, 0};
    int ready = ::poll(&fd, 1, millis_until(end));
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) {
      run.timed_out = true;
      ::kill(pid, SIGKILL);
      break;
    }
    if (ready < 0) break;
    char buffer[65536];
    ssize_t n = ::read(master, buffer, sizeof buffer);
    if (n > 0) {
      run.out.append(buffer, static_cast<std::size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      break;
    }
  }
  if (!input.empty()) {
    termios attributes{};
    if (::tcgetattr(master, &attributes) == 0) run.after = attributes;
  }
  ::close(master);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) run.exit_code = WEXITSTATUS(status);
  return run;
}

}  // namespace pagescan::test
