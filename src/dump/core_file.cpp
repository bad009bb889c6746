// A core's file: temporary, renamed when complete (see core_file.hpp).
#include "dump/core_file.hpp"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <utility>

namespace pagescan::dump {

Result<TempCore> TempCore::create(const std::string& path) {
  TempCore core;
  core.path_ = path;
  const std::size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash + 1);
  const std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  if (name.empty()) {
    return Error(EISDIR, ErrorKind::invalid_argument,
                 "writing the core to " + path + ": it names a directory, not a file");
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    return Error(EISDIR, ErrorKind::invalid_argument,
                 "writing the core to " + path + ": it is a directory");
  }
  std::string temp = (slash == std::string::npos ? std::string() : dir) + "." + name + ".XXXXXX";
  int fd = ::mkostemp(temp.data(), O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    const ErrorKind kind = err == EACCES || err == EPERM || err == EROFS ? ErrorKind::permission
                           : err == ENOENT || err == ENOTDIR ? ErrorKind::invalid_argument
                                                             : ErrorKind::kernel_failure;
    return Error::from_errno(err, kind, "creating a temporary file in " + dir + " for " + path);
  }
  core.fd_ = fd;
  core.temp_ = std::move(temp);
  return core;
}

TempCore::TempCore(TempCore&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)),
      path_(std::move(o.path_)),
      temp_(std::move(o.temp_)),
      done_(std::exchange(o.done_, true)) {}

TempCore::~TempCore() {
  if (!done_ && !temp_.empty()) ::unlink(temp_.c_str());
  if (fd_ >= 0) ::close(fd_);
}

Result<void> TempCore::finish(std::uint64_t size) {
  if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) {
    return Error::from_errno(errno, ErrorKind::kernel_failure, "setting the size of " + temp_);
  }
  // The file keeps mkstemp's 0600, as the kernel's and systemd-coredump's cores do: it
  // holds another process's memory (keys, passwords), whatever the caller's umask.
  if (::rename(temp_.c_str(), path_.c_str()) != 0) {
    const int err = errno;
    return Error::from_errno(err,
                             err == EACCES || err == EPERM ? ErrorKind::permission
                             : err == EISDIR               ? ErrorKind::invalid_argument
                                                           : ErrorKind::kernel_failure,
                             "renaming " + temp_ + " to " + path_);
  }
  done_ = true;
  return {};
}

int TempCore::release() {
  return std::exchange(fd_, -1);
}

Result<void> copy_sparse(int from, std::uint64_t from_offset, int to, std::uint64_t to_offset,
                         std::uint64_t length, const std::string& to_path) {
  const off_t base = static_cast<off_t>(from_offset);
  const off_t end = static_cast<off_t>(from_offset + length);
  off_t at = base;
  while (at < end) {
    off_t data = ::lseek(from, at, SEEK_DATA);
    if (data < 0 && errno == ENXIO) break;  // only a hole is left
    if (data < 0) return Error::from_errno(errno, ErrorKind::kernel_failure, "SEEK_DATA");
    if (data >= end) break;
    off_t hole = ::lseek(from, data, SEEK_HOLE);
    if (hole < 0) return Error::from_errno(errno, ErrorKind::kernel_failure, "SEEK_HOLE");
    hole = std::min(hole, end);
    off_t in = data;
    off_t out = static_cast<off_t>(to_offset) + (data - base);
    while (in < hole) {
      ssize_t n = ::copy_file_range(from, &in, to, &out, static_cast<std::size_t>(hole - in), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        return Error::from_errno(n < 0 ? errno : EIO, ErrorKind::kernel_failure,
                                 "copying into " + to_path + " at offset " + std::to_string(out));
      }
    }
    at = hole;
  }
  return {};
}

Result<bool> clone_or_copy(int from, int to, std::uint64_t size, const std::string& to_path) {
  if (::ioctl(to, FICLONE, from) == 0) {
    if (::ftruncate(to, static_cast<off_t>(size)) != 0) {
      return Error::from_errno(errno, ErrorKind::kernel_failure, "setting the size of " + to_path);
    }
    return true;
  }
  // EOPNOTSUPP / EXDEV / EINVAL: no shared extents here; copy the data extents.
  if (auto ok = copy_sparse(from, 0, to, 0, size, to_path); !ok) return ok.error();
  const off_t end = static_cast<off_t>(size);
  if (::ftruncate(to, end) != 0) {
    return Error::from_errno(errno, ErrorKind::kernel_failure, "setting the size of " + to_path);
  }
  return false;
}

}  // namespace pagescan::dump
