// The file a core is written to: a temporary in the target directory, renamed over the
// final name only when complete, unlinked on any failure; and the copy of a previous core
// an incremental dump starts from (a reflink clone where the filesystem has FICLONE,
// else a sparse copy that keeps holes as holes).
#pragma once

#include <cstdint>
#include <string>

#include "pagescan/result.hpp"

namespace pagescan::dump {

class TempCore {
 public:
  // Creates "<dir>/.<name>.XXXXXX" (O_CLOEXEC, mode 0600) for the final `path`.
  // Errors: permission (the directory is not writable), invalid_argument (no such
  // directory, or `path` is a directory), kernel_failure; each naming the path.
  static Result<TempCore> create(const std::string& path);
  TempCore(TempCore&& other) noexcept;
  TempCore& operator=(TempCore&&) = delete;
  TempCore(const TempCore&) = delete;
  // Unlinks the temporary unless finish() succeeded.
  ~TempCore();

  int fd() const { return fd_; }
  const std::string& temp_path() const { return temp_; }

  // Sets the size (holes past the last write), the mode (0666 less the umask, as a file
  // made by open() would get), and renames it over the final path. No fsync: a crash
  // right after may leave the renamed file short. The fd stays open: release() takes it.
  Result<void> finish(std::uint64_t size);
  // The open fd, now owned by the caller (after finish()).
  int release();

 private:
  TempCore() = default;
  int fd_ = -1;
  std::string path_;
  std::string temp_;
  bool done_ = false;
};

// Copies [from_offset, from_offset + length) of `from` to `to_offset` in `to` (the same
// file may be both when the ranges do not overlap), data extents only: holes stay holes.
Result<void> copy_sparse(int from, std::uint64_t from_offset, int to, std::uint64_t to_offset,
                         std::uint64_t length, const std::string& to_path);

// Makes `to` (empty) a copy of the first `size` bytes of `from`: FICLONE when the
// filesystem shares extents (returns true), else copy_file_range of each data extent
// found with SEEK_DATA / SEEK_HOLE (returns false); holes stay holes either way.
Result<bool> clone_or_copy(int from, int to, std::uint64_t size, const std::string& to_path);

}  // namespace pagescan::dump
