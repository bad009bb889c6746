// Writing a file whole or not at all (temporary file, fsync, rename).
//
// rename(2) within one file system replaces the target atomically, so readers see the
// old file or the new one, never a half-written one; the temporary therefore lives in
// the directory of the file finally written (a symlink's target, not the link's). fsync
// before the rename makes the new contents durable before the name points at them; fsync
// of the directory makes the rename itself durable.
#include "cli/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>
#include <vector>

namespace pagescan::cli {

namespace {

// The kernel's own limit on symlinks followed in one lookup (MAXSYMLINKS).
constexpr int kMaxSymlinkHops = 40;

Error failure(int err, const std::string& path, std::string_view step) {
  return Error(err, ErrorKind::kernel_failure,
               "cannot write " + path + ": " + std::string(step) + ": " + std::strerror(err));
}

// The same line as for any other output to stdout (standard_output.hpp).
Error stdout_failure(int err) {
  return Error(err, ErrorKind::kernel_failure,
               std::string("cannot write standard output: ") + std::strerror(err));
}

std::string directory_of(const std::string& path) {
  std::size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// "a directory", "a FIFO"...: what a non-regular file is, for the refusal.
const char* kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "not a regular file";
}

// "memory.svg" or "link.svg (-> /tmp/real.svg)".
std::string named(const std::string& path, const std::string& target) {
  return path == target ? path : path + " (-> " + target + ")";
}

}  // namespace

AtomicFile::AtomicFile(AtomicFile&& other) noexcept
    : path_(std::move(other.path_)),
      target_(std::move(other.target_)),
      temp_(std::move(other.temp_)),
      fd_(std::exchange(other.fd_, -1)),
      to_stdout_(other.to_stdout_),
      keep_mode_(other.keep_mode_),
      keep_uid_(other.keep_uid_),
      keep_gid_(other.keep_gid_) {
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
  AtomicFile file;
  file.path_ = path;
  file.target_ = path;
  if (path == "-") {
    file.to_stdout_ = true;
    return file;
  }
  if (path.empty()) return failure(ENOENT, "''", "empty file name");
  // Follow symlinks by hand: the temporary must sit beside the final target, and the
  // target's type and mode must be known before anything is written.
  std::string& target = file.target_;
  for (int hops = 0;; ++hops) {
    struct stat st {};
    if (::lstat(target.c_str(), &st) != 0) {
      if (errno == ENOENT) break;  // a new file (a dangling link's target is created)
      return failure(errno, named(path, target), "examining it");
    }
    if (S_ISLNK(st.st_mode)) {
      if (hops == kMaxSymlinkHops) return failure(ELOOP, path, "following symlinks");
      std::vector<char> buffer(static_cast<std::size_t>(st.st_size > 0 ? st.st_size : 255) + 1);
      ssize_t n = ::readlink(target.c_str(), buffer.data(), buffer.size());
      if (n < 0) return failure(errno, named(path, target), "reading the symlink");
      std::string next(buffer.data(), static_cast<std::size_t>(n));
      target = next.front() == '/' ? next : directory_of(target) + "/" + next;
      continue;
    }
    if (!S_ISREG(st.st_mode)) {
      return Error(EINVAL, ErrorKind::invalid_argument,
                   "cannot write " + named(path, target) + ": it is " + kind_of(st.st_mode) +
                       " (expected a regular file or a new file name; '-' writes to "
                       "standard output)");
    }
    // As with a shell's `>`: a file the caller may not write is not replaced behind its
    // back just because the directory is writable.
    if (::access(target.c_str(), W_OK) != 0) {
      return failure(errno, named(path, target), "checking it is writable");
    }
    file.keep_mode_ = st.st_mode & 07777;
    file.keep_uid_ = st.st_uid;
    file.keep_gid_ = st.st_gid;
    break;
  }
  std::size_t slash = target.rfind('/');
  std::string name = slash == std::string::npos ? target : target.substr(slash + 1);
  if (name.empty() || name == "." || name == "..") {
    return Error(EISDIR, ErrorKind::invalid_argument,
                 "cannot write " + named(path, target) +
                     ": not a file name (expected a regular file or a new file name)");
  }
  std::string dir = directory_of(target);
  std::string temp = (dir == "/" ? "" : dir) + "/." + name + ".XXXXXX";
  std::vector<char> buffer(temp.begin(), temp.end());
  buffer.push_back('\0');
  int fd = ::mkostemp(buffer.data(), O_CLOEXEC);
  if (fd < 0) return failure(errno, named(path, target), "creating a temporary file in " + dir);
  file.temp_ = buffer.data();
  file.fd_ = fd;
  return file;
}

Result<void> AtomicFile::write(std::string_view data) {
  if (to_stdout_) {
    if (std::fwrite(data.data(), 1, data.size(), stdout) != data.size()) {
      return stdout_failure(errno);
    }
    return {};
  }
  while (!data.empty()) {
    ssize_t n = ::write(fd_, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      discard();
      return failure(err, named(path_, target_), "writing");
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

Result<void> AtomicFile::commit() {
  if (to_stdout_) {
    if (std::fflush(stdout) != 0) return stdout_failure(errno);
    return {};
  }
  if (fd_ < 0) return failure(EBADF, named(path_, target_), "already failed");
  // mkstemp creates the file 0600: give it the old file's mode, else the mode an
  // ordinary open() would. The owner is kept when the caller may set it (root writing
  // over another user's file); otherwise the new file is the caller's, as with any
  // file the caller creates.
  mode_t mode = 0;
  if (keep_mode_) {
    mode = *keep_mode_;
  } else {
    mode_t mask = ::umask(0);
    ::umask(mask);
    mode = 0666 & ~mask;
  }
  if (keep_uid_ && (*keep_uid_ != ::geteuid() || *keep_gid_ != ::getegid())) {
    (void)::fchown(fd_, *keep_uid_, *keep_gid_);
  }
  const char* step = nullptr;
  if (::fchmod(fd_, mode) != 0) {
    step = "setting the mode";
  } else if (::fsync(fd_) != 0) {
    step = "fsync";
  } else if (::close(std::exchange(fd_, -1)) != 0) {
    step = "closing";
  } else if (::rename(temp_.c_str(), target_.c_str()) != 0) {
    step = "renaming the temporary file over it";
  }
  if (step) {
    int err = errno;
    discard();
    return failure(err, named(path_, target_), step);
  }
  temp_.clear();  // it is the target now
  int dir = ::open(directory_of(target_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
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
