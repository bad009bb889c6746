// Reading small /proc and /sys text files, and the fields of /proc/PID/stat we need.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pagescan/result.hpp"

namespace pagescan::proc {

// The whole file (read in a loop until EOF). Errors carry the path and errno.
Result<std::string> read_text_file(const std::string& path);

struct ProcessStat {
  char state = '?';         // R, S, D, Z, X, ...
  std::uint64_t flags = 0;  // task flags (PF_*)
};

inline constexpr std::uint64_t PF_EXITING = 0x00000004;
inline constexpr std::uint64_t PF_KTHREAD = 0x00200000;

// Parses /proc/PID/stat. The command name may hold spaces and parentheses, so fields are
// counted from the last ')'.
Result<ProcessStat> parse_stat(const std::string& text);
Result<ProcessStat> read_stat(pid_t pid);
// The stat of one thread of `pid` (/proc/PID/task/TID/stat).
Result<ProcessStat> read_stat(pid_t pid, pid_t tid);

// A thread's /proc directory: /proc/PID for the leader, else /proc/PID/task/TID.
std::string task_dir(pid_t pid, pid_t tid);

// The thread ids of `pid` (the entries of /proc/PID/task), leader included.
Result<std::vector<pid_t>> list_threads(pid_t pid);

// The value after "Name:" in /proc/PID/status text, without the leading tab; "" when the
// field is absent.
std::string status_field(std::string_view status, std::string_view name);

}  // namespace pagescan::proc
