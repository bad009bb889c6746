// Building a core's notes (see core_notes.hpp).
//
// The structures are glibc's <sys/procfs.h> ones, which are the kernel's ELF core ABI
// for x86-64 (struct elf_prstatus 336 bytes, elf_prpsinfo 136): static_asserts below.
// Note names: "CORE" for the standard notes, "LINUX" for NT_X86_XSTATE, as the kernel
// writes them (fs/binfmt_elf.c, arch regsets).
#include "dump/core_notes.hpp"

#include <elf.h>
#include <sys/procfs.h>

#include <algorithm>
#include <cstring>
#include <sstream>

#include "proc/proc_files.hpp"

namespace pagescan::dump {

namespace {

static_assert(sizeof(elf_prstatus) == 336, "x86-64 struct elf_prstatus");
static_assert(sizeof(elf_prpsinfo) == 136, "x86-64 struct elf_prpsinfo");
static_assert(sizeof(user_regs_struct) == sizeof(elf_gregset_t), "pr_reg is user_regs_struct");
static_assert(sizeof(siginfo_t) == 128);

void add_note(std::string& out, const char* name, std::uint32_t type, const void* desc,
              std::size_t size) {
  const std::uint32_t namesz = static_cast<std::uint32_t>(std::strlen(name) + 1);
  const std::uint32_t descsz = static_cast<std::uint32_t>(size);
  const std::uint32_t header[3] = {namesz, descsz, type};
  out.append(reinterpret_cast<const char*>(header), sizeof header);
  out.append(name, namesz);
  out.append((4 - namesz % 4) % 4, '\0');
  out.append(static_cast<const char*>(desc), size);
  out.append((4 - size % 4) % 4, '\0');
}

// The fields of /proc/PID/stat after the comm, split (field 3, the state, is [0]).
std::vector<std::string> stat_fields(const std::string& text) {
  std::vector<std::string> fields;
  std::size_t close = text.rfind(')');
  if (close == std::string::npos) return fields;
  std::istringstream rest(text.substr(close + 1));
  for (std::string f; rest >> f;) fields.push_back(f);
  return fields;
}

long field(const std::vector<std::string>& f, std::size_t stat_number) {
  // stat_number as in proc(5), 1-based: 3 is the state, f[0].
  const std::size_t i = stat_number - 3;
  return i < f.size() ? std::strtol(f[i].c_str(), nullptr, 10) : 0;
}

timeval ticks(long t) {
  static const long hz = ::sysconf(_SC_CLK_TCK);
  timeval tv{};
  tv.tv_sec = t / hz;
  tv.tv_usec = (t % hz) * (1'000'000 / hz);
  return tv;
}

unsigned long hex_field(const std::string& status, std::string_view name) {
  return std::strtoul(proc::status_field(status, name).c_str(), nullptr, 16);
}

Result<std::string> read(const std::string& path) {
  return proc::read_text_file(path, proc::FileRole::process);
}

Result<elf_prpsinfo> prpsinfo(pid_t pid) {
  const std::string dir = "/proc/" + std::to_string(pid);
  auto stat = read(dir + "/stat");
  if (!stat) return stat.error();
  auto status = read(dir + "/status");
  if (!status) return status.error();
  auto cmdline = read(dir + "/cmdline");
  if (!cmdline) return cmdline.error();
  elf_prpsinfo p{};
  const auto f = stat_fields(*stat);
  static const char kStates[] = "RSDTZW";
  const char state = f.empty() ? 'R' : f[0][0];
  const char* at = std::strchr(kStates, state);
  p.pr_state = static_cast<char>(at ? at - kStates : 0);
  p.pr_sname = state;
  p.pr_zomb = state == 'Z';
  p.pr_nice = static_cast<char>(field(f, 19));
  p.pr_flag = static_cast<unsigned long>(field(f, 9));
  p.pr_uid =
      static_cast<unsigned>(std::strtoul(proc::status_field(*status, "Uid").c_str(), nullptr, 10));
  p.pr_gid =
      static_cast<unsigned>(std::strtoul(proc::status_field(*status, "Gid").c_str(), nullptr, 10));
  p.pr_pid = pid;
  p.pr_ppid = static_cast<int>(field(f, 4));
  p.pr_pgrp = static_cast<int>(field(f, 5));
  p.pr_sid = static_cast<int>(field(f, 6));
  const std::string name = proc::status_field(*status, "Name");
  std::memcpy(p.pr_fname, name.data(), std::min(name.size(), sizeof p.pr_fname - 1));
  // psargs: the command line, arguments separated by spaces, cut at 79 bytes.
  std::string args = *cmdline;
  while (!args.empty() && args.back() == '\0') args.pop_back();
  std::replace(args.begin(), args.end(), '\0', ' ');
  std::memcpy(p.pr_psargs, args.data(), std::min(args.size(), sizeof p.pr_psargs - 1));
  return p;
}

Result<elf_prstatus> prstatus(pid_t pid, const ThreadState& t) {
  const std::string dir = proc::task_dir(pid, t.tid);
  auto stat = read(dir + "/stat");
  if (!stat) return stat.error();
  auto status = read(dir + "/status");
  if (!status) return status.error();
  const auto f = stat_fields(*stat);
  elf_prstatus s{};
  s.pr_info.si_signo = t.siginfo.si_signo;
  s.pr_info.si_code = t.siginfo.si_code;
  s.pr_info.si_errno = t.siginfo.si_errno;
  s.pr_cursig = static_cast<short>(t.siginfo.si_signo);
  s.pr_sigpend = hex_field(*status, "SigPnd");
  s.pr_sighold = hex_field(*status, "SigBlk");
  s.pr_pid = t.tid;
  s.pr_ppid = static_cast<int>(field(f, 4));
  s.pr_pgrp = static_cast<int>(field(f, 5));
  s.pr_sid = static_cast<int>(field(f, 6));
  s.pr_utime = ticks(field(f, 14));
  s.pr_stime = ticks(field(f, 15));
  s.pr_cutime = ticks(field(f, 16));
  s.pr_cstime = ticks(field(f, 17));
  std::memcpy(&s.pr_reg, &t.regs, sizeof t.regs);
  s.pr_fpvalid = 1;
  return s;
}

// NT_FILE: count, page size, then (start, end, file offset in pages) per file mapping,
// then their names, each NUL-terminated.
std::string file_note(const std::vector<proc::Vma>& vmas, std::uint64_t page_size) {
  std::vector<std::uint64_t> words{0, page_size};
  std::string names;
  for (const proc::Vma& vma : vmas) {
    if (vma.inode == 0 || vma.path.empty() || vma.path.front() != '/') continue;
    words.push_back(vma.start);
    words.push_back(vma.end);
    words.push_back(vma.offset / page_size);
    names += vma.path;
    names += '\0';
    ++words[0];
  }
  std::string out(reinterpret_cast<const char*>(words.data()), words.size() * sizeof words[0]);
  return out + names;
}

}  // namespace

Result<std::string> build_notes(pid_t pid, const std::vector<ThreadState>& threads,
                                const std::vector<proc::Vma>& vmas, std::uint64_t page_size) {
  std::string out;
  auto ps = prpsinfo(pid);
  if (!ps) return ps.error();
  add_note(out, "CORE", NT_PRPSINFO, &*ps, sizeof *ps);
  for (const ThreadState& t : threads) {
    auto st = prstatus(pid, t);
    if (!st) return st.error();
    add_note(out, "CORE", NT_PRSTATUS, &*st, sizeof *st);
    add_note(out, "CORE", NT_FPREGSET, &t.fpregs, sizeof t.fpregs);
    if (!t.xstate.empty()) add_note(out, "LINUX", NT_X86_XSTATE, t.xstate.data(), t.xstate.size());
    add_note(out, "CORE", NT_SIGINFO, &t.siginfo, sizeof t.siginfo);
  }
  auto auxv = read("/proc/" + std::to_string(pid) + "/auxv");
  if (!auxv) return auxv.error();
  add_note(out, "CORE", NT_AUXV, auxv->data(), auxv->size());
  const std::string files = file_note(vmas, page_size);
  add_note(out, "CORE", NT_FILE, files.data(), files.size());
  return out;
}

}  // namespace pagescan::dump
