// Parsing /proc/PID/maps and /proc/PID/smaps into VMAs.
#include "proc/maps.hpp"

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "proc/proc_files.hpp"

namespace pagescan::proc {

bool Vma::has_flag(std::string_view code) const {
  for (const std::string& f : vm_flags) {
    if (f == code) return true;
  }
  return false;
}

bool Vma::special() const {
  return !path.empty() && path.front() == '[' && path != "[heap]" && path.rfind("[stack", 0) != 0 &&
         path.rfind("[anon:", 0) != 0;
}

namespace {

bool is_header(std::string_view line) {
  // "start-end perms offset dev inode [path]": the first field holds a '-' and no ':'.
  std::size_t space = line.find(' ');
  if (space == std::string_view::npos) return false;
  std::string_view first = line.substr(0, space);
  return first.find('-') != std::string_view::npos && first.find(':') == std::string_view::npos;
}

bool parse_header(std::string_view line, Vma& vma) {
  std::string copy(line);
  unsigned long long start = 0, end = 0, offset = 0, inode = 0;
  char perms[8] = {};
  int path_at = -1;
  int got = std::sscanf(copy.c_str(), "%llx-%llx %7s %llx %*x:%*x %llu %n", &start, &end, perms,
                        &offset, &inode, &path_at);
  if (got != 5) return false;
  vma.start = start;
  vma.end = end;
  vma.perms = perms;
  vma.offset = offset;
  vma.inode = inode;
  if (path_at > 0 && static_cast<std::size_t>(path_at) < copy.size()) {
    vma.path = copy.substr(static_cast<std::size_t>(path_at));
    while (!vma.path.empty() && vma.path.back() == ' ') vma.path.pop_back();
  }
  return true;
}

// "Name:   1234 kB" -> bytes.
std::uint64_t kb_value(std::string_view line) {
  std::size_t colon = line.find(':');
  std::string rest(line.substr(colon + 1));
  return std::strtoull(rest.c_str(), nullptr, 10) * 1024;
}

void parse_detail(std::string_view line, Vma& vma) {
  auto starts = [&](std::string_view key) { return line.rfind(key, 0) == 0; };
  if (starts("KernelPageSize:")) {
    vma.kernel_page_size = kb_value(line);
  } else if (starts("Rss:")) {
    vma.rss = kb_value(line);
  } else if (starts("Swap:")) {
    vma.swap = kb_value(line);
  } else if (starts("AnonHugePages:")) {
    vma.anon_huge_pages = kb_value(line);
  } else if (starts("ShmemPmdMapped:")) {
    vma.shmem_pmd_mapped = kb_value(line);
  } else if (starts("FilePmdMapped:")) {
    vma.file_pmd_mapped = kb_value(line);
  } else if (starts("VmFlags:")) {
    std::string_view rest = line.substr(8);
    while (!rest.empty()) {
      std::size_t b = rest.find_first_not_of(' ');
      if (b == std::string_view::npos) break;
      rest.remove_prefix(b);
      std::size_t e = rest.find(' ');
      vma.vm_flags.emplace_back(rest.substr(0, e));
      if (e == std::string_view::npos) break;
      rest.remove_prefix(e);
    }
  }
}

}  // namespace

Result<std::vector<Vma>> parse_maps(std::string_view text) {
  std::vector<Vma> vmas;
  std::size_t line_no = 0;
  while (!text.empty()) {
    std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    if (line.empty()) continue;
    if (is_header(line)) {
      Vma vma;
      if (!parse_header(line, vma) || vma.end < vma.start) {
        return Error(
            EINVAL, ErrorKind::kernel_failure,
            "malformed maps line " + std::to_string(line_no) + ": '" + std::string(line) + "'");
      }
      vmas.push_back(std::move(vma));
    } else if (!vmas.empty()) {
      parse_detail(line, vmas.back());
    } else {
      return Error(EINVAL, ErrorKind::kernel_failure,
                   "malformed smaps: line " + std::to_string(line_no) + " before any VMA");
    }
  }
  return vmas;
}

Result<std::vector<Vma>> read_vmas(pid_t pid, bool with_details) {
  std::string path = (pid ? "/proc/" + std::to_string(pid) : std::string("/proc/self")) +
                     (with_details ? "/smaps" : "/maps");
  auto text = read_text_file(path);
  if (!text) {
    int err = text.error().errno_value();
    if (err == ENOENT || err == ESRCH) {
      return Error(ESRCH, ErrorKind::no_such_process,
                   "read " + path + ": no process with pid " + std::to_string(pid));
    }
    return text.error();
  }
  return parse_maps(*text);
}

}  // namespace pagescan::proc
