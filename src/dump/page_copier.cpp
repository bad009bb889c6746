// Copying pages of another process into a file (see page_copier.hpp).
//
// process_vm_readv reads iovecs in order and stops at the first byte it cannot read,
// returning the count so far. The run it stopped in goes through /proc/PID/mem, which
// reads PROT_NONE memory too (FOLL_FORCE); a page that fails there as well is skipped
// (left a hole), as the kernel's own core does for what get_dump_page() cannot get.
#include "dump/page_copier.hpp"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <utility>

namespace pagescan::dump {

namespace {

constexpr std::size_t kBufferBytes = 16 << 20;
constexpr std::size_t kMaxIovecs = 1024;  // IOV_MAX
constexpr std::uint64_t kPage = 4096;

std::string range_text(std::uint64_t lo, std::uint64_t hi) {
  char text[64];
  std::snprintf(text, sizeof text, "[0x%" PRIx64 "-0x%" PRIx64 ")", lo, hi);
  return text;
}

}  // namespace

PageCopier::PageCopier(pid_t pid, int fd, std::string path)
    : pid_(pid), fd_(fd), path_(std::move(path)), buffer_(new char[kBufferBytes]) {}

PageCopier::PageCopier(PageCopier&& o) noexcept
    : pid_(o.pid_),
      fd_(o.fd_),
      mem_fd_(std::exchange(o.mem_fd_, -1)),
      path_(std::move(o.path_)),
      buffer_(std::move(o.buffer_)),
      copied_(o.copied_) {}

PageCopier& PageCopier::operator=(PageCopier&& o) noexcept {
  if (this != &o) {
    if (mem_fd_ >= 0) ::close(mem_fd_);
    pid_ = o.pid_;
    fd_ = o.fd_;
    mem_fd_ = std::exchange(o.mem_fd_, -1);
    path_ = std::move(o.path_);
    buffer_ = std::move(o.buffer_);
    copied_ = o.copied_;
  }
  return *this;
}

PageCopier::~PageCopier() {
  if (mem_fd_ >= 0) ::close(mem_fd_);
}

Error PageCopier::gone(int err, const std::string& what) const {
  return Error(err, ErrorKind::no_such_process,
               "pid " + std::to_string(pid_) + " exited while its memory was read (" + what + ")");
}

Result<void> PageCopier::write(const void* data, std::size_t length, std::uint64_t offset) {
  const char* p = static_cast<const char*>(data);
  while (length > 0) {
    ssize_t n = ::pwrite(fd_, p, length, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : EIO;
      return Error::from_errno(err, ErrorKind::kernel_failure,
                               "writing " + path_ + " at offset " + std::to_string(offset));
    }
    p += n;
    length -= static_cast<std::size_t>(n);
    offset += static_cast<std::uint64_t>(n);
  }
  return {};
}

Result<void> PageCopier::punch(std::uint64_t offset, std::uint64_t length) {
  if (length == 0) return {};
  if (::fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                  static_cast<off_t>(length)) != 0) {
    return Error::from_errno(errno, ErrorKind::kernel_failure,
                             "punching a hole in " + path_ + " at offset " +
                                 std::to_string(offset) + " (" + std::to_string(length) +
                                 " bytes)");
  }
  return {};
}

bool PageCopier::read(std::uint64_t address, void* out, std::size_t length) {
  iovec local{out, length};
  iovec remote{reinterpret_cast<void*>(address), length};
  if (::process_vm_readv(pid_, &local, 1, &remote, 1, 0) == static_cast<ssize_t>(length)) {
    return true;
  }
  if (mem_fd_ < 0) {
    mem_fd_ = ::open(("/proc/" + std::to_string(pid_) + "/mem").c_str(), O_RDONLY | O_CLOEXEC);
  }
  return mem_fd_ >= 0 &&
         ::pread(mem_fd_, out, length, static_cast<off_t>(address)) == static_cast<ssize_t>(length);
}

