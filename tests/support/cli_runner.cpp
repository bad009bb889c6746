// Runs the built pagescan binary and captures its stdout, stderr and exit status.
#include "support/cli_runner.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>
#include <utility>

extern char** environ;

namespace pagescan::test {

namespace {

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t begin = 0;
  while (begin < text.size()) {
    std::size_t nl = text.find('\n', begin);
    if (nl == std::string::npos) nl = text.size();
    lines.push_back(text.substr(begin, nl - begin));
    begin = nl + 1;
  }
  return lines;
}

double now_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

}  // namespace

CStringArray::CStringArray(std::vector<std::string> strings) : strings_(std::move(strings)) {
  for (std::string& s : strings_) pointers_.push_back(s.data());
  pointers_.push_back(nullptr);
}

CStringArray argv_of(const std::string& path, const std::vector<std::string>& args) {
  std::vector<std::string> text = {path};
  text.insert(text.end(), args.begin(), args.end());
  return CStringArray(std::move(text));
}

CStringArray environment_with(const std::vector<std::string>& add,
                              const std::vector<std::string>& drop) {
  std::vector<std::string> text;
  for (char** e = environ; *e; ++e) {
    std::string_view entry(*e);
    bool dropped = false;
    for (const std::string& name : drop) dropped = dropped || entry.rfind(name + "=", 0) == 0;
    if (!dropped) text.emplace_back(entry);
  }
  text.insert(text.end(), add.begin(), add.end());
  return CStringArray(std::move(text));
}

std::vector<std::string> CliRun::out_lines() const {
  return split_lines(out);
}

std::vector<std::string> CliRun::err_lines() const {
  return split_lines(err);
}

std::string CliRun::describe() const {
  std::string text = timed_out ? "timed out"
                     : signal  ? "killed by signal " + std::to_string(signal)
                               : "exit " + std::to_string(exit_code);
  return text + "; stderr: " + err + "; stdout (first 2000 bytes): " + out.substr(0, 2000);
}

CliRun run_program(const std::string& path, const std::vector<std::string>& args,
                   const std::vector<std::string>& extra_env, int timeout_seconds) {
  return run_program(path, args, extra_env, timeout_seconds, SpawnOptions{});
}

CliRun run_program(const std::string& path, const std::vector<std::string>& args,
                   const std::vector<std::string>& extra_env, int timeout_seconds,
                   const SpawnOptions& options) {
  CliRun run;
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return run;
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    return run;
  }
  posix_spawn_file_actions_t actions;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  // dup2 clears O_CLOEXEC on the copies; the originals close at exec.
  int broken[2] = {-1, -1};
  switch (options.stdout_to) {
    case StdoutTo::pipe:
      ::posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
      break;
    case StdoutTo::dev_full:
      ::posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/full", O_WRONLY, 0);
      break;
    case StdoutTo::closed:
      ::posix_spawn_file_actions_addclose(&actions, STDOUT_FILENO);
      break;
    case StdoutTo::read_only:
      ::posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_RDONLY, 0);
      break;
    case StdoutTo::broken_pipe:
      // The read end closes before the program starts, so its very first write fails
      // (no pipe buffer to absorb a small output).
      if (::pipe2(broken, O_CLOEXEC) == 0) {
        ::close(broken[0]);
        ::posix_spawn_file_actions_adddup2(&actions, broken[1], STDOUT_FILENO);
      }
      break;
  }
  ::posix_spawn_file_actions_adddup2(&actions, err_pipe[1], STDERR_FILENO);

  CStringArray argv = argv_of(path, args);
  CStringArray envp = environment_with(extra_env);

  // An ignored signal stays ignored across exec: ignore SIGPIPE here around the spawn.
  struct sigaction ignore {
  }, saved{};
  ignore.sa_handler = SIG_IGN;
  if (options.ignore_sigpipe) ::sigaction(SIGPIPE, &ignore, &saved);
  pid_t pid = -1;
  int spawn_error = ::posix_spawn(&pid, path.c_str(), &actions, nullptr, argv.data(), envp.data());
  if (options.ignore_sigpipe) ::sigaction(SIGPIPE, &saved, nullptr);
  ::posix_spawn_file_actions_destroy(&actions);
  if (broken[1] >= 0) ::close(broken[1]);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (spawn_error != 0) {
    run.err = "posix_spawn " + path + ": " + std::strerror(spawn_error);
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    return run;
  }

  // Read both pipes together: a child blocked on a full stderr pipe would never exit.
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&run.out, &run.err};
  int open_pipes = 2;
  const double deadline = now_seconds() + timeout_seconds;
  while (open_pipes > 0) {
    double left = deadline - now_seconds();
    if (left <= 0) {
      run.timed_out = true;
      ::kill(pid, SIGKILL);
      break;
    }
    int ready = ::poll(fds, 2, static_cast<int>(left * 1000) + 1);
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buffer[65536];
      ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
      if (n > 0) {
        sinks[i]->append(buffer, static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_pipes;
      }
    }
  }
  for (pollfd& p : fds) {
    if (p.fd >= 0) ::close(p.fd);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) {
    run.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    run.signal = WTERMSIG(status);
  }
  return run;
}

CliRun run_cli(const std::vector<std::string>& args, const std::vector<std::string>& extra_env) {
#ifdef PAGESCAN_CLI_PATH
  return run_program(PAGESCAN_CLI_PATH, args, extra_env);
#else
  CliRun run;
  run.err = "PAGESCAN_CLI_PATH is not defined: the pagescan_cli target was not configured";
  return run;
#endif
}

CliRun run_cli(const std::vector<std::string>& args, const SpawnOptions& options) {
#ifdef PAGESCAN_CLI_PATH
  return run_program(PAGESCAN_CLI_PATH, args, {}, 60, options);
#else
  CliRun run;
  run.err = "PAGESCAN_CLI_PATH is not defined: the pagescan_cli target was not configured";
  return run;
#endif
}

std::string single_line(const std::string& text) {
  if (text.empty() || text.back() != '\n') return "";
  std::string line = text.substr(0, text.size() - 1);
  return line.find('\n') == std::string::npos ? line : "";
}

std::size_t display_columns(const std::string& line) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '\x1b' && i + 1 < line.size() && line[i + 1] == '[') {
      // CSI: parameters and intermediates up to the final byte (0x40-0x7e).
      for (i += 2; i < line.size() && !(line[i] >= '@' && line[i] <= '~'); ++i) {
      }
      continue;
    }
    n += (static_cast<unsigned char>(line[i]) & 0xc0) != 0x80;
  }
  return n;
}

}  // namespace pagescan::test
