// Helpers for the core dump tests (see core_dump_helpers.hpp).
#include "support/core_dump_helpers.hpp"

#include <dirent.h>
#include <elf.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>

namespace pagescan::test {

std::string dump_target_path() {
  return std::string(PAGESCAN_TEST_TARGETS_DIR) + "/dump_target";
}

DumpTarget::DumpTarget(long pages_, long sleep_ms, bool writer)
    : PipedProgram(
          dump_target_path(),
          writer
              ? std::vector<std::string>{std::to_string(pages_), std::to_string(sleep_ms), "writer"}
              : std::vector<std::string>{std::to_string(pages_), std::to_string(sleep_ms)}),
      pages(pages_) {
  if (pid_ <= 0) return;
  std::istringstream ready(read_line());
  std::string word;
  pid_t reported = 0;
  ready >> word >> reported;
  if (word != "ready" || reported != pid_) {
    error_ = "dump_target did not say it was ready";
    return;
  }
  auto lines = command("addrs");
  std::istringstream in(lines.empty() ? "" : lines.front());
  in >> word >> std::hex >> global >> heap >> region >> reservation >> untouched >> dontdump >>
      protnone >> shared >> progress;
  if (word != "addrs") error_ = "dump_target did not give its addresses";
}

namespace {

// Waits (up to 10 s) until `pid` has `threads` threads (0: any number) and `holds` is true
// of every thread's /proc directory.
bool wait_for_threads(pid_t pid, int threads,
                      const std::function<bool(const std::string&)>& holds) {
  const std::string dir = "/proc/" + std::to_string(pid) + "/task";
  for (int waited = 0; waited < 10'000; waited += 5) {
    int yes = 0, seen = 0;
    if (DIR* d = ::opendir(dir.c_str())) {
      while (dirent* e = ::readdir(d)) {
        if (e->d_name[0] == '.') continue;
        ++seen;
        if (holds(dir + "/" + e->d_name)) ++yes;
      }
      ::closedir(d);
    }
    if (seen > 0 && yes == seen && (threads == 0 || seen == threads)) return true;
    ::usleep(5'000);
  }
  return false;
}

}  // namespace

bool DumpTarget::wait_blocked() {
  return wait_for_threads(pid_, 4, [](const std::string& task) {
    std::ifstream in(task + "/syscall");
    long number = -1;
    // read, nanosleep, futex, clock_nanosleep, and restart_syscall: a nanosleep resumed
    // after a ptrace stop (as after any signal) continues in it
    return in >> number &&
           (number == 0 || number == 35 || number == 202 || number == 230 || number == 219);
  });
}

bool DumpTarget::stop() {
  ::kill(pid_, SIGSTOP);
  return wait_for_threads(pid_, 0, [](const std::string& task) {
    std::ifstream in(task + "/stat");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::size_t close = text.rfind(')');
    return close != std::string::npos && close + 2 < text.size() && text[close + 2] == 'T';
  });
}

void DumpTarget::resume() {
  ::kill(pid_, SIGCONT);
}

std::vector<std::string> DumpTarget::command(const std::string& text) {
  std::vector<std::string> lines;
  if (!send(text)) return lines;
  for (;;) {
    std::string line = read_line();
    if (line.empty() || line == "done") break;
    lines.push_back(line);
  }
  return lines;
}

CoreReader::CoreReader(const std::string& path) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) {
    error_ = "cannot open " + path;
    return;
  }
  Elf64_Ehdr eh{};
  if (::pread(fd_, &eh, sizeof eh, 0) != sizeof eh || eh.e_type != ET_CORE ||
      eh.e_machine != EM_X86_64) {
    error_ = "not an x86-64 ELF core";
    return;
  }
  std::vector<Elf64_Phdr> ph(eh.e_phnum);
  const auto bytes = static_cast<ssize_t>(ph.size() * sizeof(Elf64_Phdr));
  if (::pread(fd_, ph.data(), static_cast<std::size_t>(bytes), static_cast<off_t>(eh.e_phoff)) !=
      bytes) {
    error_ = "short program headers";
    return;
  }
  for (const Elf64_Phdr& p : ph) {
    if (p.p_type == PT_LOAD) {
      segments_.push_back(CoreSegment{p.p_vaddr, p.p_memsz, p.p_filesz, p.p_offset, p.p_flags});
    } else if (p.p_type == PT_NOTE) {
      std::string blob(p.p_filesz, '\0');
      if (::pread(fd_, blob.data(), blob.size(), static_cast<off_t>(p.p_offset)) !=
          static_cast<ssize_t>(blob.size())) {
        error_ = "short notes";
        return;
      }
      std::size_t at = 0;
      while (at + 12 <= blob.size()) {
        std::uint32_t h[3];
        std::memcpy(h, blob.data() + at, sizeof h);
        at += 12;
        CoreNote n;
        n.type = h[2];
        n.name = std::string(blob.data() + at, h[0] ? h[0] - 1 : 0);
        at += (h[0] + 3) / 4 * 4;
        n.desc = blob.substr(at, h[1]);
        at += (h[1] + 3) / 4 * 4;
        notes_.push_back(std::move(n));
      }
    }
  }
}

CoreReader::~CoreReader() {
  if (fd_ >= 0) ::close(fd_);
}

const CoreSegment* CoreReader::segment_at(std::uint64_t address) const {
  for (const CoreSegment& s : segments_) {
    if (address >= s.vaddr && address < s.vaddr + s.memsz) return &s;
  }
  return nullptr;
}

std::string CoreReader::read(std::uint64_t address, std::size_t length) const {
  const CoreSegment* s = segment_at(address);
  if (!s || address + length > s->vaddr + s->filesz) return {};
  std::string out(length, '\0');
  if (::pread(fd_, out.data(), length, static_cast<off_t>(s->offset + (address - s->vaddr))) !=
      static_cast<ssize_t>(length)) {
    return {};
  }
  return out;
}

std::string read_process_memory(pid_t pid, std::uint64_t address, std::size_t length) {
  const int fd = ::open(("/proc/" + std::to_string(pid) + "/mem").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  std::string out(length, '\0');
  const ssize_t n = ::pread(fd, out.data(), length, static_cast<off_t>(address));
  ::close(fd);
  return n == static_cast<ssize_t>(length) ? out : std::string();
}

std::string run_capture(const std::string& command_line) {
  std::string out;
  FILE* p = ::popen((command_line + " 2>&1").c_str(), "r");
  if (!p) return out;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  ::pclose(p);
  return out;
}

std::string python_with_drgn() {
  for (const char* python : {"python3", "/usr/bin/python3"}) {
    if (run_capture(std::string(python) + " -c 'import drgn; print(\"drgn-ok\")'")
            .find("drgn-ok") != std::string::npos) {
      return python;
    }
  }
  return {};
}

}  // namespace pagescan::test
