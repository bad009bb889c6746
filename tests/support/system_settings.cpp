// RAII guards for hugetlb reservations and swap, restoring the previous state.
#include "support/system_settings.hpp"

#include <fcntl.h>
#include <sys/swap.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "support/io.hpp"

namespace pagescan::test {

namespace {

const char* kNrHugepages = "/proc/sys/vm/nr_hugepages";

std::uint64_t read_number(const char* path) {
  std::ifstream in(path);
  std::uint64_t v = 0;
  in >> v;
  return v;
}

bool write_number(const char* path, std::uint64_t v) {
  std::ofstream out(path);
  out << v;
  out.flush();
  return static_cast<bool>(out);
}

}  // namespace

HugetlbReservation::HugetlbReservation(std::uint64_t pages) {
  previous_ = read_number(kNrHugepages);
  // Pages other processes hold are not free: ask for enough on top of them.
  std::uint64_t free_now = free_pages();
  if (free_now < pages) {
    if (!write_number(kNrHugepages, previous_ + (pages - free_now))) {
      why_not_ = std::string("cannot write ") + kNrHugepages + " (needs root)";
      return;
    }
    changed_ = true;
  }
  ok_ = free_pages() >= pages;
  if (!ok_) why_not_ = "the kernel could not reserve " + std::to_string(pages) + " huge pages";
}

HugetlbReservation::~HugetlbReservation() {
  if (changed_) write_number(kNrHugepages, previous_);
}

// HugePages_Free counts pages reserved for mappings that have not faulted them in yet
// (HugePages_Rsvd): a new mapping can only have the rest.
std::uint64_t HugetlbReservation::free_pages() const {
  const std::uint64_t free = meminfo_value("HugePages_Free").value_or(0);
  const std::uint64_t reserved = meminfo_value("HugePages_Rsvd").value_or(0);
  return free > reserved ? free - reserved : 0;
}

SwapSpace::SwapSpace(std::uint64_t bytes) {
  if (meminfo_value("SwapTotal").value_or(0) > 0) {
    ok_ = true;  // swap already active: nothing to add or remove
    return;
  }
  char path[] = "/var/tmp/pagescan-swap-XXXXXX";
  int fd = ::mkstemp(path);
  if (fd < 0) {
    why_not_ = std::string("cannot create a swapfile: ") + std::strerror(errno);
    return;
  }
  path_ = path;
  // A swapfile must have real blocks (no holes): write zeros, then a swap header.
  std::string zeros(1 << 20, '\0');
  for (std::uint64_t done = 0; done < bytes; done += zeros.size()) {
    if (::write(fd, zeros.data(), zeros.size()) != static_cast<ssize_t>(zeros.size())) {
      why_not_ = "cannot fill the swapfile";
      ::close(fd);
      return;
    }
  }
  ::fsync(fd);
  ::close(fd);
  std::string cmd = "mkswap -q " + path_ + " >/dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0) {
    why_not_ = "mkswap failed on " + path_;
    return;
  }
  if (::swapon(path_.c_str(), 0) != 0) {
    why_not_ = std::string("swapon failed: ") + std::strerror(errno) +
               " (needs root and a filesystem that supports swapfiles)";
    return;
  }
  ok_ = true;
}

SwapSpace::~SwapSpace() {
  if (!path_.empty()) {
    ::swapoff(path_.c_str());
    ::unlink(path_.c_str());
  }
}

}  // namespace pagescan::test
