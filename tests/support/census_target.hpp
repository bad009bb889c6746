// tests/targets/census_target started with pipes: a plain program with a known page
// census (its header comment lists the parts), and the file its file part maps.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "support/piped_program.hpp"

namespace pagescan::test {

// The parts' sizes in pages, as census_target.c defines them.
inline constexpr std::uint64_t kCensusWrittenPages = 64, kCensusZeroPages = 32,
                               kCensusUntouchedPages = 256, kCensusFilePages = 16,
                               kCensusSwappedPages = 32, kCensusGuardPages = 16;
inline constexpr std::uint64_t kCensusThpBytes = 2u << 20;

class CensusTarget : public PipedProgram {
 public:
  struct Part {
    std::uint64_t start = 0, end = 0;
  };
  // mode "parts" or "blank"; `file` at least kCensusFilePages pages long. On failure pid()
  // is -1 or error() is not empty.
  CensusTarget(const std::string& mode, const std::string& file);

  const std::map<std::string, Part>& parts() const { return parts_; }
  bool swapped_ok() const { return swapped_ok_; }

 private:
  std::map<std::string, Part> parts_;
  bool swapped_ok_ = false;
};

// Whether files in `dir` are on tmpfs: census_target's file part then counts as shmem.
bool on_tmpfs(const std::string& dir);

// Writes a file of `pages` pages of non-zero bytes at `path`; false on failure.
bool write_census_file(const std::string& path, std::uint64_t pages);

}  // namespace pagescan::test
