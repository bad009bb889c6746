// Writing a file whole or not at all (temporary file, fsync, rename).
//
// rename(2) within one file system replaces the target atomically, so readers see the
// old file or the new one, never a half-written one; the temporary therefore lives in
// the target's directory. fsync before the rename makes the new contents durable before
// the name points at them; fsync of the directory makes the rename itself durable.
#include "cli/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

namespace pagescan::cli {

namespace {

Error failure(int err, const std::string& path, std::string_view step) {
  return Error(err, ErrorKind::kernel_failure,
               "cannot write " + path + ": " + std::string(step) + ": " + std::strerror(err));
}

std::string directory_of(const std::string& path) {
  std::size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

AtomicFile::AtomicFile(std::string path, std::string temp, int fd)
    : path_(std::move(path)), temp_(std::move(temp)), fd_(fd) {}

AtomicFile::AtomicFile(AtomicFile&& other) noexcept
    : path_(std::move(other.path_)), temp_(std::move(other.temp_)), fd_(other.fd_) {
  other.fd_ = -1;
  other.temp_.clear();
}

AtomicFile::~AtomicFile() {
  discard();
}

void AtomicFile::discard() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (!temp_.empty()) ::unlink(temp_.c_str());
  temp_.clear();
}

Result<AtomicFile> AtomicFile::create(const std::string& path) {
  if (path.empty()) return failure(ENOENT, "''", "empty file name");
  std::size_t slash = path.rfind('/');
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  if (name.empty() || name == "." || name == "..") {
    return failure(EISDIR, path, "not a file name");
  }
  std::string dir = directory_of(path);
  std::string temp = (dir == "/" ? "" : dir) + "/." + name + ".XXXXXX";
  std::vector<char> buffer(temp.begin(), temp.end());
  buffer.push_back('\0');
  int fd = ::mkostemp(buffer.data(), O_CLOEXEC);
  if (fd < 0) return failure(errno, path, "creating a temporary file in " + dir);
  return AtomicFile(path, std::string(buffer.data()), fd);
}

Result<void> AtomicFile::write(std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd_, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      discard();
      return failure(err, path_, "writing");
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

Result<void> AtomicFile::commit() {
  if (fd_ < 0) return failure(EBADF, path_, "already failed");
  // mkstemp creates the file 0600; give it the mode an ordinary open() would.
  mode_t mask = ::umask(0);
  ::umask(mask);
  const char* step = nullptr;
  if (::fchmod(fd_, 0666 & ~mask) != 0) {
    step = "setting the mode";
  } else if (::fsync(fd_) != 0) {
    step = "fsync";
  } else if (::close(std::exchange(fd_, -1)) != 0) {
    step = "closing";
  } else if (::rename(temp_.c_str(), path_.c_str()) != 0) {
    step = "renaming the temporary file over it";
  }
  if (step) {
    int err = errno;
    discard();
    return failure(err, path_, step);
  }
  temp_.clear();  // it is the target now
  int dir = ::open(directory_of(path_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    // The file is complete and in place; a directory that cannot be synced (some file
    // systems refuse) only weakens durability, so it is not an error.
    (void)::fsync(dir);
    ::close(dir);
  }
  return {};
}

Result<void> write_file_atomically(const std::string& path, std::string_view contents) {
  auto file = AtomicFile::create(path);
  if (!file) return file.error();
  if (auto ok = file->write(contents); !ok) return ok.error();
  return file->commit();
}

}  // namespace pagescan::cli
