// Reading small /proc and /sys text files, and the fields of /proc/PID/stat we need.
#include "proc/proc_files.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

namespace pagescan::proc {

Error file_error(int err, FileRole role, std::string what) {
  ErrorKind kind = ErrorKind::kernel_failure;
  if (err == EACCES || err == EPERM) {
    kind = ErrorKind::permission;
  } else if (role == FileRole::process && (err == ENOENT || err == ESRCH)) {
    kind = ErrorKind::no_such_process;
  } else if (role == FileRole::kernel_interface && err == ENOENT) {
    kind = ErrorKind::unsupported;
  }
  return Error::from_errno(err, kind, std::move(what));
}

Result<std::string> read_text_file(const std::string& path, FileRole role) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return file_error(errno, role, "open " + path);
  std::string text;
  char buf[4096];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int saved = errno;
      ::close(fd);
      return file_error(saved, role, "read " + path);
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
  auto text = read_text_file("/proc/" + std::to_string(pid) + "/stat", FileRole::process);
  if (!text) return text.error();
  return parse_stat(*text);
}

std::string task_dir(pid_t pid, pid_t tid) {
  std::string dir = "/proc/" + std::to_string(pid);
  return tid == pid ? dir : dir + "/task/" + std::to_string(tid);
}

Result<ProcessStat> read_stat(pid_t pid, pid_t tid) {
  auto text = read_text_file(task_dir(pid, tid) + "/stat", FileRole::process);
  if (!text) return text.error();
  return parse_stat(*text);
}

Result<std::vector<pid_t>> list_threads(pid_t pid) {
  std::string path = "/proc/" + std::to_string(pid) + "/task";
  DIR* dir = ::opendir(path.c_str());
  if (!dir) return file_error(errno, FileRole::process, "open " + path);
  std::vector<pid_t> tids;
  while (const dirent* entry = ::readdir(dir)) {
    long tid = std::strtol(entry->d_name, nullptr, 10);
    if (tid > 0) tids.push_back(static_cast<pid_t>(tid));
  }
  ::closedir(dir);
  return tids;
}

std::string status_field(std::string_view status, std::string_view name) {
  std::size_t at = 0;
  while (at < status.size()) {
    std::size_t eol = status.find('\n', at);
    if (eol == std::string_view::npos) eol = status.size();
    std::string_view line = status.substr(at, eol - at);
    if (line.size() > name.size() && line.substr(0, name.size()) == name &&
        line[name.size()] == ':') {
      std::size_t value = line.find_first_not_of(" \t", name.size() + 1);
      return value == std::string_view::npos ? std::string() : std::string(line.substr(value));
    }
    at = eol + 1;
  }
  return {};
}

}  // namespace pagescan::proc
