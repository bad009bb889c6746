// Copying pages of another process into a file at given offsets: process_vm_readv in
// large batches (many iovecs per call, up to 16 MiB), /proc/PID/mem for what it cannot
// read (PROT_NONE pages: /proc/PID/mem reads with FOLL_FORCE), pwrite at each run's
// offset. Nothing but the given runs is read: the caller passes pages that hold data
// only, since reading an untouched page can allocate it in the target.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "pagescan/result.hpp"

namespace pagescan::dump {

struct CopyRun {
  std::uint64_t address = 0;  // in the target
  std::uint64_t length = 0;
  std::uint64_t offset = 0;  // in the file
};

class PageCopier {
 public:
  // `fd` (not owned) is the file written; `path` names it in messages.
  PageCopier(pid_t pid, int fd, std::string path);
  PageCopier(PageCopier&&) noexcept;
  PageCopier& operator=(PageCopier&&) noexcept;
  ~PageCopier();

  // Copies every run. A page neither call can read (VM_IO memory) stays a hole, as the
  // kernel's core leaves it. Errors: no_such_process (the target exited),
  // kernel_failure (a write failed: ENOSPC, EIO; naming the file and offset).
  Result<void> copy(const std::vector<CopyRun>& runs);
  // Reads [address, address + length) of the target into `out` (for small reads, such as
  // an ELF header); false when it cannot be read.
  bool read(std::uint64_t address, void* out, std::size_t length);
  // Writes `length` bytes at `offset`.
  Result<void> write(const void* data, std::size_t length, std::uint64_t offset);
  // Makes [offset, offset + length) a hole (FALLOC_FL_PUNCH_HOLE).
  Result<void> punch(std::uint64_t offset, std::uint64_t length);

  std::uint64_t copied_bytes() const { return copied_; }
  const std::string& path() const { return path_; }

 private:
  // The fallback for a run process_vm_readv stopped in: returns the bytes it handled
  // (copied, or skipped as unreadable pages).
  Result<std::uint64_t> copy_through_mem(const CopyRun& run);
  Error gone(int err, const std::string& what) const;

  pid_t pid_ = -1;
  int fd_ = -1;
  int mem_fd_ = -1;
  std::string path_;
  std::unique_ptr<char[]> buffer_;
  std::uint64_t copied_ = 0;
};

}  // namespace pagescan::dump
