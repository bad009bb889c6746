// Whole-buffer fd reads and writes, and /proc/meminfo fields (see io.hpp).
#include "support/io.hpp"

#include <unistd.h>

#include <cerrno>
#include <fstream>

namespace pagescan::test {

namespace {

// Moves all `size` bytes with `call` (::read or ::write), retrying after EINTR and short
// counts; false on an error or when a call moves nothing (end of file).
template <class Byte, class Call>
bool whole(int fd, Byte* p, std::size_t size, Call call) {
  while (size) {
    ssize_t n = call(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

bool write_all(int fd, const void* data, std::size_t size) {
  return whole(fd, static_cast<const char*>(data), size, ::write);
}

bool write_all(int fd, const std::string& text) {
  return write_all(fd, text.data(), text.size());
}

bool read_all(int fd, void* data, std::size_t size) {
  return whole(fd, static_cast<char*>(data), size, ::read);
}

bool read_to_end(int fd, std::string& text) {
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) return true;
    text.append(buf, static_cast<std::size_t>(n));
  }
}

std::optional<std::uint64_t> meminfo_value(const std::string& field) {
  std::ifstream in("/proc/meminfo");
  const std::string key = field + ":";
  std::string name;
  while (in >> name) {
    if (name == key) {
      std::uint64_t value = 0;
      if (in >> value) return value;
      return std::nullopt;
    }
    in.ignore(4096, '\n');
  }
  return std::nullopt;
}

}  // namespace pagescan::test
