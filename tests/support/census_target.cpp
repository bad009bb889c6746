// census_target started with pipes (census_target.hpp).
#include "support/census_target.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <sstream>
#include <vector>

namespace pagescan::test {

CensusTarget::CensusTarget(const std::string& mode, const std::string& file)
    : PipedProgram(std::string(PAGESCAN_TEST_TARGETS_DIR) + "/census_target", {mode, file}) {
  if (pid_ <= 0) return;
  for (;;) {
    const std::string line = read_line();
    std::istringstream in(line);
    std::string word;
    in >> word;
    if (word == "part") {
      std::string name, start, end;
      in >> name >> start >> end;
      parts_[name] = Part{std::stoull(start, nullptr, 16), std::stoull(end, nullptr, 16)};
    } else if (word == "swapped_ok") {
      int ok = 0;
      in >> ok;
      swapped_ok_ = ok == 1;
    } else if (word == "ready") {
      return;
    } else {
      error_ = "census_target did not say it was ready (read '" + line + "')";
      return;
    }
  }
}

bool on_tmpfs(const std::string& dir) {
  struct statfs fs {};
  return ::statfs(dir.c_str(), &fs) == 0 && fs.f_type == TMPFS_MAGIC;
}

bool write_census_file(const std::string& path, std::uint64_t pages) {
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  const std::vector<char> data(pages * page, 'x');
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  const bool ok = ::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size());
  return ::close(fd) == 0 && ok;
}

}  // namespace pagescan::test
