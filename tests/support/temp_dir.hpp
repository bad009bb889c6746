// A fresh directory under /tmp for one test, removed with what is in it.
#pragma once

#include <string>
#include <vector>

namespace pagescan::test {

// The names in a directory (without "." and ".."), sorted; empty when it cannot be read.
std::vector<std::string> directory_entries(const std::string& path);

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // "<path>/<name>".
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }
  // The names in it (without "." and ".."), sorted.
  std::vector<std::string> entries() const { return directory_entries(path_); }

 private:
  std::string path_;
};

}  // namespace pagescan::test