Result<std::uint64_t> PageCopier::copy_through_mem(const CopyRun& run) {
  if (mem_fd_ < 0) {
    const std::string mem = "/proc/" + std::to_string(pid_) + "/mem";
    mem_fd_ = ::open(mem.c_str(), O_RDONLY | O_CLOEXEC);
    if (mem_fd_ < 0) {
      const int err = errno;
      if (err == ENOENT || err == ESRCH) return gone(err, "open " + mem);
      return Error::from_errno(err, ErrorKind::kernel_failure, "open " + mem);
    }
  }
  const std::size_t want =
      static_cast<std::size_t>(std::min<std::uint64_t>(run.length, kBufferBytes));
  ssize_t n = ::pread(mem_fd_, buffer_.get(), want, static_cast<off_t>(run.address));
  if (n == 0) return gone(ESRCH, "/proc/PID/mem at " + range_text(run.address, run.address + want));
  if (n < 0) {
    // This page cannot be read either way: a hole, as in the kernel's core.
    return std::min<std::uint64_t>(run.length, kPage);
  }
  const std::uint64_t got = static_cast<std::uint64_t>(n) / kPage * kPage;
  if (got == 0) return std::min<std::uint64_t>(run.length, kPage);
  if (auto ok = write(buffer_.get(), got, run.offset); !ok) return ok.error();
  copied_ += got;
  return got;
}

Result<void> PageCopier::copy(const std::vector<CopyRun>& runs) {
  std::size_t i = 0;
  std::uint64_t done = 0;  // bytes of runs[i] already handled
  std::vector<iovec> remote;
  std::vector<CopyRun> pieces;  // where each iovec's bytes go
  remote.reserve(kMaxIovecs);
  pieces.reserve(kMaxIovecs);
  while (i < runs.size()) {
    remote.clear();
    pieces.clear();
    std::size_t filled = 0;
    std::size_t j = i;
    std::uint64_t from = done;
    while (j < runs.size() && remote.size() < kMaxIovecs && filled < kBufferBytes) {
      const CopyRun& r = runs[j];
      const std::uint64_t take = std::min<std::uint64_t>(r.length - from, kBufferBytes - filled);
      remote.push_back(iovec{reinterpret_cast<void*>(r.address + from), take});
      pieces.push_back(CopyRun{r.address + from, take, r.offset + from});
      filled += take;
      if (from + take < r.length) break;
      from = 0;
      ++j;
    }
    iovec local{buffer_.get(), filled};
    ssize_t n = ::process_vm_readv(pid_, &local, 1, remote.data(), remote.size(), 0);
    if (n < 0) {
      if (errno == ESRCH) {
        return gone(ESRCH, "process_vm_readv from " +
                               range_text(pieces.front().address,
                                          pieces.back().address + pieces.back().length));
      }
      n = 0;  // the first iovec failed at once: the fallback below takes it
    }
    // Write what was read, piece by piece (each piece is contiguous in the file).
    std::uint64_t left = static_cast<std::uint64_t>(n);
    std::size_t at = 0;
    for (const CopyRun& p : pieces) {
      if (left == 0) break;
      const std::uint64_t len = std::min(left, p.length);
      if (auto ok = write(buffer_.get() + at, len, p.offset); !ok) return ok.error();
      at += len;
      left -= len;
    }
    copied_ += static_cast<std::uint64_t>(n);
    // Advance (i, done) by n bytes.
    std::uint64_t advance = static_cast<std::uint64_t>(n);
    while (advance > 0) {
      const std::uint64_t rest = runs[i].length - done;
      if (advance >= rest) {
        advance -= rest;
        ++i;
        done = 0;
      } else {
        done += advance;
        advance = 0;
      }
    }
    if (static_cast<std::size_t>(n) < filled) {
      // Stopped inside runs[i] at `done`: the fallback reads on from there.
      const CopyRun& r = runs[i];
      auto handled = copy_through_mem(CopyRun{r.address + done, r.length - done, r.offset + done});
      if (!handled) return handled.error();
      done += *handled;
      if (done >= r.length) {
        ++i;
        done = 0;
      }
    }
  }
  return {};
}

}  // namespace pagescan::dump
