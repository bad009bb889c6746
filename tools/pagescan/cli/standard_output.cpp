// Standard output that is never lost silently (see standard_output.hpp).
#include "cli/standard_output.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <string_view>

#include "cli/output.hpp"

namespace pagescan::cli {

namespace {

bool is_open(int fd) {
  return ::fcntl(fd, F_GETFD) != -1 || errno != EBADF;
}

int report(int err) {
  // stderr may be what failed too; the exit code still says it.
  print_message(std::string("cannot write standard output: ") +
                (err ? std::strerror(err) : "an earlier write failed"));
  return kExitRuntime;
}

}  // namespace

int prepare_standard_streams() {
  for (int fd : {STDIN_FILENO, STDERR_FILENO}) {
    if (!is_open(fd)) {
      // open() returns the lowest free descriptor: this one.
      int opened = ::open("/dev/null", O_RDWR);
      if (opened >= 0 && opened != fd) ::close(opened);
    }
  }
  if (!is_open(STDOUT_FILENO)) {
    print_message("cannot write standard output: it is closed");
    return kExitRuntime;
  }
  return 0;
}

int report_failure(const std::system_error& error) {
  if (dynamic_cast<const OutputError*>(&error) != nullptr) return report(error.code().value());
  // {fmt}'s fwrite wrapper throws a plain std::system_error, known only by its words
  // "cannot write to file"; whatever else threw is said as it is.
  if (std::string_view(error.what()).find("cannot write to file") != std::string_view::npos) {
    return report(error.code().value());
  }
  print_message(error.what());
  return kExitRuntime;
}

int finish_standard_output(int exit_code) {
  // CLI11 writes --help through std::cout, which shares stdout's buffer (synced with
  // stdio) but keeps its own error state. Its flush is stdout's fflush: errno from here.
  errno = 0;
  std::cout.flush();
  bool failed = !std::cout || std::ferror(stdout);
  int err = failed ? errno : 0;
  if (std::fflush(stdout) != 0) {
    failed = true;
    err = errno;
  }
  // close() is the last chance to hear of a write-back error (NFS, quota).
  if (std::fclose(stdout) != 0 && !failed) {
    failed = true;
    err = errno;
  }
  // A command that failed has said why (possibly this very failure, as `--svg -` does);
  // its code stands and one line is enough.
  if (!failed || exit_code != kExitOk) return exit_code;
  return report(err);
}

}  // namespace pagescan::cli
