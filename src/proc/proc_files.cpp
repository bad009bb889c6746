// Reading small /proc and /sys text files, and the fields of /proc/PID/stat we need.
#include "proc/proc_files.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

namespace pagescan::proc {

Result<std::string> read_text_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Error::from_errno(errno, "open " + path);
  std::string text;
  char buf[4096];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int saved = errno;
      ::close(fd);
      return Error::from_errno(saved, "read " + path);
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return text;
}

Result<ProcessStat> parse_stat(const std::string& text) {
  std::size_t paren = text.rfind(')');
  if (paren == std::string::npos || paren + 2 >= text.size()) {
    return Error(EINVAL, ErrorKind::kernel_failure, "malformed /proc/PID/stat: no ')' field");
  }
  // After ") ": field 3 is state, then ppid pgrp session tty_nr tpgid, field 9 is flags.
  const char* p = text.c_str() + paren + 2;
  ProcessStat stat;
  stat.state = *p;
  int field = 3;
  while (*p && field < 9) {
    if (*p == ' ') ++field;
    ++p;
  }
  if (field != 9) {
    return Error(EINVAL, ErrorKind::kernel_failure, "malformed /proc/PID/stat: too few fields");
  }
  stat.flags = std::strtoull(p, nullptr, 10);
  return stat;
}

Result<ProcessStat> read_stat(pid_t pid) {
  auto text = read_text_file("/proc/" + std::to_string(pid) + "/stat");
  if (!text) return text.error();
  return parse_stat(*text);
}

}  // namespace pagescan::proc
