// Parsing /proc/PID/maps and /proc/PID/smaps into VMAs.
#include "proc/maps.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

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

// The general parser, for any line is_header() accepts: the sscanf formats define what a
// header is.
bool parse_header_slow(std::string_view line, Vma& vma) {
  std::string copy(line);
  unsigned long long start = 0, end = 0, offset = 0, inode = 0;
  unsigned major = 0, minor = 0;
  char perms[8] = {};
  int path_at = -1;
  int got = std::sscanf(copy.c_str(), "%llx-%llx %7s %llx %x:%x %llu %n", &start, &end, perms,
                        &offset, &major, &minor, &inode, &path_at);
  if (got != 7) return false;
  vma.dev_major = major;
  vma.dev_minor = minor;
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

// A field of 1 to `max_digits` digits in `base` (16 or 10) ending at `stop`; advances `at`.
bool take_number(std::string_view line, std::size_t& at, int base, std::size_t max_digits,
                 char stop, std::uint64_t& value) {
  std::size_t digits = 0;
  value = 0;
  for (; at < line.size() && line[at] != stop; ++at, ++digits) {
    char c = line[at];
    unsigned d;
    if (c >= '0' && c <= '9') {
      d = static_cast<unsigned>(c - '0');
    } else if (base == 16 && c >= 'a' && c <= 'f') {
      d = static_cast<unsigned>(c - 'a' + 10);
    } else {
      return false;
    }
    value = value * static_cast<unsigned>(base) + d;
  }
  if (digits == 0 || digits > max_digits) return false;
  if (stop != '\0') {
    if (at >= line.size()) return false;
    ++at;  // the separator
  }
  return true;
}

// The kernel's own format ("%08lx-%08lx %c%c%c%c %08llx %02x:%02x %lu " then the path),
// parsed without copying the line: scanning thousands of VMAs per emulated scan must
// cost less than the pagemap reads. Returns false for anything else, which then goes
// through parse_header_slow(); for the lines it accepts both give the same VMA.
bool parse_header_fast(std::string_view line, Vma& vma) {
  std::size_t at = 0;
  std::uint64_t start = 0, end = 0, offset = 0, major = 0, minor = 0, inode = 0;
  if (!take_number(line, at, 16, 16, '-', start) || !take_number(line, at, 16, 16, ' ', end)) {
    return false;
  }
  std::size_t perms_at = at;
  while (at < line.size() && line[at] != ' ') {
    char c = line[at];
    if (c == '\0' || c == '\t' || c == '\r' || c == '\v' || c == '\f') return false;
    ++at;
  }
  std::size_t perms_len = at - perms_at;
  if (perms_len == 0 || perms_len > 7 || at >= line.size()) return false;
  ++at;
  if (!take_number(line, at, 16, 16, ' ', offset) || !take_number(line, at, 16, 8, ':', major) ||
      !take_number(line, at, 16, 8, ' ', minor)) {
    return false;
  }
  // The inode ends the line or is followed by spaces and the path.
  std::size_t inode_at = at;
  while (at < line.size() && line[at] >= '0' && line[at] <= '9') ++at;
  if (at == inode_at || at - inode_at > 19) return false;
  if (at < line.size() && line[at] != ' ') return false;
  std::size_t inode_end = at;
  if (!take_number(line.substr(0, inode_end), inode_at, 10, 19, '\0', inode)) return false;
  while (at < line.size() && line[at] == ' ') ++at;
  // sscanf's " %n" would skip other white space too.
  if (at < line.size() &&
      (line[at] == '\t' || line[at] == '\r' || line[at] == '\v' || line[at] == '\f')) {
    return false;
  }
  vma.start = start;
  vma.end = end;
  vma.dev_major = static_cast<std::uint32_t>(major);
  vma.dev_minor = static_cast<std::uint32_t>(minor);
  vma.perms.assign(line.substr(perms_at, perms_len));
  vma.offset = offset;
  vma.inode = inode;
  std::string_view path = line.substr(at);
  while (!path.empty() && path.back() == ' ') path.remove_suffix(1);
  vma.path.assign(path);
  return true;
}

bool parse_header(std::string_view line, Vma& vma) {
  return parse_header_fast(line, vma) || parse_header_slow(line, vma);
}

// "Name:   1234 kB" -> bytes.
std::uint64_t kb_value(std::string_view line) {
  std::size_t colon = line.find(':');
  std::string rest(line.substr(colon + 1));
  return std::strtoull(rest.c_str(), nullptr, 10) * 1024;
}

void parse_detail(std::string_view line, Vma& vma) {
  auto starts = [&](std::string_view key) { return line.rfind(key, 0) == 0; };
  const std::size_t colon = line.find(':');
  if (colon != std::string_view::npos) {
    if (auto field = smaps_field_named(line.substr(0, colon))) {
      vma.figures.set(*field, kb_value(line));
    }
  }
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
    vma.vm_flags.reserve(24);
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

std::vector<Vma> sorted_disjoint(std::vector<Vma> listed) {
  std::vector<Vma> out;
  out.reserve(listed.size());
  std::uint64_t floor = 0;
  for (Vma& v : listed) {
    if (v.end <= floor) continue;  // wholly below what was listed before: seen already
    if (v.start < floor) {
      if (v.inode != 0) v.offset += floor - v.start;  // the offset is the start's
      v.start = floor;
    }
    floor = v.end;
    out.push_back(std::move(v));
  }
  return out;
}

namespace {

// The maps or smaps file under a /proc directory.
std::string vmas_path_in(const std::string& dir, bool with_details) {
  return dir + (with_details ? "/smaps" : "/maps");
}

std::string vmas_path(pid_t pid, bool with_details) {
  return vmas_path_in(pid ? "/proc/" + std::to_string(pid) : std::string("/proc/self"),
                      with_details);
}

// A maps file of a target (pid > 0) that is missing or has no mm (ESRCH) means the target
// exited. The caller's own (pid 0) is a kernel interface: missing means no /proc here.
FileRole role_of(pid_t pid) {
  return pid ? FileRole::process : FileRole::kernel_interface;
}

Error read_error(const Error& error, const std::string& path, pid_t pid) {
  if (error.kind() == ErrorKind::no_such_process) {
    return Error(ESRCH, ErrorKind::no_such_process,
                 "read " + path + ": no process with pid " + std::to_string(pid));
  }
  return error;
}

// The start address of a header line, or false if `line` is not one.
bool header_start(std::string_view line, std::uint64_t& start) {
  if (!is_header(line)) return false;
  std::size_t at = 0;
  return take_number(line, at, 16, 16, '-', start);
}

// A listing read from the file, made sorted and disjoint (sorted_disjoint()).
Result<std::vector<Vma>> disjoint_listing(std::string_view text) {
  auto vmas = parse_maps(text);
  if (!vmas) return vmas;
  return sorted_disjoint(std::move(*vmas));
}

}  // namespace

Result<std::vector<Vma>> read_vmas(pid_t pid, bool with_details) {
  std::string path = vmas_path(pid, with_details);
  auto text = read_text_file(path, role_of(pid));
  if (!text) return read_error(text.error(), path, pid);
  return disjoint_listing(*text);
}

Result<std::vector<Vma>> read_vmas_in(const std::string& dir, pid_t pid, bool with_details) {
  std::string path = vmas_path_in(dir, with_details);
  auto text = read_text_file(path, role_of(pid));
  if (!text) return read_error(text.error(), path, pid);
  return disjoint_listing(*text);
}

Result<std::vector<Vma>> read_vmas_below(pid_t pid, bool with_details, std::uint64_t end) {
  std::string path = vmas_path(pid, with_details);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return read_error(file_error(errno, role_of(pid), "open " + path), path, pid);
  std::string text;
  std::size_t scanned = 0;  // complete lines before this offset have been looked at
  std::size_t cut = std::string::npos;
  bool last_needed = false;  // the current record's VMA reaches `end`
  char buf[16384];
  while (cut == std::string::npos) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      Error error = file_error(errno, role_of(pid), "read " + path);
      ::close(fd);
      return read_error(error, path, pid);
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    // Stop at the end of the record of the VMA reaching `end` (its header in maps, its
    // last line, VmFlags, in smaps), or else at the first VMA starting at or above it:
    // the kernel formats records as they are read, so for smaps this spares it the
    // page-table walks of all later VMAs but the few formatted ahead in the same read.
    for (std::size_t nl; (nl = text.find('\n', scanned)) != std::string::npos; scanned = nl + 1) {
      std::string_view line(text.data() + scanned, nl - scanned);
      std::uint64_t start = 0, vma_end = 0;
      if (header_start(line, start)) {
        if (start >= end) {
          cut = scanned;
          break;
        }
        std::size_t at = line.find('-') + 1;
        last_needed = take_number(line, at, 16, 16, ' ', vma_end) && vma_end >= end;
        if (last_needed && !with_details) {
          cut = nl + 1;
          break;
        }
      } else if (last_needed && line.rfind("VmFlags:", 0) == 0) {
        cut = nl + 1;
        break;
      }
    }
  }
  ::close(fd);
  if (cut != std::string::npos) text.resize(cut);
  return disjoint_listing(text);
}

namespace {

// Resets every field, keeping the strings' storage for the next record.
void reset(Vma& vma) {
  vma.start = vma.end = vma.offset = vma.inode = 0;
  vma.dev_major = vma.dev_minor = 0;
  vma.perms.clear();
  vma.path.clear();
  vma.kernel_page_size = vma.rss = vma.swap = 0;
  vma.anon_huge_pages = vma.shmem_pmd_mapped = vma.file_pmd_mapped = 0;
  vma.vm_flags.clear();
  vma.figures = SmapsFigures{};
}

}  // namespace

VmaReader& VmaReader::operator=(VmaReader&& other) noexcept {
  if (this == &other) return *this;
  close();
  fd_ = std::exchange(other.fd_, -1);
  details_ = other.details_;
  pid_ = other.pid_;
  path_ = std::move(other.path_);
  buf_ = std::move(other.buf_);
  pos_ = other.pos_;
  eof_ = other.eof_;
  line_no_ = other.line_no_;
  pending_ = std::move(other.pending_);
  has_pending_ = other.has_pending_;
  started_ = other.started_;
  return *this;
}

Result<VmaReader> VmaReader::open(pid_t pid, bool with_details) {
  return open_in(pid ? "/proc/" + std::to_string(pid) : std::string("/proc/self"), pid,
                 with_details);
}

Result<VmaReader> VmaReader::open_in(const std::string& dir, pid_t pid, bool with_details) {
  VmaReader r;
  r.path_ = vmas_path_in(dir, with_details);
  r.details_ = with_details;
  r.pid_ = pid;
  r.fd_ = ::open(r.path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (r.fd_ < 0) {
    return read_error(file_error(errno, role_of(pid), "open " + r.path_), r.path_, pid);
  }
  return r;
}

void VmaReader::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Error VmaReader::malformed(std::string_view line) const {
  return Error(EINVAL, ErrorKind::kernel_failure,
               "malformed maps line " + std::to_string(line_no_) + ": '" + std::string(line) +
                   "' in " + path_);
}

Result<bool> VmaReader::next_line(std::string_view& line) {
  while (true) {
    std::size_t nl = buf_.find('\n', pos_);
    if (nl != std::string::npos) {
      line = std::string_view(buf_.data() + pos_, nl - pos_);
      pos_ = nl + 1;
      ++line_no_;
      return true;
    }
    if (eof_ || fd_ < 0) {
      if (pos_ >= buf_.size()) return false;
      line = std::string_view(buf_.data() + pos_, buf_.size() - pos_);  // no final newline
      pos_ = buf_.size();
      ++line_no_;
      return true;
    }
    // Keep only the unconsumed tail, then read on: 16 KiB per read(2), as read_vmas_below.
    buf_.erase(0, pos_);
    pos_ = 0;
    constexpr std::size_t kRead = 16384;
    std::size_t had = buf_.size();
    buf_.resize(had + kRead);
    ssize_t n;
    do {
      n = ::read(fd_, buf_.data() + had, kRead);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      Error error = file_error(errno, role_of(pid_), "read " + path_);
      buf_.resize(had);
      return read_error(error, path_, pid_);
    }
    buf_.resize(had + static_cast<std::size_t>(n));
    if (n == 0) eof_ = true;
  }
}

Result<bool> VmaReader::next(Vma& vma) {
  std::string_view line;
  if (!has_pending_) {
    while (true) {
      auto got = next_line(line);
      if (!got) return got.error();
      if (!*got) return false;
      if (line.empty()) continue;
      if (!is_header(line)) {
        // Only smaps has other lines, and only inside a record (parse_maps' rule).
        if (!started_) {
          return Error(
              EINVAL, ErrorKind::kernel_failure,
              "malformed smaps: line " + std::to_string(line_no_) + " before any VMA in " + path_);
        }
        continue;
      }
      reset(pending_);
      if (!parse_header(line, pending_) || pending_.end < pending_.start) return malformed(line);
      started_ = true;
      break;
    }
  }
  has_pending_ = false;
  std::swap(vma, pending_);
  if (!details_) return true;
  while (true) {
    auto got = next_line(line);
    if (!got) return got.error();
    if (!*got) return true;  // the last record
    if (line.empty()) continue;
    if (is_header(line)) {
      // A record without VmFlags (an older kernel): this header starts the next one.
      reset(pending_);
      if (!parse_header(line, pending_) || pending_.end < pending_.start) return malformed(line);
      has_pending_ = true;
      return true;
    }
    parse_detail(line, vma);
    if (line.rfind("VmFlags:", 0) == 0) return true;
  }
}

}  // namespace pagescan::proc
