// Reading small /proc and /sys text files, and the fields of /proc/PID/stat we need.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pagescan/result.hpp"

namespace pagescan::proc {

// What a /proc or /sys file is to its reader, which decides what a failure to open or
// read it means.
enum class FileRole {
  // A kernel interface (/sys/kernel/mm/..., /proc/meminfo, /proc/self/...): missing
  // (ENOENT) means this kernel lacks it, kind unsupported.
  kernel_interface,
  // A file of a target process (/proc/PID/...): missing (ENOENT) or ESRCH means the
  // process is gone, kind no_such_process.
  process,
};

// The error of opening or reading `what` (e.g. "open /proc/1/stat") failed with `err`:
// "<what>: <strerror>", kind by the role (EACCES, EPERM: permission; any other errno:
// kernel_failure). A reader cannot know beforehand which errno it gets, so this is the
// one place an errno selects the kind, and only within the role the caller states.
Error file_error(int err, FileRole role, std::string what);

// The whole file (read in a loop until EOF). Errors carry the path and errno, with the
// kind file_error() gives for `role`.
Result<std::string> read_text_file(const std::string& path,
                                   FileRole role = FileRole::kernel_interface);

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
