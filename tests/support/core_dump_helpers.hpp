// Helpers for the core dump tests: the dump_target program (tests/targets/dump_target.c)
// and a reader of the ELF cores the dumper writes, independent of the dumper's code.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "support/piped_program.hpp"

namespace pagescan::test {

// dump_target started with pipes; its addresses read with "addrs".
class DumpTarget : public PipedProgram {
 public:
  DumpTarget(long pages, long sleep_ms, bool writer = false);
  // Waits (up to 10 s) until its four threads are blocked in their system calls (read,
  // nanosleep, futex; the main thread in read), so its memory holds still. False on
  // timeout.
  bool wait_blocked();
  // SIGSTOP and wait (up to 10 s) until every thread is stopped: its memory then holds
  // still, even the rseq areas the kernel updates on each return to user space. False on
  // timeout. resume() sends SIGCONT.
  bool stop();
  void resume();
  // Sends `command` and returns the lines before "done" (empty on timeout).
  std::vector<std::string> command(const std::string& command);

  std::uint64_t global = 0, heap = 0, region = 0, reservation = 0, untouched = 0, dontdump = 0,
                protnone = 0, shared = 0, progress = 0;
  long pages = 0;
};

std::string dump_target_path();

struct CoreSegment {
  std::uint64_t vaddr = 0, memsz = 0, filesz = 0, offset = 0;
  std::uint32_t flags = 0;
};

struct CoreNote {
  std::string name;
  std::uint32_t type = 0;
  std::string desc;
};

// An ELF core read with plain pread: its PT_LOADs and notes.
class CoreReader {
 public:
  explicit CoreReader(const std::string& path);
  ~CoreReader();
  CoreReader(const CoreReader&) = delete;
  CoreReader& operator=(const CoreReader&) = delete;

  bool ok() const { return fd_ >= 0 && error_.empty(); }
  const std::string& error() const { return error_; }
  int fd() const { return fd_; }
  const std::vector<CoreSegment>& segments() const { return segments_; }
  const std::vector<CoreNote>& notes() const { return notes_; }
  // The segment holding `address`, or nullptr.
  const CoreSegment* segment_at(std::uint64_t address) const;
  // Bytes at `address` as the core holds them (file bytes within p_filesz); empty when
  // not in the file.
  std::string read(std::uint64_t address, std::size_t length) const;

 private:
  int fd_ = -1;
  std::string error_;
  std::vector<CoreSegment> segments_;
  std::vector<CoreNote> notes_;
};

// The target's memory through /proc/PID/mem (empty on failure).
std::string read_process_memory(pid_t pid, std::uint64_t address, std::size_t length);

// Runs a shell command line; its stdout and stderr together.
std::string run_capture(const std::string& command_line);

// A python3 that can import drgn ("" when none).
std::string python_with_drgn();

}  // namespace pagescan::test
