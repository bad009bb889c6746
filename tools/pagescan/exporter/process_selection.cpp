// Process selection and grouping for the exporter (process_selection.hpp).
#include "exporter/process_selection.hpp"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <iterator>
#include <set>
#include <sstream>

#include "cli/proc_text.hpp"

namespace pagescan::cli {

Parsed<GroupBy> parse_group_by(const std::string& text) {
  if (text == "comm") return {GroupBy::comm, std::nullopt};
  if (text == "cgroup") return {GroupBy::cgroup, std::nullopt};
  if (text == "pid") return {GroupBy::pid, std::nullopt};
  return {std::nullopt, UsageError{"bad --group-by '" + text + "': expected comm, cgroup or pid"}};
}

Parsed<pid_t> parse_pid(const std::string& text) {
  pid_t pid = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, pid);
  if (text.empty() || ec != std::errc() || ptr != end || pid <= 0) {
    return {std::nullopt,
            UsageError{"bad --pid '" + text + "': expected a process id (a number > 0)"}};
  }
  return {pid, std::nullopt};
}

Parsed<std::regex> parse_match(const std::string& text) {
  // An empty pattern finds every process: --all says that.
  if (text.empty()) {
    return {std::nullopt,
            UsageError{"bad --match '': expected a regular expression (not empty; --all "
                       "counts every process)"}};
  }
  try {
    return {std::regex(text, std::regex::ECMAScript | std::regex::optimize), std::nullopt};
  } catch (const std::regex_error& e) {
    return {std::nullopt, UsageError{"bad --match '" + text + "': " + e.what() +
                                     " (expected a regular expression)"}};
  }
}

namespace {

// "0::/system.slice/x.service" (v2) wins; else the first line's path (v1).
std::string cgroup_path(const std::string& text) {
  std::istringstream in(text);
  std::string line, first;
  while (std::getline(in, line)) {
    const std::size_t colon = line.find(':', line.find(':') + 1);
    if (colon == std::string::npos) continue;
    if (line.rfind("0::", 0) == 0) return line.substr(colon + 1);
    if (first.empty()) first = line.substr(colon + 1);
  }
  return first;
}

std::vector<pid_t> all_pids() {
  std::vector<pid_t> out;
  DIR* dir = ::opendir("/proc");
  if (!dir) return out;
  while (const dirent* e = ::readdir(dir)) {
    pid_t pid = 0;
    const char* end = e->d_name + std::char_traits<char>::length(e->d_name);
    auto [ptr, ec] = std::from_chars(e->d_name, end, pid);
    if (ec == std::errc() && ptr == end && pid > 0) out.push_back(pid);
  }
  ::closedir(dir);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

std::optional<ProcessInfo> read_process_info(pid_t pid, InfoWanted wanted) {
  const std::string dir = "/proc/" + std::to_string(pid);
  ProcessInfo info;
  info.pid = pid;
  auto comm = read_proc_text(dir + "/comm");
  if (!comm) return std::nullopt;
  info.comm = std::move(*comm);
  if (!info.comm.empty() && info.comm.back() == '\n') info.comm.pop_back();
  if (wanted.cmdline) {
    auto cmdline = read_proc_text(dir + "/cmdline");
    if (!cmdline) return std::nullopt;
    info.cmdline = std::move(*cmdline);
    while (!info.cmdline.empty() && info.cmdline.back() == '\0') info.cmdline.pop_back();
    std::replace(info.cmdline.begin(), info.cmdline.end(), '\0', ' ');
  }
  if (wanted.cgroup) {
    auto cgroup = read_proc_text(dir + "/cgroup");
    if (!cgroup) return std::nullopt;
    info.cgroup = cgroup_path(*cgroup);
  }
  return info;
}

InfoWanted info_for(GroupBy by) {
  InfoWanted wanted;
  wanted.cgroup = by == GroupBy::cgroup;
  return wanted;
}

std::vector<pid_t> select_processes(const Selection& selection, InfoWanted wanted,
                                    std::vector<std::optional<ProcessInfo>>& infos) {
  std::vector<pid_t> out;
  infos.clear();
  std::set<pid_t> seen;
  const auto take = [&](pid_t pid, std::optional<ProcessInfo> info) {
    if (!seen.insert(pid).second) return;
    out.push_back(pid);
    infos.push_back(std::move(info));
  };
  if (selection.all) {
    for (pid_t pid : all_pids()) take(pid, std::nullopt);
    return out;
  }
  for (pid_t pid : selection.pids) take(pid, std::nullopt);
  if (selection.match) {
    wanted.cmdline = true;
    for (pid_t pid : all_pids()) {
      // pagescan's own command line holds the pattern: never a match of itself.
      if (seen.count(pid) || pid == ::getpid()) continue;
      auto info = read_process_info(pid, wanted);
      if (!info) continue;
      if (std::regex_search(info->comm, *selection.match) ||
          std::regex_search(info->cmdline, *selection.match)) {
        take(pid, std::move(info));
      }
    }
  }
  return out;
}

std::string group_of(const ProcessInfo& info, GroupBy by) {
  switch (by) {
    case GroupBy::comm:
      return info.comm;
    case GroupBy::cgroup:
      return info.cgroup;
    case GroupBy::pid:
      return std::to_string(info.pid);
  }
  return info.comm;
}

}  // namespace pagescan::cli
