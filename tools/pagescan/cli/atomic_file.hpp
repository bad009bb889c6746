// Writing a file so that it appears whole or not at all: a temporary file in the target's
// directory, fsync, rename over the target. Any failure removes the temporary.
#pragma once

#include <string>
#include <string_view>

#include "pagescan/result.hpp"

namespace pagescan::cli {

// One file being written. Errors are kernel_failure (exit 1 in the CLI) with the target
// path, the step that failed and the errno text.
class AtomicFile {
 public:
  // Creates "<dir>/.<name>.XXXXXX" next to `path`.
  static Result<AtomicFile> create(const std::string& path);
  AtomicFile(AtomicFile&& other) noexcept;
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(AtomicFile&&) = delete;
  // Removes the temporary unless commit() succeeded.
  ~AtomicFile();

  Result<void> write(std::string_view data);
  // fsync, mode 0666 & ~umask, rename over `path`, fsync of the directory. After a
  // failure the target is untouched and the temporary is gone.
  Result<void> commit();

 private:
  AtomicFile(std::string path, std::string temp, int fd);
  void discard();
  std::string path_;
  std::string temp_;
  int fd_ = -1;
};

// create() + write() + commit().
Result<void> write_file_atomically(const std::string& path, std::string_view contents);

}  // namespace pagescan::cli
