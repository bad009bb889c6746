// Which processes the exporter counts (--pid, --match, --all) and the group each one's
// pages are added to (--group-by comm|cgroup|pid), read from /proc at each collection.
#pragma once

#include <sys/types.h>

#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "cli/arguments.hpp"

namespace pagescan::cli {

enum class GroupBy { comm, cgroup, pid };
// "comm", "cgroup" or "pid"; else "bad --group-by 'x': expected comm, cgroup or pid".
Parsed<GroupBy> parse_group_by(const std::string& text);

struct Selection {
  bool all = false;
  std::vector<pid_t> pids;          // --pid, in the order given
  std::optional<std::regex> match;  // --match, searched in comm and in the cmdline
  std::string match_text;           // the pattern as given
};
// "--pid 12": a pid > 0. Error: "bad --pid '12x': expected a process id (a number > 0)".
Parsed<pid_t> parse_pid(const std::string& text);
// The regex (ECMAScript). Error: "bad --match '(': <why> (expected a regular expression)".
Parsed<std::regex> parse_match(const std::string& text);

// What /proc says of a process: its command name, command line (arguments joined by
// spaces) and cgroup (the cgroup v2 path, else the first hierarchy's), each read only
// when asked for (empty otherwise): a collection reads what its selection and grouping
// use, no more.
struct ProcessInfo {
  pid_t pid = 0;
  std::string comm;
  std::string cmdline;
  std::string cgroup;
};
struct InfoWanted {
  bool cmdline = false;
  bool cgroup = false;
};
// nullopt when the process is gone (its /proc files cannot be read).
std::optional<ProcessInfo> read_process_info(pid_t pid, InfoWanted wanted);

// What a grouping needs read of each process (the cgroup for --group-by cgroup).
InfoWanted info_for(GroupBy by);

// The pids to look at now: --all's every numeric /proc entry, else --pid's then every
// process whose comm or cmdline --match finds (each pid once). A --pid that names no
// process is returned all the same: the collection counts it as skipped (exited).
// `infos` receives what was read of each returned pid to choose it (comm and cmdline
// for --match), nullopt where nothing was: --all and --pid read nothing, so a kernel
// thread (most of a host's pids) costs the collection one read of its stat.
std::vector<pid_t> select_processes(const Selection& selection, InfoWanted wanted,
                                    std::vector<std::optional<ProcessInfo>>& infos);

// The group label of a process.
std::string group_of(const ProcessInfo& info, GroupBy by);

}  // namespace pagescan::cli
