// Writing a file option's output (--svg FILE) so that it appears whole or not at all: a
// temporary file next to the target, fsync, rename over the target. Any failure removes
// the temporary and leaves the target as it was.
//
// What FILE may be:
//   - a new name, or an existing regular file: replaced atomically, keeping the existing
//     file's mode (and, when the caller may set it, its owner);
//   - a symlink: followed (up to 40 hops), and its final target written the same way;
//     the link itself stays a link, as with a shell's `>`;
//   - "-": standard output, streamed (nothing to make atomic);
//   - anything else (a directory, FIFO, socket or device) is refused before anything is
//     written: pagescan cannot write those whole, and `-` streams instead.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

#include "pagescan/result.hpp"

namespace pagescan::cli {

class AtomicFile {
 public:
  // Checks the target and creates the temporary ("<dir>/.<name>.XXXXXX"), so a command
  // can fail before its work rather than after. Errors: invalid_argument (exit 2) for a
  // target that is not a regular file or a new name, naming what it is; kernel_failure
  // (exit 1) for the rest, naming the path, the step and the errno text.
  static Result<AtomicFile> create(const std::string& path);
  AtomicFile(AtomicFile&& other) noexcept;
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(AtomicFile&&) = delete;
  // Removes the temporary unless commit() succeeded.
  ~AtomicFile();

  bool is_stdout() const { return to_stdout_; }
  // The file actually written: the symlink's final target, else the path given.
  const std::string& target() const { return target_; }

  Result<void> write(std::string_view data);
  // fsync, the mode (the old file's, else 0666 & ~umask), rename over the target, fsync of
  // the directory. After a failure the target is untouched and the temporary is gone. On
  // stdout: a checked flush.
  Result<void> commit();

 private:
  AtomicFile() = default;
  void discard();
  std::string path_;    // as given, for messages
  std::string target_;  // after following symlinks
  std::string temp_;
  int fd_ = -1;
  bool to_stdout_ = false;
  std::optional<mode_t> keep_mode_;
  std::optional<uid_t> keep_uid_;
  std::optional<gid_t> keep_gid_;
};

// create() + write() + commit().
Result<void> write_file_atomically(const std::string& path, std::string_view contents);

}  // namespace pagescan::cli
