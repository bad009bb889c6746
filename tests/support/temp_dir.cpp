// A fresh directory under /tmp for one test (see temp_dir.hpp).
#include "support/temp_dir.hpp"

#include <dirent.h>
#include <stdlib.h>

#include <algorithm>

#include "support/cli_runner.hpp"

namespace pagescan::test {

TempDir::TempDir() {
  char name[] = "/tmp/pagescan-test-XXXXXX";
  if (::mkdtemp(name)) path_ = name;
}

TempDir::~TempDir() {
  // A test that mounts something here unmounts it first (rm -rf does not cross into it
  // usefully).
  if (!path_.empty()) run_program("/bin/rm", {"-rf", path_});
}

std::vector<std::string> directory_entries(const std::string& path) {
  std::vector<std::string> names;
  if (DIR* d = ::opendir(path.c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") names.push_back(n);
    }
    ::closedir(d);
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace pagescan::test
