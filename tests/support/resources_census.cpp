// Counting what a process holds, from /proc/self, for resource-leak tests.
#include "support/resources_census.hpp"

#include <dirent.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "proc/maps.hpp"

namespace pagescan::test::leaks {

std::map<int, std::string> open_fds() {
  std::map<int, std::string> fds;
  DIR* dir = ::opendir("/proc/self/fd");
  if (!dir) return fds;
  const int own = ::dirfd(dir);
  while (dirent* e = ::readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    const int fd = std::atoi(e->d_name);
    if (fd == own) continue;
    char link[512] = {};
    const std::string path = std::string("/proc/self/fd/") + e->d_name;
    const ssize_t n = ::readlink(path.c_str(), link, sizeof link - 1);
    fds[fd] = n > 0 ? std::string(link, static_cast<std::size_t>(n)) : std::string("?");
  }
  ::closedir(dir);
  return fds;
}

std::size_t userfaultfd_count() {
  std::size_t n = 0;
  for (const auto& [fd, target] : open_fds()) n += target == "anon_inode:[userfaultfd]";
  return n;
}

std::vector<std::string> mapping_lines() {
  std::ifstream in("/proc/self/maps");
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::size_t mapping_count() {
  return mapping_lines().size();
}

bool uffd_wp_registered(std::uint64_t start, std::uint64_t end) {
  auto vmas = proc::read_vmas(0, true);
  if (!vmas) {
    ADD_FAILURE() << vmas.error().message();
    return true;
  }
  for (const proc::Vma& v : *vmas) {
    if (v.start < end && start < v.end && v.uffd_wp()) return true;
  }
  return false;
}

struct sigaction sigsegv_disposition() {
  struct sigaction now = {};
  ::sigaction(SIGSEGV, nullptr, &now);
  return now;
}

Census take_census() {
  Census c;
  c.fds = open_fds();
  for (const auto& [fd, target] : c.fds) c.userfaultfds += target == "anon_inode:[userfaultfd]";
  return c;
}

testing::AssertionResult same_fds(const Census& before) {
  const auto now = open_fds();
  std::ostringstream diff;
  for (const auto& [fd, target] : now) {
    auto it = before.fds.find(fd);
    if (it == before.fds.end()) {
      diff << " leaked fd " << fd << " -> " << target << ";";
    } else if (it->second != target) {
      diff << " fd " << fd << " was " << it->second << ", now " << target << ";";
    }
  }
  for (const auto& [fd, target] : before.fds) {
    if (!now.count(fd)) diff << " closed fd " << fd << " -> " << target << ";";
  }
  if (diff.str().empty()) return testing::AssertionSuccess();
  return testing::AssertionFailure()
         << before.fds.size() << " fds before, " << now.size() << " after:" << diff.str();
}

namespace {

// glibc adds the kernel's SA_RESTORER (not in its headers; 0x04000000 on x86-64 and
// arm64) to every handler it installs.
constexpr int kSaRestorer = 0x04000000;

// The first 64 signals of a mask, as a number.
std::uint64_t mask_bits(const sigset_t& mask) {
  std::uint64_t bits = 0;
  for (int sig = 1; sig <= 64; ++sig) {
    if (sigismember(&mask, sig) == 1) bits |= std::uint64_t{1} << (sig - 1);
  }
  return bits;
}

}  // namespace

testing::AssertionResult same_disposition(const struct sigaction& before) {
  const struct sigaction now = sigsegv_disposition();
  // sa_handler and sa_sigaction share storage. Restoring SIG_DFL through sigaction()
  // reads back with SA_RESTORER: not a change.
  const int flags = now.sa_flags & ~kSaRestorer;
  const int flags_before = before.sa_flags & ~kSaRestorer;
  const bool same =
      reinterpret_cast<void*>(now.sa_sigaction) == reinterpret_cast<void*>(before.sa_sigaction) &&
      flags == flags_before && mask_bits(now.sa_mask) == mask_bits(before.sa_mask);
  if (same) return testing::AssertionSuccess();
  return testing::AssertionFailure()
         << "SIGSEGV handler " << reinterpret_cast<void*>(now.sa_sigaction) << " flags 0x"
         << std::hex << flags << " mask 0x" << mask_bits(now.sa_mask) << ", was "
         << reinterpret_cast<void*>(before.sa_sigaction) << " flags 0x" << flags_before
         << " mask 0x" << mask_bits(before.sa_mask);
}

std::string run_as_child(const std::function<std::string()>& body) {
  int report[2];
  if (::pipe(report) != 0) return "pipe failed";
  const pid_t pid = ::fork();
  if (pid < 0) return "fork failed";
  if (pid == 0) {
    ::close(report[0]);
    std::string verdict = body();
    if (verdict.empty()) verdict = "ok";
    (void)!::write(report[1], verdict.data(), verdict.size());
    ::_exit(0);
  }
  ::close(report[1]);
  std::string text;
  char buf[256];
  for (ssize_t n; (n = ::read(report[0], buf, sizeof buf)) > 0;) {
    text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(report[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (text.empty()) {
    return "the child reported nothing (status 0x" + [&] {
      std::ostringstream s;
      s << std::hex << status;
      return s.str();
    }() + ")";
  }
  return text == "ok" ? std::string() : text;
}

}  // namespace pagescan::test::leaks
